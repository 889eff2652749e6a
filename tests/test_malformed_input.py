"""Malformed input over HTTP: every shape is a 400 OperationOutcome naming what was wrong.

Values of the wrong JSON type at every level (parameters, value[x], tx-resource,
valueSet/compose, ConceptMap, Coding, CodeableConcept) and integers outside FHIR's
syntax or range. Each answer is checked to be a 400 OperationOutcome, as
application/fhir+json, that names the element, echoes what was sent (shortened) and
says what was expected; nothing is coerced.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import ICD
from .fhir_models import parse_r4

VS = "http://hl7.org/fhir/ValueSet/x"


def body(*parameters: dict[str, Any]) -> bytes:
    # json, not orjson: these bodies hold integers orjson refuses to write (2**64)
    return json.dumps({"resourceType": "Parameters", "parameter": list(parameters)}).encode()


def value_set(**compose: Any) -> dict[str, Any]:
    include: dict[str, Any] = {"system": ICD, "concept": [{"code": "M99.44"}]}
    return {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "active",
        "compose": {"include": [include], **compose},
    }


def concept_map(group: Any) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "url": "http://example.org/cm",
        "status": "active",
        "group": group,
    }


def code_system(concepts: Any) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": "http://example.org/cs",
        "status": "active",
        "content": "complete",
        "concept": concepts,
    }


def bad_request(r: Any, *words: str) -> str:
    """Assert a 400 OperationOutcome with a FHIR content type; its text (holding ``words``)."""
    assert r.status_code == 400, (r.status_code, r.data[:300])
    assert r.mimetype == "application/fhir+json"
    parse_r4(r.json)
    assert r.json["resourceType"] == "OperationOutcome"
    text: str = r.json["issue"][0]["details"]["text"]
    for w in words:
        assert w in text, text
    return text


def post(client: Any, path: str, data: bytes) -> Any:
    return client.post(path, data=data, content_type="application/fhir+json")


EXPAND_VS = {"name": "valueSet"}
LOOKUP_ICD = ({"name": "system", "valueUri": ICD}, {"name": "code", "valueCode": "M99.44"})

# (path, body, words the message must hold)
POST_CASES = [
    # a compose part of the wrong JSON type
    (
        "ValueSet/$expand",
        body({**EXPAND_VS, "resource": {**value_set(), "compose": {"include": "x"}}}),
        ("valueSet.compose.include", "must be an array", "'x'"),
    ),
    (
        "ValueSet/$expand",
        body({**EXPAND_VS, "resource": {**value_set(), "compose": {"include": [3]}}}),
        ("valueSet.compose.include[0]", "must be an object", "found 3"),
    ),
    (
        "ValueSet/$expand",
        body(
            {
                **EXPAND_VS,
                "resource": value_set(
                    include=[{"system": ICD, "filter": [{"property": "concept", "op": 1}]}]
                ),
            }
        ),
        ("valueSet.compose.include[0].filter[0].op", "must be a string"),
    ),
    # an include's valueSet given as a string (was iterated per character)
    (
        "ValueSet/$validate-code",
        body(
            {**EXPAND_VS, "resource": value_set(include=[{"valueSet": "http://example.org/a"}])},
            {"name": "code", "valueCode": "M99.44"},
            {"name": "system", "valueUri": ICD},
        ),
        ("valueSet.compose.include[0].valueSet", "must be an array", "http://example.org/a"),
    ),
    # ConceptMap parts of the wrong JSON type
    (
        "ConceptMap/$translate",
        body(
            {"name": "conceptMap", "resource": concept_map({"source": ICD})},
            {"name": "code", "valueCode": "M99.44"},
            {"name": "system", "valueUri": ICD},
        ),
        ("conceptMap.group", "must be an array"),
    ),
    (
        "ConceptMap/$translate",
        body(
            {
                "name": "conceptMap",
                "resource": concept_map([{"source": ICD, "element": [{"code": "A", "target": 5}]}]),
            },
            {"name": "code", "valueCode": "M99.44"},
            {"name": "system", "valueUri": ICD},
        ),
        ("conceptMap.group[0].element[0].target", "must be an array", "found 5"),
    ),
    # tx-resource parts of the wrong JSON type
    (
        "CodeSystem/$lookup",
        body(*LOOKUP_ICD, {"name": "tx-resource", "resource": code_system({"code": "a"})}),
        ("tx-resource[0].concept", "must be an array"),
    ),
    (
        "CodeSystem/$lookup",
        body(
            *LOOKUP_ICD,
            {"name": "tx-resource", "resource": code_system([{"code": "a", "display": ["A"]}])},
        ),
        ("tx-resource[0].concept[0].display", "must be a string", "an array of 1"),
    ),
    (
        "CodeSystem/$validate-code",
        body(
            {"name": "url", "valueUri": "http://example.org/cs"},
            {"name": "code", "valueCode": "a"},
            {
                "name": "tx-resource",
                "resource": code_system(
                    [{"code": "a", "property": [{"code": "p", "valueCode": {"a": 1}}]}]
                ),
            },
        ),
        ("tx-resource[0].concept[0].property[0].valueCode", "must be a string"),
    ),
    (
        "CodeSystem/$lookup",
        body(*LOOKUP_ICD, {"name": "tx-resource", "resource": {**code_system([]), "url": 7}}),
        ("tx-resource[0].url", "must be a string", "found 7"),
    ),
    (
        "CodeSystem/$lookup",
        body(*LOOKUP_ICD, {"name": "tx-resource", "valueString": "a code system"}),
        ("tx-resource[0] must be a resource", "valueString"),
    ),
    # value[x] of the wrong JSON type (valueCode {"a":1} was looked up as a string)
    (
        "CodeSystem/$lookup",
        body({"name": "system", "valueUri": ICD}, {"name": "code", "valueCode": {"a": 1}}),
        ("Parameter 'code'", "valueCode must be a string", "an object {'a'}"),
    ),
    (
        "CodeSystem/$lookup",
        body({"name": "system", "valueUri": ICD}, {"name": "code", "valueInteger": 5}),
        ("Parameter 'code' must be a code", "found valueInteger"),
    ),
    (
        "CodeSystem/$lookup",
        body({"name": "coding", "valueCoding": {"system": ICD, "code": ["M99.44"]}}),
        ("coding", "code must be a string"),
    ),
    (
        "CodeSystem/$validate-code",
        body(
            {"name": "url", "valueUri": ICD},
            {"name": "codeableConcept", "valueCodeableConcept": {"coding": {"code": "A"}}},
        ),
        ("codeableConcept", "coding must be an array"),
    ),
    (
        "CodeSystem/$validate-code",
        body({"name": "url", "valueUri": ICD}, {"name": "coding", "valueString": "M99.44"}),
        ("Parameter 'coding' must be a Coding (valueCoding)", "found valueString"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "activeOnly", "valueString": "true"}),
        ("Parameter 'activeOnly' must be a boolean", "found valueString"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "activeOnly", "valueBoolean": "yes"}),
        ("valueBoolean must be true or false", "'yes'"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "count", "valueString": "5"}),
        ("Parameter 'count' must be an integer", "found valueString"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "count", "valueInteger": 1.5}),
        ("valueInteger must be an integer", "1.5"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "count", "valueInteger": 2**64}),
        ("valueInteger must be an integer",),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "offset", "valueInteger": 2**63}),
        ("valueInteger must be an integer from -2147483648 to 2147483647",),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "count", "valueFoo": 5}),
        ("'valueFoo' is not a FHIR value[x] element",),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "valueSet", "valueString": "{}"}),
        ("Parameter 'valueSet' must be a ValueSet resource", "found valueString"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "valueSet", "resource": concept_map([])}),
        ("valueSet.resourceType must be 'ValueSet'", "'ConceptMap'"),
    ),
    (
        "ValueSet/$expand",
        body({"name": "url", "valueUri": VS}, {"name": "filter", "part": []}),
        ("Parameter 'filter' must be a string", "found parts"),
    ),
]


@pytest.mark.parametrize("base", ["fhir", "r5"])
@pytest.mark.parametrize(("path", "data", "words"), POST_CASES)
def test_post_malformed(
    client: Any, base: str, path: str, data: bytes, words: tuple[str, ...]
) -> None:
    bad_request(post(client, f"/{base}/{path}", data), *words)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("--5", ("'--5'", "must be an integer (digits")),
        ("²", ("'²'", "must be an integer")),
        ("٣", ("must be an integer",)),
        ("1e5", ("must be an integer",)),
        ("05", ("must be an integer",)),
        ("9" * 4301, ("must be an integer", "...")),
        (str(2**64), ("must be an integer",)),
        (str(2**31), ("must be an integer from -2147483648 to 2147483647",)),
    ],
)
@pytest.mark.parametrize("name", ["count", "offset"])
def test_query_integers(client: Any, name: str, value: str, words: tuple[str, ...]) -> None:
    # both paths: the fast path (plain Accept) and Flask (negotiated Accept)
    for headers in ({}, {"Accept": "application/fhir+json;q=0.9"}):
        r = client.get(f"/fhir/ValueSet/$expand?url={VS}&{name}={quote(value)}", headers=headers)
        text = bad_request(r, f"{name} must be", *words)
        assert len(text) < 200  # a 4,301-digit value is echoed shortened


def test_integers_in_range_are_taken(client: Any) -> None:
    vs = quote(f"{ICD}?fhir_vs")
    for query in ("count=0&offset=0", "count=10&offset=%2B1", "count=-0"):
        r = client.get(f"/fhir/ValueSet/$expand?url={vs}&{query}")
        assert r.status_code == 200, (query, r.json)
    # the largest integer is read, and is more than a page may hold (FHIRTERM_EXPAND_MAX_COUNT)
    r = client.get(f"/fhir/ValueSet/$expand?url={vs}&count=2147483647&offset=%2B1")
    assert r.status_code == 422 and r.json["issue"][0]["code"] == "too-costly", r.json


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("CodeSystem/$lookup?coding=M99.44", ("system|code",)),
        ("CodeSystem/$validate-code?url=x&codeableConcept=x", ("send it in a POST body",)),
        ("ValueSet/$expand?valueSet=x", ("send it in a POST body",)),
        ("ValueSet/$expand?url=x&tx-resource=x", ("tx-resource[0] must be a resource",)),
        ("ValueSet/$expand?url=x&activeOnly=yes", ("true or false", "'yes'")),
        ("CodeSystem/$subsumes?codeA=a&codeA=b", ("may appear once",)),
    ],
)
def test_query_wrong_types(client: Any, query: str, words: tuple[str, ...]) -> None:
    bad_request(client.get(f"/fhir/{query}"), *words)


def test_huge_value_is_echoed_shortened(client: Any) -> None:
    huge = "x" * 1_000_000
    r = post(
        client,
        "/fhir/CodeSystem/$lookup",
        body(
            {"name": "system", "valueUri": ICD},
            {"name": "code", "valueInteger": 1},
            {"name": huge, "valueString": huge},
        ),
    )
    assert len(bad_request(r)) < 400


def test_well_formed_resources_still_work(client: Any) -> None:
    """The checks pass what FHIR allows: extensions, R5 elements, primitive extensions."""
    cs = code_system(
        [
            {
                "code": "a",
                "display": "A",
                "_display": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
                "designation": [
                    {"language": "de", "use": {"code": "display"}, "value": "Ah"},
                ],
                "property": [{"code": "p", "valueCoding": {"system": "s", "code": "c"}}],
                "concept": [{"code": "b", "display": "B"}],
            }
        ]
    )
    r = post(
        client,
        "/fhir/CodeSystem/$lookup",
        body(
            {"name": "system", "valueUri": "http://example.org/cs"},
            {"name": "code", "valueCode": "b"},
            {"name": "tx-resource", "resource": cs},
        ),
    )
    assert r.status_code == 200, r.json


def test_tx_resource_inside_a_batch_entry_is_not_left_unread(client: Any) -> None:
    """A tx-resource applies to the whole request: inside one validation entry it is that
    entry's error (it was ignored, and the code it defines reported unknown)."""
    cs = code_system([{"code": "a", "display": "A"}])
    entry = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "code", "valueCode": "a"},
            {"name": "system", "valueUri": "http://example.org/cs"},
            {"name": "tx-resource", "resource": cs},
        ],
    }
    vs = value_set(include=[{"system": "http://example.org/cs"}])
    r = post(
        client,
        "/fhir/ValueSet/$batch-validate-code",
        body({"name": "valueSet", "resource": vs}, {"name": "validation", "resource": entry}),
    )
    assert r.status_code == 200
    (result,) = r.json["parameter"]
    assert result["resource"]["resourceType"] == "OperationOutcome"
    assert "send tx-resource beside the validation parameters" in str(result["resource"])
    # beside the entries it is used for every one of them
    entry["parameter"].pop()
    r = post(
        client,
        "/fhir/ValueSet/$batch-validate-code",
        body(
            {"name": "valueSet", "resource": vs},
            {"name": "tx-resource", "resource": cs},
            {"name": "validation", "resource": entry},
        ),
    )
    (result,) = r.json["parameter"]
    assert {"name": "result", "valueBoolean": True} in result["resource"]["parameter"]
