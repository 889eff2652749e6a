"""Live servers: every test that talks to a real `fhirterm serve` starts it here.

``start`` runs ``python -m fhirterm.cli serve`` from the repository on a free
port (or the one given), waits until ``/readyz`` answers and returns a
``Server``; ``Server.stop`` (or leaving its ``with`` block) ends it with
SIGTERM, then SIGKILL if it lingers. Two kinds of content:

* the small hand-made release (``tests/data``), no parse cache: starts in a
  second or two;
* ``full=True``: the bundled ICD-10-CM releases and the repository's
  ``codesystems/``, with the parse cache of the other full-release fixtures
  (``FHIRTERM_TEST_CACHE``, else the ``cache`` folder given): parsing the three
  releases afresh takes longer than a start may take on a loaded machine.

The server's output goes to a file (``log``, else a temporary one removed at
``stop``), never to a pipe: a pipe nobody reads fills up and stalls a server
that logs its requests. ``Server.output()`` reads what it wrote so far.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent
SMALL_XML = HERE / "data" / "tabular-small.xml"
SMALL_CONTENT = HERE / "data" / "content-small"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A started ``fhirterm serve``: its process, port and output file."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    own_log: bool  # a temporary file of ours, removed at stop

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT``: health endpoints, ``/fhir``, ``/r4``, ``/r5``."""
        return f"http://{HOST}:{self.port}"

    @property
    def base(self) -> str:
        """The FHIR R4 base, ``{root}/fhir``."""
        return f"{self.root}/fhir"

    def output(self) -> str:
        """What the server has written to its output so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server's processes have used so far (Linux)."""
        from .bench_scripts import load_script

        total = 0.0
        for pid in load_script("bench").descendants(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        return total

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, seconds: float = 60) -> int:
        """Wait for the process to end (after a signal); its exit status."""
        return self.proc.wait(timeout=seconds)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 20 s; removes a temporary log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.own_log:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# How long a server over the full content may take to become ready: a guard
# against a hung start, not a speed check. A cold start parses the three bundled
# releases (~25 s on a quiet 2-core machine, several times that on a busy one:
# 120 s ran out under pytest -n 2 beside other work).
FULL_START_S = 300


def wait_ready(server: Server, seconds: float) -> None:
    """Wait until ``/readyz`` answers 200; fail with the server's output if it ends or the
    time is up (a budget for a start, not a measurement: generous on purpose)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{server.root}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.proc.kill()
            server.proc.wait()
            out = server.output()
            if server.own_log:
                server.log.unlink(missing_ok=True)
            pytest.fail(f"server did not start within {seconds:g} s: {out[-3000:]}")
        time.sleep(0.1)


def start(
    env: Mapping[str, str] | None = None,
    *,
    full: bool = False,
    workers: int = 1,
    port: int | None = None,
    log: Path | None = None,
    cache: Path | None = None,
    seconds: float | None = None,
) -> Server:
    """`fhirterm serve` on 127.0.0.1, ready to answer.

    ``env`` overrides the ``FHIRTERM_*`` settings (content folder, base address,
    limits...) over the process environment. ``port`` is chosen free unless given
    (a test that must know it before the start, e.g. for ``FHIRTERM_BASE_URL``,
    picks it with ``free_port``). ``seconds`` is how long the start may take
    (60 s on the small release, ``FULL_START_S`` on the full one).
    """
    port = free_port() if port is None else port
    base_env: dict[str, str]
    if full:
        folder = os.environ.get("FHIRTERM_TEST_CACHE") or (str(cache) if cache else None)
        if folder is None:
            raise ValueError("a full-release server needs FHIRTERM_TEST_CACHE or a cache folder")
        base_env = {"FHIRTERM_CACHE_DIR": folder}
    else:
        base_env = {
            "FHIRTERM_ICD10CM": str(SMALL_XML),
            "FHIRTERM_CONTENT_DIR": str(SMALL_CONTENT),
            "FHIRTERM_CACHE_DIR": str(cache) if cache else "off",
        }
    own_log = log is None
    if log is None:
        fd, name = tempfile.mkstemp(prefix="fhirterm-serve-", suffix=".log")
        os.close(fd)
        log = Path(name)
    cmd = [sys.executable, "-m", "fhirterm.cli", "serve", "--host", HOST, "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--workers", str(workers)],
            cwd=REPO,
            env={**os.environ, **base_env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, log, own_log)
    wait_ready(server, seconds if seconds is not None else (FULL_START_S if full else 60))
    return server
