"""Every kind of response, on every base, is a valid resource of that base's FHIR release.

``conftest.fhir_shapes`` checks each JSON or XML body any test gets from a Flask test
client; this module makes sure each kind of body is met at least once on ``/fhir``, ``/r4``
and ``/r5`` in JSON and on ``/r4`` and ``/r5`` in XML (reads, searches with and without
hits, both capability statements, ``$versions``, every operation's success and error
answers, the error path's own answers), checks them again explicitly, and checks the R4 and
R5 forms of the served ConceptMaps and ValueSets.
The tx-ecosystem suite's requests (as its runner builds them) are replayed through the
test client on ``/r4`` and ``/r5`` too, so every body that suite produces is checked.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask.testing import FlaskClient

from fhirterm.config import Settings
from fhirterm.loading import load_registry
from fhirterm.web import create_app
from fhirterm.wire import forms, opdefs

from . import shapes
from .conformance.suite import OPERATIONS as SUITE_OPERATIONS
from .conformance.suite import Suite
from .conftest import ICD, SMALL_XML

BASES = ("fhir", "r4", "r5")
MAP = "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"
CPT = "http://www.ama-assn.org/go/cpt"
BILLABLE = "http://fhirterm.org/fhir/ValueSet/icd10cm-billable"
# a small one to expand: the first expansion of the billable codes (~74,000) can exceed the
# CPU budget of a request on a loaded machine
CHAPTER_13 = "http://fhirterm.org/fhir/ValueSet/icd10cm-chapter-13"
JSON = "application/fhir+json"
XML = "application/fhir+xml"


def _params(*parts: dict[str, Any]) -> str:
    return json.dumps({"resourceType": "Parameters", "parameter": list(parts)})


# (kind, method, path under the base (or the paths at R4 and at R5), body or None, status)
REQUESTS: list[tuple[str, str, str | tuple[str, str], str | None, int]] = [
    ("capability statement", "GET", "metadata", None, 200),
    ("terminology capabilities", "GET", "metadata?mode=terminology", None, 200),
    ("metadata error", "GET", "metadata?mode=nope", None, 400),
    ("versions", "GET", "$versions", None, 200),
    ("CodeSystem read", "GET", "CodeSystem/cpt", None, 200),
    ("CodeSystem read summary", "GET", "CodeSystem/icd10cm?_summary=true", None, 200),
    ("CodeSystem read unknown", "GET", "CodeSystem/nope", None, 404),
    ("CodeSystem search", "GET", f"CodeSystem?url={CPT}", None, 200),
    ("CodeSystem search empty", "GET", "CodeSystem?url=http://nothing", None, 200),
    ("ValueSet read", "GET", "ValueSet/icd10cm-chapter-13", None, 200),
    ("ValueSet read unknown", "GET", "ValueSet/nope", None, 404),
    ("ValueSet search", "GET", "ValueSet?name=ICD10CMChapter", None, 200),
    ("ValueSet search empty", "GET", "ValueSet?url=http://nothing", None, 200),
    ("ConceptMap read", "GET", "ConceptMap/icd10cm-to-cpt", None, 200),
    ("ConceptMap search", "GET", f"ConceptMap?url={MAP}", None, 200),
    ("ConceptMap search empty", "GET", "ConceptMap?url=http://nothing", None, 200),
    ("search error", "GET", "ConceptMap?_count=abc", None, 400),
    ("search ignoring a parameter", "GET", "ConceptMap?bogus=1", None, 200),
    ("search page", "GET", "ValueSet?_count=2&_offset=2&_elements=url", None, 200),
    ("search summary", "GET", "ValueSet?_summary=count", None, 200),
    ("read summary", "GET", "ConceptMap/icd10cm-to-cpt?_summary=true", None, 200),
    ("lookup", "GET", f"CodeSystem/$lookup?system={ICD}&code=M99.44", None, 200),
    (
        "lookup POST",
        "POST",
        "CodeSystem/$lookup",
        _params({"name": "system", "valueUri": ICD}, {"name": "code", "valueCode": "M99.4"}),
        200,
    ),
    ("lookup unknown code", "GET", f"CodeSystem/$lookup?system={ICD}&code=NOPE", None, 404),
    ("lookup error", "GET", "CodeSystem/$lookup?code=M99.4", None, 400),
    ("cs validate-code", "GET", f"CodeSystem/$validate-code?url={ICD}&code=M99.44", None, 200),
    (
        "cs validate-code false",
        "GET",
        f"CodeSystem/$validate-code?url={ICD}&code=M99.4&display=wrong",
        None,
        200,
    ),
    ("cs validate-code error", "GET", f"CodeSystem/$validate-code?url={ICD}&bogus=1", None, 400),
    ("subsumes", "GET", f"CodeSystem/$subsumes?system={ICD}&codeA=M99&codeB=M99.4", None, 200),
    ("subsumes error", "GET", f"CodeSystem/$subsumes?system={ICD}&codeA=M99", None, 400),
    ("expand", "GET", f"ValueSet/$expand?url={CHAPTER_13}&count=3", None, 200),
    (
        "expand with properties and definition",
        "GET",
        "ValueSet/icd10cm-chapter-13/$expand?count=2&property=parent&includeDefinition=true",
        None,
        200,
    ),
    (
        "expand empty",
        "GET",
        f"ValueSet/$expand?url={quote(ICD + '?fhir_vs')}&filter=zzqx",
        None,
        200,
    ),
    ("expand error", "GET", "ValueSet/$expand?url=http://nothing", None, 404),
    (
        "vs validate-code",
        "GET",
        f"ValueSet/$validate-code?url={BILLABLE}&system={ICD}&code=M99.44",
        None,
        200,
    ),
    (
        "vs validate-code false",
        "GET",
        f"ValueSet/$validate-code?url={BILLABLE}&system={ICD}&code=M99",
        None,
        200,
    ),
    ("vs validate-code error", "GET", f"ValueSet/$validate-code?url={BILLABLE}", None, 400),
    (
        "batch-validate-code",
        "POST",
        "ValueSet/$batch-validate-code",
        _params(
            {"name": "url", "valueUri": BILLABLE},
            {
                "name": "validation",
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "system", "valueUri": ICD},
                        {"name": "code", "valueCode": "M99.44"},
                    ],
                },
            },
            {
                "name": "validation",
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "code", "valueCode": "M99.44"}],
                },
            },
        ),
        200,
    ),
    # $translate takes R4's parameter names at R4 (and R5's too), R5's at R5
    (
        "translate",
        "GET",
        (
            f"ConceptMap/$translate?url={MAP}&system={ICD}&code=M99.44",
            f"ConceptMap/$translate?url={MAP}&sourceSystem={ICD}&sourceCode=M99.44",
        ),
        None,
        200,
    ),
    (
        "translate R5 names",
        "GET",
        f"ConceptMap/$translate?url={MAP}&sourceSystem={ICD}&sourceCode=M99.44",
        None,
        200,
    ),
    (
        "translate reverse",
        "GET",
        (
            f"ConceptMap/$translate?system={CPT}&code=63011&reverse=true",
            f"ConceptMap/$translate?targetSystem={CPT}&targetCode=63011",
        ),
        None,
        200,
    ),
    (
        "translate none",
        "GET",
        (
            f"ConceptMap/$translate?url={MAP}&system={ICD}&code=A00.0",
            f"ConceptMap/$translate?url={MAP}&sourceSystem={ICD}&sourceCode=A00.0",
        ),
        None,
        200,
    ),
    (
        "translate error",
        "GET",
        (
            f"ConceptMap/$translate?url={MAP}&system={ICD}",
            f"ConceptMap/$translate?url={MAP}&sourceSystem={ICD}",
        ),
        None,
        400,
    ),
    ("OperationDefinition unknown", "GET", "OperationDefinition/nope", None, 404),
    ("unknown route", "GET", "Patient/1", None, 404),
    ("method not allowed", "DELETE", "CodeSystem/$lookup", None, 405),
    ("bad body", "POST", "CodeSystem/$lookup", "{not json", 400),
]


# JSON on every base; XML (the same bodies through fhir.resources' serialiser, slow for the
# large ones) on one base of each release
FORMATS = [(b, JSON) for b in BASES] + [("r4", XML), ("r5", XML)]


def _send(
    client: FlaskClient, base: str, method: str, path: str, body: str | None, accept: str = JSON
) -> Any:
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = JSON
    return client.open(f"/{base}/{path}", method=method, data=body, headers=headers)


def _problems(resp: Any, base: str) -> list[str]:
    release = shapes.release_of(f"/{base}") or ""
    if resp.mimetype == XML:
        return shapes.xml_problems(resp.get_data(), release)
    return shapes.problems(json.loads(resp.get_data()), release)


@pytest.mark.full
@pytest.mark.parametrize(
    ("base", "accept"), FORMATS, ids=[f"{b}-{a.rsplit('+', 1)[1]}" for b, a in FORMATS]
)
@pytest.mark.parametrize(
    ("kind", "method", "path", "body", "status"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
def test_every_kind_of_response_is_valid(
    full_client: FlaskClient,
    base: str,
    accept: str,
    kind: str,
    method: str,
    path: str | tuple[str, str],
    body: str | None,
    status: int,
) -> None:
    if isinstance(path, tuple):
        path = path[base == "r5"]
    r = _send(full_client, base, method, path, body, accept)
    assert r.status_code == status, (kind, r.get_data()[:500])
    assert r.mimetype == accept
    assert _problems(r, base) == []


@pytest.mark.parametrize(
    ("base", "accept"), FORMATS, ids=[f"{b}-{a.rsplit('+', 1)[1]}" for b, a in FORMATS]
)
def test_every_operation_definition_is_valid(client: FlaskClient, base: str, accept: str) -> None:
    ids = opdefs.by_id(base == "r5")
    assert len(ids) >= 7
    for id_ in ids:
        r = client.get(f"/{base}/OperationDefinition/{id_}", headers={"Accept": accept})
        assert r.status_code == 200 and r.mimetype == accept
        assert _problems(r, base) == [], id_


@pytest.mark.parametrize("base", BASES)
def test_search_by_post_is_valid(client: FlaskClient, base: str) -> None:
    r = client.post(f"/{base}/ValueSet/_search", data={"_count": "1"})
    assert r.status_code == 200 and _problems(r, base) == []


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(
    ("accept", "ctype", "status"),
    [("text/html", None, 406), (JSON, "text/plain", 415)],
)
def test_negotiation_errors_are_valid(
    client: FlaskClient, base: str, accept: str, ctype: str | None, status: int
) -> None:
    headers = {"Accept": accept}
    if ctype:
        headers["Content-Type"] = ctype
    method = "POST" if ctype else "GET"
    r = client.open(f"/{base}/CodeSystem/$lookup", method=method, data="x", headers=headers)
    assert r.status_code == status
    assert _problems(r, base) == []


# -- the forms of the resources -------------------------------------------------------------


@pytest.mark.full
def test_conceptmap_is_r5_at_r5_and_r4_elsewhere(full_client: FlaskClient) -> None:
    r5 = full_client.get("/r5/ConceptMap/icd10cm-to-cpt").json
    r4 = full_client.get("/r4/ConceptMap/icd10cm-to-cpt").json
    assert full_client.get("/fhir/ConceptMap/icd10cm-to-cpt").json == r4
    t5 = r5["group"][0]["element"][0]["target"][0]
    t4 = r4["group"][0]["element"][0]["target"][0]
    assert t5["relationship"] == "related-to" and "equivalence" not in t5
    assert "_relationship" not in t5  # relatedto and related-to are the same
    assert t4["equivalence"] == "relatedto" and "relationship" not in t4
    assert r5["group"][0]["source"] == f"{ICD}|{r4['group'][0]['sourceVersion']}"
    assert "sourceVersion" not in r5["group"][0]
    search = full_client.get(f"/r5/ConceptMap?url={MAP}").json
    assert search["entry"][0]["resource"] == r5


R4_MAP = {
    "resourceType": "ConceptMap",
    "id": "r4-map",
    "url": "http://example.org/ConceptMap/r4-map",
    "version": "1",
    "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"},
    "status": "active",
    "sourceUri": "http://example.org/ValueSet/src",
    "targetCanonical": "http://example.org/ValueSet/tgt",
    "group": [
        {
            "source": "http://example.org/cs-a",
            "sourceVersion": "2",
            "target": "http://example.org/cs-b",
            "element": [
                {
                    "code": "a1",
                    "target": [
                        {
                            "code": "b1",
                            "equivalence": "wider",
                            "dependsOn": [
                                {
                                    "property": "http://example.org/prop",
                                    "system": "http://example.org/cs-c",
                                    "value": "c1",
                                    "display": "C one",
                                }
                            ],
                            "product": [{"property": "http://example.org/p2", "value": "text"}],
                        }
                    ],
                },
                {"code": "a2", "target": [{"equivalence": "unmatched", "comment": "no b"}]},
            ],
            "unmapped": {"mode": "other-map", "url": "http://example.org/ConceptMap/other"},
        },
        {
            "source": "http://example.org/cs-a",
            "target": "http://example.org/cs-d",
            "element": [{"code": "a1", "target": [{"code": "d1", "equivalence": "inexact"}]}],
            "unmapped": {"mode": "provided"},
        },
    ],
}

R5_MAP = {
    "resourceType": "ConceptMap",
    "id": "r5-map",
    "url": "http://example.org/ConceptMap/r5-map",
    "version": "1",
    "identifier": [{"value": "first"}, {"value": "second"}],
    "status": "active",
    "versionAlgorithmString": "semver",
    "copyrightLabel": "Example",
    "author": [{"name": "Ann"}],
    "property": [{"code": "weight", "type": "decimal"}],
    "additionalAttribute": [{"code": "age", "type": "code"}],
    "sourceScopeUri": "http://example.org/ValueSet/src",
    "targetScopeCanonical": "http://example.org/ValueSet/tgt|3",
    "group": [
        {
            "source": "http://example.org/cs-a|2",
            "target": "http://example.org/cs-b",
            "element": [
                {
                    "code": "a1",
                    "target": [
                        {
                            "code": "b1",
                            "relationship": "source-is-broader-than-target",
                            "property": [{"code": "weight", "valueDecimal": 0.5}],
                            "dependsOn": [
                                {
                                    "attribute": "age",
                                    "valueCoding": {
                                        "system": "http://example.org/cs-c",
                                        "code": "c1",
                                    },
                                }
                            ],
                            "product": [{"attribute": "age", "valueString": "adult"}],
                        }
                    ],
                },
                {"code": "a2", "noMap": True},
                {"code": "a3", "valueSet": "http://example.org/ValueSet/a3"},
            ],
            "unmapped": {
                "mode": "use-source-code",
                "relationship": "equivalent",
                "valueSet": "http://example.org/ValueSet/rest",
            },
        }
    ],
}

R5_VS = {
    "resourceType": "ValueSet",
    "id": "r5-vs",
    "url": "http://example.org/ValueSet/r5-vs",
    "status": "active",
    "versionAlgorithmCoding": {
        "system": "http://hl7.org/fhir/version-algorithm",
        "code": "semver",
    },
    "approvalDate": "2026-01-01",
    "topic": [{"text": "examples"}],
    "scope": {"inclusionCriteria": "all of them"},
    "compose": {
        "property": ["parent"],
        "include": [
            {
                "system": ICD,
                "copyright": "CDC",
                "concept": [
                    {
                        "code": "M99.44",
                        "designation": [
                            {
                                "value": "Sacral stenosis",
                                "additionalUse": [
                                    {
                                        "system": "http://snomed.info/sct",
                                        "code": "900000000000013009",
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    },
}


@pytest.fixture(scope="module")
def forms_client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    """A server whose content holds a ConceptMap written in R4, one in R5, an R5 ValueSet."""
    content = tmp_path_factory.mktemp("forms")
    for res in (R4_MAP, R5_MAP, R5_VS):
        (content / f"{res['id']}.json").write_text(json.dumps(res))
    settings = Settings(content_dir=content, icd10cm=(str(SMALL_XML),))  # type: ignore[arg-type]
    return create_app(settings, load_registry(settings)).test_client()


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(
    "path", ["ConceptMap/r4-map", "ConceptMap/r5-map", "ValueSet/r5-vs", "ConceptMap", "ValueSet"]
)
def test_content_of_either_release_is_served_in_the_bases_form(
    forms_client: FlaskClient, base: str, path: str
) -> None:
    r = forms_client.get(f"/{base}/{path}")
    assert r.status_code == 200
    assert _problems(r, base) == []


def test_r4_conceptmap_at_r5(forms_client: FlaskClient) -> None:
    cm = forms_client.get("/r5/ConceptMap/r4-map").json
    assert cm["identifier"] == [R4_MAP["identifier"]]
    assert cm["sourceScopeUri"] == R4_MAP["sourceUri"]
    assert cm["targetScopeCanonical"] == R4_MAP["targetCanonical"]
    g = cm["group"][0]
    assert g["source"] == "http://example.org/cs-a|2" and "sourceVersion" not in g
    t = g["element"][0]["target"][0]
    assert t["relationship"] == "source-is-narrower-than-target"
    assert t["dependsOn"] == [
        {
            "attribute": "http://example.org/prop",
            "valueCoding": {"system": "http://example.org/cs-c", "code": "c1", "display": "C one"},
        }
    ]
    assert t["product"] == [{"attribute": "http://example.org/p2", "valueString": "text"}]
    nomap = g["element"][1]
    assert nomap["noMap"] is True and "target" not in nomap
    assert nomap["extension"][0]["valueString"] == "no b"
    assert g["unmapped"] == {"mode": "other-map", "otherMap": "http://example.org/ConceptMap/other"}
    assert cm["group"][1]["unmapped"] == {"mode": "use-source-code"}
    inexact = cm["group"][1]["element"][0]["target"][0]
    assert inexact["relationship"] == "related-to"
    assert inexact["_relationship"]["extension"] == [
        {"url": forms.OLD_EQUIVALENCE, "valueCode": "inexact"}
    ]
    assert forms_client.get("/r4/ConceptMap/r4-map").json == R4_MAP
    # R4 -> R5 -> R4 gives the map back (the R4 equivalence and the unmatched target's
    # comment ride in the converter's extensions)
    assert forms.concept_map_r4(cm) == R4_MAP


def test_r5_conceptmap_at_r4(forms_client: FlaskClient) -> None:
    cm = forms_client.get("/r4/ConceptMap/r5-map").json
    assert cm["identifier"] == {"value": "first"}
    assert cm["sourceUri"] == R5_MAP["sourceScopeUri"]
    assert cm["targetCanonical"] == R5_MAP["targetScopeCanonical"]
    urls = {e["url"].rsplit("-", 1)[-1] for e in cm["extension"]}
    assert urls >= {
        "ConceptMap.versionAlgorithm[x]",
        "ConceptMap.copyrightLabel",
        "ConceptMap.author",
        "ConceptMap.property",
        "ConceptMap.additionalAttribute",
    }
    g = cm["group"][0]
    assert (g["source"], g["sourceVersion"]) == ("http://example.org/cs-a", "2")
    t = g["element"][0]["target"][0]
    assert t["equivalence"] == "narrower"
    assert t["dependsOn"] == [
        {"property": "age", "system": "http://example.org/cs-c", "value": "c1"}
    ]
    assert t["product"] == [{"property": "age", "value": "adult"}]
    assert t["extension"][0]["url"].endswith("ConceptMap.group.element.target.property")
    assert g["element"][1]["target"] == [{"equivalence": "unmatched"}]
    assert g["element"][2]["extension"][0]["valueCanonical"] == "http://example.org/ValueSet/a3"
    assert g["unmapped"]["mode"] == "provided"
    assert len(g["unmapped"]["extension"]) == 2
    # the R5 form is served as written
    assert forms_client.get("/r5/ConceptMap/r5-map").json == R5_MAP


def _matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    """$translate's matches: part name -> value."""
    return [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in m["part"]}
        for m in body["parameter"]
        if m["name"] == "match"
    ]


