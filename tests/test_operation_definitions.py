"""The OperationDefinitions the server publishes: linked, valid, and what the parser takes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from fhir.resources import get_fhir_model_class as r5_model

from fhirterm.web.endpoints import OPERATIONS

from .fhir_models import parse_r4

BASES = ("fhir", "r4", "r5")


def published(client: Any, base: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(resource type, code) -> the OperationDefinition the CapabilityStatement links."""
    cap = client.get(f"/{base}/metadata").json
    out = {}
    for res in cap["rest"][0]["resource"]:
        for op in res.get("operation", []):
            path = urlsplit(op["definition"]).path
            assert path.startswith(f"/{base}/OperationDefinition/")
            r = client.get(path)
            assert r.status_code == 200 and r.mimetype == "application/fhir+json"
            assert r.json["url"] == op["definition"] and r.json["code"] == op["name"]
            out[(res["type"], op["name"])] = r.json
    assert {"type": "OperationDefinition", "interaction": [{"code": "read"}]} in cap["rest"][0][
        "resource"
    ]
    return out


@pytest.mark.parametrize("base", BASES)
def test_every_operation_is_published_and_valid(client: Any, base: str) -> None:
    defs = published(client, base)
    assert set(defs) == set(OPERATIONS)
    for (rt, code), d in defs.items():
        if base == "r5":
            r5_model("OperationDefinition").model_validate(d)
        else:
            parse_r4(d)
        assert d["resource"] == [rt] and d["status"] == "active" and d["kind"] == "operation"
        # GET is offered exactly when the definition allows it (no state changed)
        assert d["affectsState"] is False
        assert d["instance"] and d["type"] and not d["system"]
        ins = [p for p in d["parameter"] if p["use"] == "in"]
        assert ins and all(p["type"] and p["documentation"] for p in ins)
        assert any(p["use"] == "out" for p in d["parameter"])
        if code != "batch-validate-code":
            assert d["base"] == f"http://hl7.org/fhir/OperationDefinition/{d['id']}"


def _value(p: dict[str, Any]) -> dict[str, Any]:
    """A parameter entry of the declared type (its meaning aside)."""
    t = p["type"]
    if t in ("Resource", "ValueSet", "CodeSystem", "ConceptMap", "Parameters"):
        rt = "ValueSet" if t == "Resource" else t
        return {"name": p["name"], "resource": {"resourceType": rt, "url": "http://x/y"}}
    value = {
        "boolean": True,
        "integer": 1,
        "Coding": {"code": "a"},
        "CodeableConcept": {},
        "canonical": "http://x/y|1",
        "code": "en",
    }
    key = "value" + t[0].upper() + t[1:]
    return {"name": p["name"], key: value.get(t, "a")}


@pytest.mark.parametrize("base", BASES)
def test_published_names_are_what_the_parser_takes(client: Any, base: str) -> None:
    """Each declared input, of its declared type, passes the parser's checks of names and
    types; a name not declared is refused, with the declared names listed."""
    for (rt, code), d in published(client, base).items():
        path = f"/{base}/{rt}/${code}"
        names = sorted(p["name"] for p in d["parameter"] if p["use"] == "in")
        for p in d["parameter"]:
            if p["use"] != "in":
                continue
            body = orjson.dumps({"resourceType": "Parameters", "parameter": [_value(p)]})
            r = client.post(path, data=body, content_type="application/fhir+json")
            text = r.json["issue"][0]["details"]["text"] if r.status_code >= 400 else ""
            assert "Unknown parameter" not in text and "must be" not in text, (path, p, text)
        body = orjson.dumps(
            {"resourceType": "Parameters", "parameter": [{"name": "bogus", "valueCode": "a"}]}
        )
        r = client.post(path, data=body, content_type="application/fhir+json")
        assert r.status_code == 400
        text = r.json["issue"][0]["details"]["text"]
        if code == "batch-validate-code":  # reported per validation entry
            continue
        assert text.startswith("Unknown parameter 'bogus'"), text
        assert text.endswith("expected one of: " + ", ".join(names)), (text, names)


def test_unknown_definition(client: Any) -> None:
    r = client.get("/r4/OperationDefinition/CodeSystem-closure")
    assert r.status_code == 404 and r.json["resourceType"] == "OperationOutcome"
    assert "CodeSystem-lookup" in r.json["issue"][0]["details"]["text"]


def test_translate_definitions_follow_the_fhir_version(client: Any) -> None:
    r4 = {
        p["name"]
        for p in client.get("/r4/OperationDefinition/ConceptMap-translate").json["parameter"]
    }
    r5 = {
        p["name"]
        for p in client.get("/r5/OperationDefinition/ConceptMap-translate").json["parameter"]
    }
    assert {"code", "targetsystem", "reverse"} <= r4 and not {"code", "reverse"} & r5
    assert {"sourceCode", "targetCode", "sourceScope"} <= r5
