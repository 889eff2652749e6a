"""Bad days: damaged cache files, a full disk, a busy port, missing content, a failed load.

Each start failure is shown on the real command (`fhirterm serve` / `check` in a
subprocess): exit code 1 and a message that says what is wrong.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fhirterm import loading, packed

from . import live
from .conftest import REPO, SMALL_CONTENT, SMALL_XML
from .live import free_port


def _cached(cache: Path) -> Path:
    (path,) = cache.glob("icd10cm-*.packed")
    return path


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    """A cache folder holding the small release's packed file."""
    loading.load_icd10cm(str(SMALL_XML), tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0xFF]) + b[len(b) // 2 + 1 :],
            "CRC-32",
        ),
        (lambda b: b[:-1000], "truncated"),
        (lambda b: b + b"more", "truncated"),
        (lambda b: b"PK\x03\x04" + b"\0" * 5000, "not a packed file"),
        (lambda b: b"FTPACK01" + b[8:], "another format version"),
        (lambda b: b"", "empty"),
    ],
    ids=["flipped-byte", "truncated", "grown", "foreign", "old-format", "empty"],
)
def test_a_damaged_cache_file_is_detected_and_rebuilt(
    cache: Path, damage: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the checksum a flipped byte was trusted (ready, then 500 on 98 % of
    lookups or silent total: 0)."""
    path = _cached(cache)
    good = path.read_bytes()
    ix = loading.load_icd10cm(str(SMALL_XML), cache)
    expected = [ix.concepts[c] for c in ix.concepts]  # decoded before the file changes
    path.write_bytes(damage(good))  # type: ignore[operator]
    with pytest.raises(packed.Damaged, match=reason):
        packed.load(path)
    with caplog.at_level(logging.INFO, logger="fhirterm"):
        ix = loading.load_icd10cm(str(SMALL_XML), cache)
    assert f"the cache file {path} is unusable" in caplog.text
    assert reason in caplog.text and "rebuilding it" in caplog.text
    assert [ix.concepts[c] for c in ix.concepts] == expected
    packed.check(path.read_bytes())  # whole again
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".tmp-")) == []


def test_other_cache_files_are_left_alone(cache: Path) -> None:
    """Files of other releases, other fhirterm versions (same release, another parser)
    and other servers sharing the folder survive a rebuild; the loader once deleted
    every other packing of the same release."""
    path = _cached(cache)
    same_release = cache / f"{path.name.rsplit('-', 1)[0]}-0123456789abcdef01234567.packed"
    others = [same_release, cache / "icd10cm-ffffffffffffffff-abc.packed", cache / "other.packed"]
    for p in others:
        p.write_bytes(b"someone else's")
    path.unlink()
    loading.load_icd10cm(str(SMALL_XML), cache)
    assert all(p.read_bytes() == b"someone else's" for p in others)
    assert _cached_ours(cache, path)


def _cached_ours(cache: Path, path: Path) -> bool:
    return path.exists() and path.parent == cache


def test_a_full_disk_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The packed file cannot be written (ENOSPC half way): the release is served from
    memory, with a warning, and no .tmp-* file is left in the cache folder."""
    real_write = packed.write

    def full(ix: object, path: Path) -> None:
        real_write(ix, path)  # type: ignore[arg-type]
        with path.open("r+b") as fh:
            fh.truncate(1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(packed, "write", full)
    with caplog.at_level(logging.WARNING, logger="fhirterm"):
        ix = loading.load_icd10cm(str(SMALL_XML), tmp_path)
    assert "M99.44" in ix.concepts
    assert "No space left on device" in caplog.text and "kept in memory" in caplog.text
    assert list(tmp_path.iterdir()) == []


def _fhirterm(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fhirterm.cli", *args],
        cwd=cwd,
        env={**os.environ, "FHIRTERM_CACHE_DIR": "off", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.server
def test_a_busy_port_stops_the_start() -> None:
    """granian binds with SO_REUSEPORT: a second server on the port started silently
    and took 6 of 20 requests. Now it stops with exit code 1."""
    with live.start() as server:
        r = _fhirterm(
            "serve",
            "--port",
            str(server.port),
            FHIRTERM_ICD10CM=str(SMALL_XML),
            FHIRTERM_CONTENT_DIR=str(SMALL_CONTENT),
        )
        assert r.returncode == 1, r.stderr
        assert f"port {server.port} on 127.0.0.1 is in use" in r.stderr


@pytest.mark.parametrize("command", ["check", "serve"])
def test_missing_or_empty_content_stops_the_start(tmp_path: Path, command: str) -> None:
    """Started outside the checkout (no ./codesystems) the server served no value sets,
    no CPT and no editorial content, and `check` said "content OK"."""
    port = [] if command == "check" else ["--port", str(free_port())]
    r = _fhirterm(command, *port, cwd=tmp_path, FHIRTERM_ICD10CM=str(SMALL_XML))
    assert r.returncode == 1
    assert f"{tmp_path / 'codesystems'}" in r.stderr and "is not a folder" in r.stderr
    (tmp_path / "codesystems").mkdir()
    (tmp_path / "codesystems" / "README").write_text("no content here")
    r = _fhirterm(command, *port, cwd=tmp_path, FHIRTERM_ICD10CM=str(SMALL_XML))
    assert r.returncode == 1
    assert "holds no FHIR JSON (*.json) or editorial (*.toml) files" in r.stderr


def test_no_content_on_purpose(tmp_path: Path) -> None:
    r = _fhirterm(
        "check", cwd=tmp_path, FHIRTERM_ICD10CM=str(SMALL_XML), FHIRTERM_CONTENT_DIR="none"
    )
    assert r.returncode == 0, r.stderr
    assert "content OK" in r.stdout


@pytest.mark.parametrize("what", ["missing", "not-xml"])
def test_a_failed_load_stops_the_start(tmp_path: Path, what: str) -> None:
    release = tmp_path / "icd10cm-tabular.xml"
    if what == "not-xml":
        release.write_bytes(b"\x00 this is no XML")
    r = _fhirterm(
        "serve",
        "--port",
        str(free_port()),
        FHIRTERM_ICD10CM=str(release),
        FHIRTERM_CONTENT_DIR=str(SMALL_CONTENT),
    )
    assert r.returncode == 1
    assert str(release) in r.stderr, r.stderr
    assert r.stderr.startswith(("invalid content: ", "loading the content failed: ")), r.stderr


@pytest.mark.server
def test_the_log_says_what_was_loaded_and_when_ready(tmp_path: Path) -> None:
    """What was loaded, from where, how many concepts, and "ready" with the time."""
    with live.start(cache=tmp_path) as server:
        # /readyz answers as the "ready" line is written: wait for the line
        for _ in range(300):
            if "ready in" in server.output():
                break
            time.sleep(0.1)
        log = server.output()
    port = server.port
    assert f"{SMALL_XML}: " in log and "concepts parsed in" in log and str(tmp_path) in log
    assert f"{SMALL_CONTENT}: " in log and "CodeSystem" in log and "editorial files" in log
    assert "ready in" in log and f"serving http://127.0.0.1:{port} with 1 workers" in log


@pytest.mark.parametrize(
    "path", ["/fhir//metadata", "/fhir/CodeSystem//$lookup?system=x", "/r5//CodeSystem/icd10cm"]
)
def test_a_doubled_slash_is_a_404_outcome_not_a_redirect(client: Any, path: str) -> None:
    """werkzeug merged the slashes with a 308 whose body was HTML and whose Location
    came from the Host header."""
    r = client.get(path, headers={"Host": "evil.example"})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/fhir+json")
    assert r.json["resourceType"] == "OperationOutcome"
    assert "Location" not in r.headers