@pytest.mark.parametrize("base", BASES)
def test_translate_reads_maps_of_either_release(forms_client: FlaskClient, base: str) -> None:
    """R5's versioned group canonicals and sourceScope[x] mean what R4's sourceVersion and
    source[x] mean."""
    r5 = base == "r5"
    op = f"/{base}/ConceptMap/$translate?"
    cm = "url=http://example.org/ConceptMap/r5-map&"
    a1 = (
        "sourceSystem=http://example.org/cs-a&sourceCode=a1"
        if r5
        else "system=http://example.org/cs-a&code=a1"
    )
    b1 = (
        "targetSystem=http://example.org/cs-b&targetCode=b1"
        if r5
        else "system=http://example.org/cs-b&code=b1&reverse=true"
    )
    (fwd,) = _matches(forms_client.get(op + cm + a1).json)
    assert fwd["concept"] == {"system": "http://example.org/cs-b", "code": "b1"}
    (rev,) = _matches(forms_client.get(op + cm + b1).json)
    # in reverse R4 answers with the concept mapped from, R5 with the link's source
    assert rev["source" if r5 else "concept"] == {
        "system": "http://example.org/cs-a",
        "version": "2",
        "code": "a1",
    }
    # by scope: the R4 map (sourceUri) and the R5 map (sourceScopeUri) both state it
    scope = "sourceScope" if r5 else "source"
    found = _matches(forms_client.get(f"{op}{scope}=http://example.org/ValueSet/src&{a1}").json)
    maps = {str(m.get("originMap", m.get("source"))).split("|")[0] for m in found}
    assert maps == {"http://example.org/ConceptMap/r4-map", "http://example.org/ConceptMap/r5-map"}


