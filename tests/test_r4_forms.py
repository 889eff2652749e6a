"""R5-only elements in R4 form at /fhir and /r4: expansion properties as cross-version
extensions, $translate in R4 or R5 names; the conformance runner's R4 -> R5 view of them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .conformance.convert import EXT_EXP_VS_CONT_PROP as R4_CONTAINS_PROPERTY
from .conformance.convert import EXT_VALUESET_FILTER_OP, request_to_r4, response_to_r5
from .conformance.convert import EXT_VS_EXP_PROP as R4_EXPANSION_PROPERTY
from .conformance.normalize import reference_form
from .fhir_models import parse_r4
from .test_expand_conformance import ALL, CS, URL, flat

STATUS_URI = "http://hl7.org/fhir/concept-properties#status"


def post(client: Any, path: str, *parameters: dict[str, Any]) -> Any:
    return client.post(
        path,
        data=orjson.dumps({"resourceType": "Parameters", "parameter": [*parameters]}),
        content_type="application/fhir+json",
    )


def tx(resource: dict[str, Any]) -> dict[str, Any]:
    return {"name": "tx-resource", "resource": resource}


def expansion(client: Any, base: str) -> dict[str, Any]:
    r = post(client, f"/{base}/ValueSet/$expand", URL, tx(CS), tx(ALL))
    assert r.status_code == 200, r.json
    return dict(r.json)


def exts(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    """The sub-extensions of each extension ``url`` on ``element``, as {url: value}."""
    return [
        {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in x["extension"]}
        for x in element.get("extension", [])
        if x["url"] == url
    ]


@pytest.mark.parametrize("base", ["fhir", "r4"])
def test_r4_expansion_carries_properties_as_cross_version_extensions(
    client: Any, base: str
) -> None:
    body = expansion(client, base)
    parse_r4(body)  # a valid R4(B) ValueSet: no R5 elements left
    exp = body["expansion"]
    assert "property" not in exp
    assert {"code": "status", "uri": STATUS_URI} in exts(exp, R4_EXPANSION_PROPERTY)
    by = {c["code"]: c for c in flat(exp["contains"])}
    assert all("property" not in c for c in by.values())
    assert exts(by["a2"], R4_CONTAINS_PROPERTY) == [{"code": "status", "value": "retired"}]
    assert exts(by["a1"], R4_CONTAINS_PROPERTY) == []


def test_r4_expansion_reads_back_as_the_r5_one(client: Any) -> None:
    """What the reference runner sees of an R4 answer (converted to R5, then scrubbed)."""
    r5, _ = reference_form("expand", expansion(client, "r5"), 200)
    r4, _ = reference_form("expand", response_to_r5(expansion(client, "r4")), 200)
    assert r4["expansion"]["property"] == r5["expansion"]["property"]
    strip = ("identifier", "timestamp")
    assert {k: v for k, v in r4["expansion"].items() if k not in strip} == {
        k: v for k, v in r5["expansion"].items() if k not in strip
    }


CMAP: dict[str, Any] = {
    "resourceType": "ConceptMap",
    "url": "http://t/cm",
    "version": "0.1.0",
    "status": "active",
    "group": [
        {
            "source": "http://t/src",
            "target": "http://t/tgt",
            "element": [
                {
                    "code": "s1",
                    "target": [{"code": "t1", "relationship": "source-is-narrower-than-target"}],
                }
            ],
        }
    ],
}


def match(client: Any, path: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    r = post(client, path, tx(CMAP), *parameters)
    assert r.status_code == 200, r.json
    if not path.startswith("/r5"):
        parse_r4(r.json)
    (m,) = (p for p in r.json["parameter"] if p["name"] == "match")
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in m["part"]}


SRC = {"system": "http://t/src", "code": "s1"}
TGT = {"system": "http://t/tgt", "code": "t1"}


def test_r4_translate_in_r4_names_answers_in_r4_shape(client: Any) -> None:
    fwd = match(
        client,
        "/r4/ConceptMap/$translate",
        {"name": "system", "valueUri": "http://t/src"},
        {"name": "code", "valueCode": "s1"},
    )
    assert fwd == {"equivalence": "wider", "concept": TGT, "source": "http://t/cm"}
    rev = match(
        client,
        "/fhir/ConceptMap/$translate",
        {"name": "system", "valueUri": "http://t/tgt"},
        {"name": "code", "valueCode": "t1"},
        {"name": "reverse", "valueBoolean": True},
    )
    # R4's reverse: concept is the code found, its equivalence seen from the code asked about
    assert rev == {"equivalence": "narrower", "concept": SRC, "source": "http://t/cm"}


def test_r4_translate_in_r5_names_answers_in_r5_shape_with_equivalence(client: Any) -> None:
    fwd = match(
        client,
        "/r4/ConceptMap/$translate",
        {"name": "sourceSystem", "valueUri": "http://t/src"},
        {"name": "sourceCode", "valueCode": "s1"},
        {"name": "targetSystem", "valueUri": "http://t/tgt"},
    )
    assert fwd == {"equivalence": "wider", "concept": TGT, "originMap": "http://t/cm|0.1.0"}
    rev = match(
        client,
        "/r4/ConceptMap/$translate",
        {"name": "sourceSystem", "valueUri": "http://t/src"},
        {"name": "targetCode", "valueCode": "t1"},
        {"name": "targetSystem", "valueUri": "http://t/tgt"},
    )
    # as at /r5: the link as the map states it, the concept mapped from as source
    assert rev == {
        "equivalence": "wider",
        "concept": TGT,
        "originMap": "http://t/cm|0.1.0",
        "source": SRC,
    }
    r5 = match(
        client,
        "/r5/ConceptMap/$translate",
        {"name": "sourceSystem", "valueUri": "http://t/src"},
        {"name": "targetCode", "valueCode": "t1"},
        {"name": "targetSystem", "valueUri": "http://t/tgt"},
    )
    same = {k: v for k, v in rev.items() if k != "equivalence"}
    assert r5 == {**same, "relationship": "source-is-narrower-than-target"}


def test_translate_names_of_one_version_per_request(client: Any) -> None:
    r = post(
        client,
        "/r4/ConceptMap/$translate",
        tx(CMAP),
        {"name": "sourceSystem", "valueUri": "http://t/src"},
        {"name": "code", "valueCode": "s1"},
    )
    assert r.status_code == 400
    assert "'code' is an R4 name" in r.json["issue"][0]["details"]["text"]
    # /r5 keeps to R5's names
    r = post(
        client,
        "/r5/ConceptMap/$translate",
        tx(CMAP),
        {"name": "system", "valueUri": "http://t/src"},
        {"name": "code", "valueCode": "s1"},
    )
    assert r.status_code == 400
    assert "Unknown parameter 'code'" in r.json["issue"][0]["details"]["text"]


def test_r4_child_of_filter_in_its_cross_version_form(client: Any) -> None:
    """R4 has no filter operator child-of: an R4 value set carries it as the cross-version
    extension on `op` (as the HL7 converter writes it); /r4 expands it as /r5 does op."""
    cs = {
        "resourceType": "CodeSystem",
        "url": "http://t/h",
        "version": "1",
        "status": "active",
        "content": "complete",
        "concept": [
            {"code": "p", "concept": [{"code": "c1", "concept": [{"code": "g1"}]}, {"code": "c2"}]}
        ],
    }
    vs = {
        "resourceType": "ValueSet",
        "url": "http://t/vs-child",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": "http://t/h",
                    "filter": [{"property": "concept", "op": "child-of", "value": "p"}],
                }
            ]
        },
    }
    r4_vs = request_to_r4(vs)
    f = r4_vs["compose"]["include"][0]["filter"][0]
    assert "op" not in f and f["_op"]["extension"][0]["url"] == EXT_VALUESET_FILTER_OP
    parse_r4(r4_vs)
    codes = {}
    for base, resource in (("r5", vs), ("r4", r4_vs)):
        r = post(
            client, f"/{base}/ValueSet/$expand", {"name": "valueSet", "resource": resource}, tx(cs)
        )
        assert r.status_code == 200, r.json
        codes[base] = sorted(c["code"] for c in flat(r.json["expansion"]["contains"]))
    assert codes["r4"] == codes["r5"] == ["c1", "c2"]
