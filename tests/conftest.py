"""Shared fixtures: a small hand-made release, the full April 2026 release, apps and clients.

Markers are applied here, not by hand: a test that uses a fixture made with
``@full_release`` (directly or through another fixture) is marked ``full``, so
``-m "not full"`` never loads the full release; a test marked ``bench`` (it runs
a script of bench/) is skipped unless ``-m`` names ``bench``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from fhirterm.config import Settings
from fhirterm.loading import load_registry
from fhirterm.registry import Registry
from fhirterm.web import create_app

from . import shapes

HERE = Path(__file__).parent
REPO = HERE.parent
SMALL_XML = HERE / "data" / "tabular-small.xml"
SMALL_CONTENT = HERE / "data" / "content-small"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"

_FULL_RELEASE = "_fhirterm_full_release"
F = TypeVar("F", bound=Callable[..., Any])


def full_release(fixture_function: F) -> F:
    """Tags a fixture function (under its ``@pytest.fixture``) as loading the full
    ICD-10-CM release or starting a server over it: every test whose fixtures include
    it is marked ``full`` by ``pytest_collection_modifyitems``."""
    setattr(fixture_function, _FULL_RELEASE, True)
    return fixture_function


def uses_full_release(item: pytest.Item) -> bool:
    """Whether any fixture in the test's closure is tagged with ``full_release``."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        getattr(d.func, _FULL_RELEASE, False)
        for defs in info.name2fixturedefs.values()
        for d in defs
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = str(config.getoption("markexpr") or "")
    for item in items:
        if uses_full_release(item) and item.get_closest_marker("full") is None:
            item.add_marker(pytest.mark.full)
        if item.get_closest_marker("bench") is not None and "bench" not in selected:
            item.add_marker(pytest.mark.skip(reason="benchmark smoke test: run with -m bench"))


@pytest.fixture(scope="session", autouse=True)
def fhir_shapes() -> Iterator[None]:
    """Every FHIR response a test gets from a Flask test client, or from a live server
    through ``requests`` (the conformance runner, fhirpy's and fhirclient's sync clients),
    is checked as its release's resource (``shapes.check``): a test that meets an invalid
    body fails at the request."""
    open_ = FlaskClient.open
    send = requests.Session.send

    def checked(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
        resp = open_(self, *args, **kwargs)
        req = resp.request  # get_data buffers a streamed body, so the test still reads it
        path = req.full_path.rstrip("?")
        shapes.check(req.method, path, resp.content_type or "", resp.get_data())
        return resp

    def checked_send(
        self: requests.Session, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        resp = send(self, request, **kwargs)
        if not kwargs.get("stream"):  # .content of a stream would read it before the caller
            url = urlsplit(request.url or "")
            path = url.path + (f"?{url.query}" if url.query else "")
            ctype = resp.headers.get("Content-Type", "")
            shapes.check(request.method or "", path, ctype, resp.content)
        return resp

    checked.__wrapped__ = open_  # type: ignore[attr-defined]  # the unchecked request
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FlaskClient, "open", checked)
        mp.setattr(requests.Session, "send", checked_send)
        yield


@pytest.fixture(autouse=True)
def _stand_in_servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """No shape check for a test marked ``not_fhirterm`` (its servers are stand-ins)."""
    if request.node.get_closest_marker("not_fhirterm") is None:
        yield
        return
    shapes.paused = True
    try:
        yield
    finally:
        shapes.paused = False


def small_settings(tmp: Path | None = None, **kw: object) -> Settings:
    return Settings(content_dir=SMALL_CONTENT, icd10cm=(str(SMALL_XML),), cache_dir=tmp, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_registry() -> Registry:
    return load_registry(small_settings())


@pytest.fixture(scope="session")
def small_app(small_registry: Registry):  # type: ignore[no-untyped-def]
    return create_app(small_settings(), small_registry)


@pytest.fixture()
def client(small_app):  # type: ignore[no-untyped-def]
    return small_app.test_client()


@pytest.fixture(scope="session")
@full_release
def full_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The bundled April 2026 release with the repository's codesystems/ content."""
    cache = Path(os.environ.get("FHIRTERM_TEST_CACHE", tmp_path_factory.mktemp("cache")))
    return load_registry(Settings(content_dir=REPO / "codesystems", cache_dir=cache))


@pytest.fixture(scope="session")
def full_app(full_registry: Registry):  # type: ignore[no-untyped-def]
    return create_app(Settings(content_dir=REPO / "codesystems"), full_registry)


@pytest.fixture()
def full_client(full_app):  # type: ignore[no-untyped-def]
    return full_app.test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, seconds: float) -> None:
    """Wait until the server on ``port`` answers /readyz; fail with its output if it dies or times out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"server did not start: {out[-2000:]}")
        time.sleep(0.1)


def serve(
    env_extra: dict[str, str], port: int | None = None, log: Path | None = None, seconds: float = 60
) -> tuple[subprocess.Popen[bytes], int]:
    """`fhirterm serve` with one worker on the small test release, ready on a free port.

    ``env_extra`` overrides the ``FHIRTERM_*`` settings (content folder, base
    address...); ``port`` is chosen free unless given (a test that must know
    it before the start, e.g. for ``FHIRTERM_BASE_URL``, picks it with
    ``free_port``). The server's output goes to ``log`` when given (a file
    never fills up, where a pipe left unread would stall a server that logs
    many requests), else to a pipe the caller may read.
    """
    port = free_port() if port is None else port
    env = {
        **os.environ,
        "FHIRTERM_ICD10CM": str(SMALL_XML),
        "FHIRTERM_CONTENT_DIR": str(SMALL_CONTENT),
        "FHIRTERM_CACHE_DIR": "off",
        **env_extra,
    }
    out = log.open("wb") if log is not None else subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhirterm.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(proc, port, seconds)
    except BaseException:
        proc.kill()
        if log is not None:
            print(log.read_text(errors="replace")[-2000:])
        raise
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by ``serve``: SIGTERM, then SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
@full_release
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `fhirterm serve` on a free port with the full content; yields the FHIR base.

    It reads the parse cache the other full-release fixtures use (FHIRTERM_TEST_CACHE):
    parsing the three bundled releases afresh took longer than the start may take on a
    loaded machine."""
    port = free_port()
    cache = os.environ.get("FHIRTERM_TEST_CACHE") or str(tmp_path_factory.mktemp("srvcache"))
    env = dict(os.environ, FHIRTERM_CACHE_DIR=cache)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fhirterm.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(proc, port, 90)
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        stop(proc)