def test_r5_valueset_at_r4(forms_client: FlaskClient) -> None:
    vs = forms_client.get("/r4/ValueSet/r5-vs").json
    for key in ("versionAlgorithmCoding", "approvalDate", "topic", "scope"):
        assert key not in vs
    assert len(vs["extension"]) == 4
    inc = vs["compose"]["include"][0]
    assert "copyright" not in inc and inc["extension"][0]["valueString"] == "CDC"
    d = inc["concept"][0]["designation"][0]
    assert (
        "additionalUse" not in d
        and d["extension"][0]["valueCoding"]["code"] == "900000000000013009"
    )
    assert vs["compose"]["extension"][0]["valueString"] == "parent"
    # $expand with includeDefinition repeats the compose in R4 form at R4
    r = forms_client.get("/r4/ValueSet/r5-vs/$expand?includeDefinition=true")
    assert r.status_code == 200, r.json
    assert "copyright" not in r.json["compose"]["include"][0]
    assert forms_client.get("/r5/ValueSet/r5-vs").json == R5_VS


# -- the checker itself and the tx-ecosystem suite ---------------------------------------------


def test_the_checker_finds_what_fhir_forbids() -> None:
    assert shapes.empties({"a": [], "b": {}, "c": "", "d": None, "e": [{"f": 1}]}) == [
        "$.a",
        "$.b",
        "$.c",
        "$.d",
    ]
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    assert shapes.problems(bundle, "r4") == ["empty or null value at $.entry"]
    r4_link = {"code": "b", "equivalence": "wider"}
    cm = {
        "resourceType": "ConceptMap",
        "status": "active",
        "group": [{"element": [{"code": "a", "target": [r4_link]}]}],
    }
    assert shapes.problems(cm, "r4") == []
    assert "equivalence" in shapes.problems(cm, "r5")[0]
    tc = {
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "codeSystem": [{"uri": ICD}],
    }
    assert shapes.problems(tc, "r4") == []
    assert "content" in shapes.problems(tc, "r5")[0]
    with pytest.raises(AssertionError, match="GET /r4/x: empty or null value at"):
        shapes.check("GET", "/r4/x", JSON, json.dumps(bundle).encode())
    shapes.check("GET", "/healthz", JSON, json.dumps(bundle).encode())  # not a FHIR base
    # conftest's hooks are installed: the Flask test client and requests (live servers)
    assert FlaskClient.open.__name__ == "checked"
    assert requests.Session.send.__name__ == "checked_send"


