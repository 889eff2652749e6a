"""One real server (`fhirterm serve`, granian) on a free port, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from .conftest import ICD

pytestmark = [pytest.mark.server, pytest.mark.full]


def test_lookup_and_validate_over_http(live_server: str) -> None:
    s = requests.Session()
    r = s.get(f"{live_server}/CodeSystem/$lookup", params={"system": ICD, "code": "M99.44"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/fhir+json")
    names = {p["name"] for p in r.json()["parameter"]}
    assert {"display", "definition", "property"} <= names
    r = s.post(
        f"{live_server}/CodeSystem/$validate-code",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "url", "valueUri": ICD}, {"name": "code", "valueCode": "M99.4"}],
        },
        headers={"Content-Type": "application/fhir+json"},
    )
    res = {p["name"]: p for p in r.json()["parameter"]}
    assert res["result"]["valueBoolean"] is True
    assert "billable descendants" in res["message"]["valueString"]


def test_errors_over_http(live_server: str) -> None:
    r = requests.get(f"{live_server}/CodeSystem/$lookup", params={"system": ICD, "code": "m99.44"})
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = requests.get(f"{live_server}/Unknown")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = requests.get(f"{live_server}/metadata")
    assert r.json()["fhirVersion"] == "4.0.1"


def test_graceful_shutdown_on_sigterm(tmp_path: object) -> None:
    """SIGTERM stops the server cleanly: workers finish and the process exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import REPO, SMALL_CONTENT, SMALL_XML, free_port, wait_ready

    port = free_port()
    env = dict(
        os.environ,
        FHIRTERM_ICD10CM=str(SMALL_XML),
        FHIRTERM_CONTENT_DIR=str(SMALL_CONTENT),
        FHIRTERM_CACHE_DIR="off",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "fhirterm.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(proc, port, 60)
        assert requests.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)  # reading the pipe while waiting: no pipe-full stall
        assert proc.returncode == 0
        assert time.monotonic() - t < 30
        assert "shutdown" in out.decode().lower()
    finally:
        if proc.poll() is None:
            proc.kill()
