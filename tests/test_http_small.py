"""The FHIR endpoints through the Flask test client, on the hand-made release."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .conftest import ICD
from .fhir_models import params, parse_r4, properties

LOOKUP = f"/fhir/CodeSystem/$lookup?system={ICD}"
VALIDATE = f"/fhir/CodeSystem/$validate-code?url={ICD}"


def post(client: Any, path: str, parameters: list[dict[str, Any]]) -> Any:
    return client.post(
        path,
        data=orjson.dumps({"resourceType": "Parameters", "parameter": parameters}),
        content_type="application/fhir+json",
    )


def test_lookup(client: Any) -> None:
    r = client.get(f"{LOOKUP}&code=M99.44")
    assert r.status_code == 200 and r.mimetype == "application/fhir+json"
    parse_r4(r.json)
    p = params(r.json)
    assert p["display"] == ["Connective tissue stenosis of neural canal of sacral region"]
    assert p["version"] == ["2099"]
    assert p["definition"] == ["Test definition: soft tissue narrows the sacral canal."]
    props = properties(r.json)
    assert [x["value"] for x in props["parent"]] == ["M99.4"]
    assert props["billable"][0]["value"] is True
    assert props["chapter"][0] == {
        "value": "13",
        "sub": [],
        "description": "Diseases of the musculoskeletal system and connective tissue (M00-M99)",
    }
    assert props["block"][0]["value"] == "M99-M99"
    assert [x["value"] for x in props["sibling"]] == ["M99.43", "M99.74"]
    assert props["faq"][1]["sub"] == [
        ("question", "Is M99.4 billable?"),
        ("answer", "No, it is a header."),
    ]
    assert props["verified"][0]["value"] == "2026-05-08"


def test_lookup_header_with_notes(client: Any) -> None:
    r = client.get(f"{LOOKUP}&code=M99.4")
    props = properties(r.json)
    assert [x["value"] for x in props["child"]] == ["M99.43", "M99.44", "M99.74"]
    assert props["billable"][0]["value"] is False
    assert props["excludes2"][0]["sub"] == [("reference", "M43.1")]
    assert props["inclusion-term"][0]["value"] == "Ligamentous canal narrowing"
    desig = [p for p in r.json["parameter"] if p["name"] == "designation"]
    assert desig and desig[0]["part"][-1]["valueString"] == "Ligamentous canal narrowing"
    assert params(r.json)["abstract"] == [True]


def test_lookup_property_limits_output(client: Any) -> None:
    r = client.get(f"{LOOKUP}&code=M99.44&property=parent&property=region")
    assert set(properties(r.json)) == {"parent", "region"}
    assert "definition" not in params(r.json)
    r = client.get(f"{LOOKUP}&code=M99.44&property=definition,billable")
    assert set(properties(r.json)) == {"billable"} and "definition" in params(r.json)


def test_lookup_post_with_coding(client: Any) -> None:
    r = post(
        client,
        "/fhir/CodeSystem/$lookup",
        [{"name": "coding", "valueCoding": {"system": ICD, "code": "T07.XXXA"}}],
    )
    assert r.status_code == 200
    assert params(r.json)["display"] == ["Unspecified multiple injuries, initial encounter"]


@pytest.mark.parametrize(
    "query, status, words",
    [
        ("&code=M99.99", 404, "Unknown code 'M99.99'"),
        ("&code=m99.44", 404, "did you mean 'M99.44'"),
        ("&code=13", 404, "is a chapter"),
        ("", 400, "No code"),
        ("&code=M99.44&version=1999", 404, "version '1999'"),
        ("&code=M99.44&bogus=1", 400, "Unknown parameter 'bogus'"),
        ("&code=M99.44&code=M99.43", 400, "may appear once"),
    ],
)
def test_lookup_errors(client: Any, query: str, status: int, words: str) -> None:
    r = client.get(LOOKUP + query)
    assert r.status_code == status
    parse_r4(r.json)
    assert r.json["resourceType"] == "OperationOutcome"
    assert words in r.json["issue"][0]["details"]["text"]


def test_lookup_unknown_system(client: Any) -> None:
    r = client.get("/fhir/CodeSystem/$lookup?system=http://example.org/none&code=A")
    assert r.status_code == 404
    assert "http://example.org/none" in r.json["issue"][0]["details"]["text"]
    assert r.json["issue"][0]["code"] == "not-found"


def validate(client: Any, query: str) -> dict[str, Any]:
    r = client.get(VALIDATE + query)
    assert r.status_code == 200, r.json
    parse_r4(r.json)
    return params(r.json)


def test_validate_code(client: Any) -> None:
    p = validate(
        client, "&code=M99.44&display=Connective tissue stenosis of neural canal of sacral region"
    )
    assert p["result"] == [True] and "issues" not in p
    p = validate(client, "&code=M99.44&display=Sacral thing")
    assert p["result"] == [False]
    assert (
        "Valid display is 'Connective tissue stenosis of neural canal of sacral region'"
        in p["message"][0]
    )
    assert p["issues"][0]["issue"][0]["expression"] == ["display"]


def test_validate_header_warns_with_billable_descendants(client: Any) -> None:
    p = validate(client, "&code=S06")
    assert p["result"] == [True]
    issue = p["issues"][0]["issue"][0]
    assert issue["severity"] == "warning"
    assert "not billable" in issue["details"]["text"]
    assert (
        "6 billable descendants: S06.0X1A, S06.0X1D, S06.0X1S, S06.0X7A, S06.9XXA and 1 more"
        in issue["details"]["text"]
    )


@pytest.mark.parametrize(
    "code, suggestion",
    [
        ("m99.44", "M99.44"),
        ("M9944", "M99.44"),
        ("%20M99.44", "M99.44"),
        ("M99-M99", None),
        ("13", None),
    ],
)
def test_validate_non_codes(client: Any, code: str, suggestion: str | None) -> None:
    p = validate(client, f"&code={code}")
    assert p["result"] == [False]
    text = p["message"][0]
    if suggestion:
        assert f"did you mean '{suggestion}'" in text
    else:
        assert "grouping that is not a code" in text


def test_validate_instance_level_and_codeable_concept(client: Any) -> None:
    r = client.get("/fhir/CodeSystem/icd10cm/$validate-code?code=M99.9")
    assert params(r.json)["result"] == [True]
    r = post(
        client,
        "/fhir/CodeSystem/$validate-code",
        [
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": "http://example.org/x", "code": "1"},
                        {"system": ICD, "code": "M99.44"},
                    ]
                },
            }
        ],
    )
    p = params(r.json)
    # The ICD-10-CM coding is valid, but an error on another coding (an unknown code
    # system) makes the whole concept false, as in the HL7 terminology ecosystem.
    assert p["result"] == [False] and p["display"] == [
        "Connective tissue stenosis of neural canal of sacral region"
    ]
    assert any("could not be found" in i["details"]["text"] for i in p["issues"][0]["issue"])
    assert p["x-caused-by-unknown-system"] == ["http://example.org/x"]
    r = client.get("/fhir/CodeSystem/icd10cm/$validate-code?code=M99.9&url=http://other")
    assert r.status_code == 400


def test_validate_unknown_system_is_a_result(client: Any) -> None:
    r = client.get("/fhir/CodeSystem/$validate-code?url=http://example.org/none&code=1")
    p = params(r.json)
    assert p["result"] == [False]
    assert p["issues"][0]["issue"][0]["details"]["coding"][0]["code"] == "not-found"
    assert p["x-unknown-system"] == ["http://example.org/none"]


def test_general_code_system_from_json(client: Any) -> None:
    url = "http://example.org/fhir/CodeSystem/colors"
    r = client.get(f"/fhir/CodeSystem/$lookup?system={url}&code=red")
    assert r.status_code == 200
    props = properties(r.json)
    assert [x["value"] for x in props["parent"]] == ["warm"]
    # caseSensitive false: RED is red
    assert params(client.get(f"/fhir/CodeSystem/$validate-code?url={url}&code=RED").json)[
        "result"
    ] == [True]
    p = params(client.get(f"/fhir/CodeSystem/$validate-code?url={url}&code=red&display=Rouge").json)
    assert p["result"] == [True]
    r = client.get("/fhir/CodeSystem/test-colors")
    assert r.status_code == 200 and r.json["concept"][0]["concept"][0]["code"] == "red"
    parse_r4(r.json)


def test_read_and_search(client: Any) -> None:
    r = client.get(f"/fhir/CodeSystem?url={ICD}")
    parse_r4(r.json)
    assert r.json["total"] == 1
    cs = r.json["entry"][0]["resource"]
    assert cs["id"] == "icd10cm" and "concept" not in cs and cs["count"] == 27
    assert client.get("/fhir/CodeSystem?name=col").json["total"] == 1
    assert client.get("/fhir/CodeSystem?name=zzz").json["total"] == 0
    assert client.get("/fhir/CodeSystem?version=2099").json["total"] == 1
    r = client.get("/fhir/CodeSystem/icd10cm?_summary=false")
    assert r.json["concept"][0]["code"] == "M43"
    parse_r4(r.json)
    # an unknown search parameter: ignored with a warning (lenient), or refused (strict)
    r = client.get("/fhir/CodeSystem?colour=red")
    assert r.status_code == 200 and r.json["entry"][-1]["search"]["mode"] == "outcome"
    r = client.get("/fhir/CodeSystem?colour=red", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400
    assert client.get("/fhir/CodeSystem/nope").status_code == 404


def test_metadata(client: Any) -> None:
    r = client.get("/fhir/metadata")
    parse_r4(r.json)
    assert r.json["fhirVersion"] == "4.0.1"
    ops = {o["name"] for o in r.json["rest"][0]["operation"]}
    assert {"lookup", "validate-code"} <= ops
    r = client.get("/fhir/metadata?mode=terminology")
    parse_r4(r.json)
    assert {c["uri"] for c in r.json["codeSystem"]} >= {
        ICD,
        "http://example.org/fhir/CodeSystem/colors",
    }
    assert client.get("/fhir/metadata?mode=bogus").status_code == 400


@pytest.mark.parametrize(
    "method, path, kw, status",
    [
        ("get", "/fhir/Nope", {}, 404),
        ("get", "/elsewhere", {}, 404),
        ("delete", "/fhir/CodeSystem/$lookup", {}, 405),
        ("get", "/fhir/metadata", {"headers": {"Accept": "text/html"}}, 406),
        ("get", "/fhir/metadata?_format=html", {}, 406),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": "<Parameters/>", "content_type": "text/plain"},
            415,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": "<Parameters/>", "content_type": "application/fhir+xml"},
            400,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": "{not json", "content_type": "application/fhir+json"},
            400,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": "", "content_type": "application/fhir+json"},
            400,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": '{"resourceType":"Patient"}', "content_type": "application/json"},
            400,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {
                "data": '{"resourceType":"Parameters","parameter":[{"name":"code"}]}',
                "content_type": "application/json",
            },
            400,
        ),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": b"x" * (11 * 1024 * 1024), "content_type": "application/json"},
            413,
        ),
    ],
)
def test_every_error_is_an_operation_outcome(
    client: Any, method: str, path: str, kw: dict[str, Any], status: int
) -> None:
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status
    assert r.mimetype == "application/fhir+json"
    parse_r4(r.json)
    assert r.json["issue"][0]["details"]["text"]


def test_r4_alias_and_health(client: Any) -> None:
    assert client.get(f"/r4/CodeSystem/$lookup?system={ICD}&code=M99.44").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json["status"] == "ready"


def test_blueprint_mounts_in_another_app(small_registry: Any) -> None:
    from flask import Flask

    from fhirterm.web import errors, fhir_blueprint
    from fhirterm.web.app import State

    from .conftest import small_settings

    host = Flask("host")
    host.extensions["fhirterm"] = State(small_settings(), small_registry, "2026-01-01")
    errors.register(host)
    host.register_blueprint(fhir_blueprint(), url_prefix="/terminology/fhir")
    r = host.test_client().get(f"/terminology/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44")
    assert r.status_code == 200