SUITE = Suite()


@pytest.mark.full
@pytest.mark.skipif(not SUITE.exists(), reason=f"tx-ecosystem suite not found at {SUITE.folder}")
@pytest.mark.parametrize(("base", "version"), [("r5", "5.0.0"), ("r4", "4.0.1")])
def test_every_body_of_the_tx_ecosystem_suite_is_valid(
    full_client: FlaskClient, base: str, version: str
) -> None:
    """The suite's requests, as its runner builds them (tests/conformance/suite.py), through
    the test client; each body is checked (by the hook, and here to list every failure)."""
    modes = frozenset({"general"})
    unchecked = FlaskClient.open.__wrapped__  # type: ignore[attr-defined]  # to list them all
    bad: list[str] = []
    cases = SUITE.select(modes, version)
    for case in cases:
        if case.operation not in SUITE_OPERATIONS:
            continue
        method, path, _ = SUITE_OPERATIONS[case.operation]
        r = unchecked(
            full_client,
            f"/{base}/{path}" if path else f"/{base}",
            method=method,
            data=SUITE.request_body(case, modes),
            headers=SUITE.headers(case, modes),
        )
        if not r.get_data():
            continue
        found = _problems(r, base)
        if found:
            bad.append(f"{case.id}: {found}")
    assert len(cases) > 100
    assert bad == []
