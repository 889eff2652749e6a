"""ValueSet $expand, ValueSet $validate-code and $subsumes over HTTP (test client).

What the filters and $subsumes answer is tested on the operations themselves
(tests/test_operations.py); here, that requests and answers travel over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fhirterm.registry import Registry
from fhirterm.web import create_app

from .conftest import ICD, small_settings
from .fhir_models import params, parse_r4

COLORS = "http://example.org/fhir/CodeSystem/colors"


def call(client: Any, op: str, parameters: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/fhir/{op}",
        data=orjson.dumps({"resourceType": "Parameters", "parameter": parameters}),
        content_type="application/fhir+json",
    )


def vs(
    *includes: dict[str, Any], exclude: list[dict[str, Any]] | None = None, url: str = "http://t/vs"
) -> dict:
    compose: dict[str, Any] = {"include": list(includes)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "url": url, "status": "active", "compose": compose}


def expand(client: Any, valueset: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    r = call(client, "ValueSet/$expand", [{"name": "valueSet", "resource": valueset}, *extra])
    assert r.status_code == 200, r.json
    parse_r4(r.json)
    return r.json


def codes(body: dict[str, Any]) -> list[str]:
    return [c["code"] for c in body["expansion"].get("contains", [])]


def icd_filter(prop: str, op: str, value: str) -> dict[str, Any]:
    return {"system": ICD, "filter": [{"property": prop, "op": op, "value": value}]}


def test_import_cycle_is_detected(client: Any, small_registry: Any) -> None:
    a = vs({"valueSet": ["http://t/b"]}, url="http://t/a")
    b = vs({"valueSet": ["http://t/a"]}, url="http://t/b")
    small_registry.add_resource({**a, "id": "cycle-a"})
    small_registry.add_resource({**b, "id": "cycle-b"})
    try:
        r = client.get("/fhir/ValueSet/$expand?url=http://t/a")
        issue = r.json["issue"][0]
        assert r.status_code == 400 and issue["code"] == "processing"
        assert issue["details"]["coding"][0]["code"] == "vs-invalid"
        assert "circularity pointing to http://t/a" in issue["details"]["text"]
    finally:
        del (
            small_registry.resources[("ValueSet", "cycle-a")],
            small_registry.resources[("ValueSet", "cycle-b")],
        )


def test_catastrophic_regex_cannot_hang(small_registry: Registry) -> None:
    client = create_app(small_settings(regex_budget_ms=50), small_registry).test_client()
    evil = vs(
        {
            "system": ICD,
            "filter": [{"property": "display", "op": "regex", "value": r"(?:\w*?\s*?)*\d{3}"}],
        }
    )
    r = call(client, "ValueSet/$expand", [{"name": "valueSet", "resource": evil}])
    text = r.json["issue"][0]["details"]["text"]
    assert r.status_code == 422 and "took more than the 0.05 s" in text, text
    assert "FHIRTERM_REGEX_BUDGET_MS" in text
    bad = vs({"system": ICD, "filter": [{"property": "code", "op": "regex", "value": "(unclosed"}]})
    assert (
        call(client, "ValueSet/$expand", [{"name": "valueSet", "resource": bad}]).status_code == 400
    )


def test_implicit_value_sets_and_text_filter(client: Any) -> None:
    r = client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=sacral stenosis")
    parse_r4(r.json)
    assert codes(r.json) == ["M99.34", "M99.44", "M99.74"]
    # word prefixes, any order; inclusion terms are searched too
    assert codes(client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=sten sacr").json) == [
        "M99.34",
        "M99.44",
        "M99.74",
    ]
    assert codes(
        client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=ligamentous").json
    ) == ["M99.4"]
    r = client.get(
        f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/M99&filter=canal&count=2&offset=1"
    )
    exp = r.json["expansion"]
    assert exp["total"] == 5 and exp["offset"] == 1 and len(exp["contains"]) == 2
    names = {p["name"] for p in exp["parameter"]}
    assert {"filter", "count", "offset", "used-codesystem"} <= names


def _flat(contains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for c in contains for x in (c, *_flat(c.get("contains", [])))]


def test_expand_parameters(client: Any) -> None:
    r = client.get(
        f"/fhir/ValueSet/$expand?url={COLORS}?fhir_vs&includeDesignations=true&displayLanguage=fr"
        "&property=definition&includeDefinition=true"
    )
    parse_r4(r.json)
    # a FHIR CodeSystem expands along its concept tree (nested) unless excludeNested=true
    contains = {c["code"]: c for c in _flat(r.json["expansion"]["contains"])}
    assert contains["red"]["display"] == "Rouge"
    assert contains["red"]["designation"][0]["value"] == "Rouge"
    assert contains["warm"]["abstract"] is True
    assert (
        contains["blue"]["extension"][0]["extension"][1]["valueString"]
        == "The colour of a clear sky"
    )
    assert r.json["compose"]["include"][0]["system"] == COLORS
    r = client.get(
        f"/fhir/ValueSet/$expand?url={COLORS}?fhir_vs&count=1&offset=1&activeOnly=true"
        "&excludeNested=true"
    )
    assert r.json["expansion"]["total"] == 4 and codes(r.json) == ["red"]


def test_too_costly_limit_is_configurable(small_registry: Any) -> None:
    from fhirterm.web import create_app

    from .conftest import small_settings

    app = create_app(small_settings(expansion_limit=5), small_registry)
    c = app.test_client()
    r = c.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs")
    assert r.status_code == 422 and r.json["issue"][0]["code"] == "too-costly"
    assert c.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=5").status_code == 200


@pytest.mark.parametrize(
    "query, status",
    [
        ("url=http://nowhere/vs", 404),
        ("", 400),
        (f"url={ICD}?fhir_vs&count=-1", 400),
        (f"url={ICD}?fhir_vs&count=x", 400),
        (f"url={ICD}?fhir_vs&bogus=1", 400),
        (f"url={ICD}?fhir_vs=isa/NOPE", 404),
        (f"url={ICD}?fhir_vs=foo", 400),
        ("url=http://unknown/cs?fhir_vs", 404),
    ],
)
def test_expand_errors(client: Any, query: str, status: int) -> None:
    r = client.get(f"/fhir/ValueSet/$expand?{query}")
    assert r.status_code == status
    parse_r4(r.json)


def test_unsupported_filter_operator(client: Any) -> None:
    r = call(
        client,
        "ValueSet/$expand",
        [{"name": "valueSet", "resource": vs(icd_filter("concept", "near", "x"))}],
    )
    assert r.status_code == 400 and "not supported" in r.json["issue"][0]["details"]["text"]


def vs_validate(client: Any, query: str) -> dict[str, list[Any]]:
    r = client.get(f"/fhir/ValueSet/$validate-code?{query}")
    assert r.status_code == 200, r.json
    parse_r4(r.json)
    return params(r.json)


def test_vs_validate_code(client: Any) -> None:
    isa = f"url={ICD}?fhir_vs=isa/M99.4&system={ICD}"
    assert vs_validate(client, f"{isa}&code=M99.44")["result"] == [True]
    p = vs_validate(client, f"{isa}&code=M99.34")
    assert p["result"] == [False]
    assert p["issues"][0]["issue"][0]["details"]["coding"][0]["code"] == "not-in-vs"
    p = vs_validate(client, f"{isa}&code=M99.44&display=Wrong")
    assert p["result"] == [False] and "Valid display is" in p["message"][0]
    p = vs_validate(client, f"{isa}&code=M99.4")
    assert p["result"] == [True] and "not billable" in p["message"][0]
    assert vs_validate(client, f"{isa}&code=M99.4&abstract=false")["result"] == [False]
    p = vs_validate(client, f"{isa}&code=M99.99")
    assert p["result"] == [False] and "Unknown code" in p["message"][0]
    p = vs_validate(client, f"url={ICD}?fhir_vs&system=http://unknown&code=1")
    assert (
        p["result"] == [False]
        and p["issues"][0]["issue"][0]["details"]["coding"][0]["code"] == "not-found"
        and p["x-unknown-system"] == ["http://unknown"]
    )
    p = vs_validate(client, f"url={ICD}?fhir_vs&coding={ICD}|T07.XXXA")
    assert p["result"] == [True]


def test_vs_validate_post_forms(client: Any) -> None:
    inline = vs({"system": ICD, "concept": [{"code": "M99.44"}]})
    r = call(
        client,
        "ValueSet/$validate-code",
        [
            {"name": "valueSet", "resource": inline},
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [{"system": ICD, "code": "M99.34"}, {"system": ICD, "code": "M99.44"}]
                },
            },
        ],
    )
    p = params(r.json)
    assert p["result"] == [True]
    r = call(
        client,
        "ValueSet/$validate-code",
        [
            {"name": "valueSet", "resource": inline},
            {"name": "coding", "valueCoding": {"system": ICD, "code": "M99.9"}},
        ],
    )
    assert params(r.json)["result"] == [False]
    r = call(client, "ValueSet/$validate-code", [{"name": "valueSet", "resource": inline}])
    assert r.status_code == 400
    r = call(
        client,
        "ValueSet/$validate-code",
        [
            {"name": "url", "valueUri": "http://nowhere"},
            {"name": "code", "valueCode": "x"},
            {"name": "system", "valueUri": ICD},
        ],
    )
    assert r.status_code == 404


def test_subsumes_codings_and_errors(client: Any) -> None:
    r = call(
        client,
        "CodeSystem/$subsumes",
        [
            {"name": "codingA", "valueCoding": {"system": ICD, "code": "M99.4"}},
            {"name": "codingB", "valueCoding": {"system": ICD, "code": "M99.43"}},
        ],
    )
    assert params(r.json)["outcome"] == ["subsumes"]
    assert (
        client.get("/fhir/CodeSystem/icd10cm/$subsumes?codeA=M99&codeB=M99.9").json["parameter"][0][
            "valueCode"
        ]
        == "subsumes"
    )
    assert (
        client.get(f"/fhir/CodeSystem/$subsumes?system={ICD}&codeA=M99&codeB=NOPE").status_code
        == 404
    )
    assert (
        client.get("/fhir/CodeSystem/$subsumes?system=http://unknown&codeA=a&codeB=b").status_code
        == 404
    )
    assert client.get(f"/fhir/CodeSystem/$subsumes?system={ICD}&codeA=M99").status_code == 400


def test_value_set_read_and_search(full_client: Any) -> None:
    r = full_client.get("/fhir/ValueSet?url=http://fhirterm.org/fhir/ValueSet/icd10cm-billable")
    parse_r4(r.json)
    assert r.json["total"] == 1
    assert full_client.get("/fhir/ValueSet?name=ICD10CMChapter").json["total"] == 22
    assert full_client.get("/fhir/ValueSet?title=ICD-10-CM chapter 13").json["total"] == 1
    assert full_client.get("/fhir/ValueSet?status=active").json["total"] >= 23
    r = full_client.get("/fhir/ValueSet/icd10cm-chapter-13")
    assert r.json["compose"]["include"][0]["filter"][0]["value"] == "13"
    assert full_client.get("/fhir/ValueSet/nope").status_code == 404


@pytest.mark.full
def test_shipped_value_sets_on_the_full_release(full_client: Any) -> None:
    r = full_client.get("/fhir/ValueSet/icd10cm-billable/$expand?count=3")
    assert r.json["expansion"]["total"] == 74_719
    r = full_client.get("/fhir/ValueSet/icd10cm-chapter-13/$expand?filter=sacral stenosis&count=50")
    got = codes(r.json)
    assert "M99.44" in got and "M48.08" in got
    r = full_client.get(
        "/fhir/ValueSet/icd10cm-billable/$validate-code?system=" + ICD + "&code=M99.4"
    )
    assert params(r.json)["result"] == [False]
    r = full_client.get(
        "/fhir/ValueSet/icd10cm-billable/$validate-code?system=" + ICD + "&code=M99.44"
    )
    assert params(r.json)["result"] == [True]


@pytest.mark.full
def test_text_search_best_match_first(full_client: Any) -> None:
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=heart failure&count=5")
    assert codes(r.json)[0] == "I50"
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=fract fem&count=3")
    assert codes(r.json)[0] == "S72"
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=diabetes type 2&count=1")
    assert codes(r.json) == ["E11"]
