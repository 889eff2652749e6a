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
