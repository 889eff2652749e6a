"""One real server (`fhirterm serve`, granian) on a free port, over real HTTP."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import orjson
import pytest
import requests

from . import live
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


def test_cors_security_headers_and_host_over_http(live_server: str) -> None:
    """A browser's preflight and request, and a spoofed Host, against granian."""
    origin = {"Origin": "https://smart-app.example.org"}
    r = requests.options(
        f"{live_server}/CodeSystem/$lookup",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    for _ in range(3):  # computed, then stored, then replayed by the response cache
        r = requests.get(
            f"{live_server}/CodeSystem/$lookup",
            params={"system": ICD, "code": "M99.44"},
            headers=origin,
        )
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Location" in r.headers["Access-Control-Expose-Headers"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = requests.get(f"{live_server}/Unknown", headers=origin)
    assert r.status_code == 404 and r.headers["Cache-Control"] == "no-store"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.get(f"{live_server}/ValueSet?_count=2", headers={"Host": "evil.example"})
    assert r.status_code == 200 and "evil" not in r.text
    assert r.json()["link"][0]["url"].startswith(live_server)


def test_graceful_shutdown_on_sigterm() -> None:
    """SIGTERM stops the server cleanly: workers finish and the process exits 0."""
    with live.start() as server:
        assert requests.get(f"{server.root}/healthz").json() == {"status": "ok"}
        server.signal(signal.SIGTERM)
        assert server.wait(60) == 0
        assert "shutdown" in server.output().lower()


SLOW_REQUEST_CONCEPTS = 400_000
SLOW_REQUEST_ENV = {
    "FHIRTERM_MAX_BODY": str(64 * 1024 * 1024),
    "FHIRTERM_MAX_TX_CONCEPTS": str(1_000_000),
}


def slow_request_body(n: int = SLOW_REQUEST_CONCEPTS) -> bytes:
    """A $validate-code of the last code of an ``n``-concept tx-resource code system:
    about a second of work here (start the server with ``SLOW_REQUEST_ENV``)."""
    big = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/big",
        "version": "1",
        "status": "active",
        "content": "complete",
        "concept": [{"code": f"C{i}", "display": f"Concept {i}"} for i in range(n)],
    }
    return orjson.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "url", "valueUri": "http://example.org/big"},
                {"name": "code", "valueCode": f"C{n - 1}"},
                {"name": "display", "valueString": f"Concept {n - 1}"},
                {"name": "tx-resource", "resource": big},
            ],
        }
    )


def test_sigterm_lets_a_request_in_flight_finish() -> None:
    """A request being answered when SIGTERM comes still gets its whole answer.

    The request carries a code system of 400,000 concepts as tx-resource: reading
    it takes about a second here, so the signal arrives while it is processed
    (the test checks that the answer came after the signal).
    """
    body = slow_request_body()
    got: dict[str, Any] = {}
    server = live.start(SLOW_REQUEST_ENV)

    def send() -> None:
        try:
            r = requests.post(
                f"{server.root}/r5/CodeSystem/$validate-code",
                data=body,
                headers={"Content-Type": "application/fhir+json"},
                timeout=60,
            )
            got["status"], got["json"], got["at"] = r.status_code, r.json(), time.monotonic()
        except Exception as e:  # the assertion below shows it
            got["error"] = repr(e)

    with server:
        idle = server.cpu_seconds()
        t = threading.Thread(target=send)
        t.start()
        # signal once the server has worked on the request a little (a fixed pause was
        # sometimes over before the request had arrived on a loaded machine)
        deadline = time.monotonic() + 30
        while server.cpu_seconds() < idle + 0.2 and time.monotonic() < deadline:
            time.sleep(0.02)
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        t.join(60)
        status = server.wait(60)
        assert "error" not in got, got.get("error")
        assert got["at"] > signalled, "the request finished before the signal: make it bigger"
        assert got["status"] == 200
        assert {p["name"]: p for p in got["json"]["parameter"]}["result"]["valueBoolean"] is True
        assert status == 0, server.output()[-2000:]
