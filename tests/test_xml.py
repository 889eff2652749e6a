"""FHIR XML over HTTP: every kind of answer in XML, parsed back with fhir.resources; XML bodies.

Each answer is asked for twice, as JSON and as XML (``Accept:
application/fhir+xml``). The XML is parsed with the fhir.resources model of
the endpoint's release (R4B at /fhir, R5 at /r5) and must carry the same
content as the JSON answer read through the same model.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fhir.resources import get_fhir_model_class as r5_model
from fhir.resources.R4B import get_fhir_model_class as r4_model
from lxml import etree

from .conftest import ICD

XML = "application/fhir+xml"
XML_CT = "application/fhir+xml; charset=utf-8"
BILLABLE = "http://fhirterm.org/fhir/ValueSet/icd10cm-billable"
CPT_MAP = "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"
ISA = quote(f"{ICD}?fhir_vs=isa/M99.4")

# kind -> (path after the base, status); every kind of answer the endpoints give
GETS: dict[str, tuple[str, int]] = {
    "metadata": ("/metadata", 200),
    "terminology-capabilities": ("/metadata?mode=terminology", 200),
    "versions": ("/$versions", 200),
    "codesystem-read": ("/CodeSystem/icd10cm?_summary=true", 200),
    "codesystem-read-concepts": ("/CodeSystem/administrative-gender", 200),
    "codesystem-search": ("/CodeSystem", 200),
    "valueset-read": ("/ValueSet/icd10cm-billable", 200),
    "valueset-search": ("/ValueSet", 200),
    "conceptmap-read": ("/ConceptMap/icd10cm-to-cpt", 200),
    "conceptmap-search": ("/ConceptMap", 200),
    "empty-search": ("/ValueSet?url=http://example.org/none", 200),
    "paged-search": ("/CodeSystem?_count=1&_sort=url", 200),
    "count-search": ("/ValueSet?_summary=count", 200),
    "elements-search": ("/ValueSet?_elements=url,name", 200),
    "elements-read": ("/ValueSet/icd10cm-billable?_elements=url", 200),
    "lookup": (f"/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44", 200),
    "cs-validate-code": (f"/CodeSystem/$validate-code?url={quote(ICD)}&code=E11.9&display=x", 200),
    "subsumes": (f"/CodeSystem/$subsumes?system={quote(ICD)}&codeA=E11&codeB=E11.9", 200),
    "expand": (f"/ValueSet/$expand?url={ISA}", 200),
    "vs-validate-code": (
        f"/ValueSet/$validate-code?url={ISA}&system={quote(ICD)}&code=M99.44",
        200,
    ),
    "translate": (
        f"/ConceptMap/$translate?url={quote(CPT_MAP)}&system={quote(ICD)}&{{code}}=M99.44",
        200,
    ),
    "error-404-code": (f"/CodeSystem/$lookup?system={quote(ICD)}&code=NOPE", 404),
    "error-400-parameter": (f"/CodeSystem/$lookup?system={quote(ICD)}&code=E11&bogus=1", 400),
    "error-422-too-costly": (f"/ValueSet/$expand?url={quote(ICD + '?fhir_vs')}", 422),
    "error-404-resource": ("/ValueSet/no-such-id", 404),
    "error-404-route": ("/Nope", 404),
}

BASES = {"/fhir": False, "/r5": True}


def model_of(r5: bool, resource_type: str) -> Any:
    return (r5_model if r5 else r4_model)(resource_type)


def from_xml(data: bytes, r5: bool) -> dict[str, Any]:
    """An XML answer parsed back with fhir.resources, as FHIR JSON."""
    root = etree.fromstring(data)
    assert etree.QName(root).namespace == "http://hl7.org/fhir"
    model = model_of(r5, etree.QName(root).localname).model_validate_xml(data)
    parsed: dict[str, Any] = orjson.loads(model.model_dump_json())
    return parsed


def through_model(body: dict[str, Any], r5: bool) -> dict[str, Any]:
    """A JSON answer read through the same model (its normal form, for comparison)."""
    parsed: dict[str, Any] = orjson.loads(
        model_of(r5, body["resourceType"]).model_validate(body).model_dump_json()
    )
    return parsed


def _unstamped(body: dict[str, Any]) -> dict[str, Any]:
    """An expansion without its identifier and timestamp (new for each answer)."""
    if body.get("resourceType") == "ValueSet" and "expansion" in body:
        body["expansion"].pop("identifier", None)
        body["expansion"].pop("timestamp", None)
    return body


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("kind", GETS)
def test_every_answer_in_xml(full_client: Any, base: str, kind: str) -> None:
    r5 = BASES[base]
    path, status = GETS[kind]
    path = path.replace("{code}", "sourceCode" if r5 else "code")  # $translate's names differ
    as_json = full_client.get(base + path)
    as_xml = full_client.get(base + path, headers={"Accept": XML})
    assert as_json.status_code == status, as_json.data[:400]
    assert as_xml.status_code == status, as_xml.data[:600]
    assert as_xml.headers["Content-Type"] == XML_CT
    assert as_xml.headers["Vary"] == "Accept"
    assert as_xml.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    got = _unstamped(from_xml(as_xml.data, r5))
    assert got == _unstamped(through_model(as_json.json, r5))
    # _format=xml gives the same document as the Accept header (a search's links name
    # the request, an expansion has its own identifier)
    fmt = full_client.get(base + path + ("&" if "?" in path else "?") + "_format=xml")
    assert fmt.status_code == status and fmt.headers["Content-Type"] == XML_CT
    if kind != "expand" and "search" not in kind:
        assert fmt.data == as_xml.data


def test_pretty_xml(full_client: Any) -> None:
    r = full_client.get(
        f"/fhir/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44&_format=xml&_pretty=true"
    )
    assert r.status_code == 200 and r.headers["Content-Type"] == XML_CT
    assert b"\n  <parameter>" in r.data
    plain = full_client.get(f"/fhir/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44&_format=xml")
    assert from_xml(r.data, False) == from_xml(plain.data, False)


def _xml_parameters(*parts: str) -> bytes:
    return ('<Parameters xmlns="http://hl7.org/fhir">' + "".join(parts) + "</Parameters>").encode()


CS_XML = (
    '<parameter><name value="tx-resource"/><resource><CodeSystem>'
    '<url value="http://example.org/cs"/><version value="1"/><status value="active"/>'
    '<content value="complete"/><concept><code value="a"/><display value="Alpha"/></concept>'
    "</CodeSystem></resource></parameter>"
)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("accept", ["application/fhir+json", XML])
def test_xml_post_of_parameters(full_client: Any, base: str, accept: str) -> None:
    """An XML Parameters body, tx-resource included, gives the same answer as its JSON form."""
    r5 = BASES[base]
    body = _xml_parameters(
        CS_XML,
        '<parameter><name value="system"/><valueUri value="http://example.org/cs"/></parameter>',
        '<parameter><name value="code"/><valueCode value="a"/></parameter>',
    )
    ctype = "application/fhir+xml; fhirVersion=" + ("5.0" if r5 else "4.0") + ";charset=UTF-8"
    r = full_client.post(
        base + "/CodeSystem/$lookup", data=body, headers={"Content-Type": ctype, "Accept": accept}
    )
    assert r.status_code == 200, r.data[:600]
    answer = from_xml(r.data, r5) if accept == XML else r.json
    display = [p["valueString"] for p in answer["parameter"] if p["name"] == "display"]
    assert display == ["Alpha"]
    as_json = full_client.post(
        base + "/CodeSystem/$lookup",
        data=orjson.dumps(from_xml(body, r5)),
        headers={"Content-Type": "application/fhir+json", "Accept": accept},
    )
    assert as_json.data == r.data


@pytest.mark.parametrize("base", BASES)
def test_xml_post_batch_and_errors(full_client: Any, base: str) -> None:
    r5 = BASES[base]
    xml = {"Content-Type": "application/fhir+xml", "Accept": XML}
    # $batch-validate-code (POST only): a Parameters of Parameters
    body = _xml_parameters(
        f'<parameter><name value="url"/><valueUri value="{ICD}?fhir_vs"/></parameter>',
        '<parameter><name value="validation"/><resource><Parameters>'
        f'<parameter><name value="system"/><valueUri value="{ICD}"/></parameter>'
        '<parameter><name value="code"/><valueCode value="M99.44"/></parameter>'
        "</Parameters></resource></parameter>",
    )
    r = full_client.post(base + "/ValueSet/$batch-validate-code", data=body, headers=xml)
    assert r.status_code == 200, r.data[:600]
    inner = from_xml(r.data, r5)["parameter"][0]["resource"]
    assert [p["valueBoolean"] for p in inner["parameter"] if p["name"] == "result"] == [True]
    # an error of the operation: an OperationOutcome in XML
    body = _xml_parameters('<parameter><name value="code"/><valueCode value="a"/></parameter>')
    r = full_client.post(base + "/CodeSystem/$lookup", data=body, headers=xml)
    assert r.status_code == 400 and r.headers["Content-Type"] == XML_CT
    assert from_xml(r.data, r5)["resourceType"] == "OperationOutcome"


BAD_BODIES = {
    "not-well-formed": (b"<Parameters xmlns='http://hl7.org/fhir'><parameter>", "well-formed"),
    "not-fhir-namespace": (b"<Parameters><parameter/></Parameters>", "namespace"),
    "unknown-resource": (b"<Nope xmlns='http://hl7.org/fhir'/>", "not a FHIR"),
    "invalid-element": (
        b"<Parameters xmlns='http://hl7.org/fhir'><bogus value='1'/></Parameters>",
        "not an element of FHIR R4 Parameters",
    ),
    "json-as-xml": (b'{"resourceType": "Parameters"}', "well-formed"),
    "integer-too-large": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='n'/>"
        b"<valueInteger value='" + b"9" * 5000 + b"'/></parameter></Parameters>",
        "is not a FHIR int value",
    ),
    "decimal-not-a-number": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='n'/>"
        b"<valueDecimal value='NaN'/></parameter></Parameters>",
        "is not a FHIR decimal value",
    ),
    "decimal-overflow": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='n'/>"
        b"<valueDecimal value='1e999'/></parameter></Parameters>",
        "is not a FHIR decimal value",
    ),
    "boolean": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='n'/>"
        b"<valueBoolean value='yes'/></parameter></Parameters>",
        "is not a FHIR bool value",
    ),
    "text-content": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name>code</name>"
        b"</parameter></Parameters>",
        "text content is not allowed",
    ),
    "two-resources": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='r'/><resource>"
        b"<Parameters/><Parameters/></resource></parameter></Parameters>",
        "exactly one resource",
    ),
    "repeated-single": (
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='a'/>"
        b"<name value='b'/></parameter></Parameters>",
        "does not repeat",
    ),
    # billion laughs: nested internal entities, ~3 GB if expanded
    "billion-laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><Parameters xmlns='http://hl7.org/fhir'><parameter><name value='code'/>"
        b"<valueCode value='&lol9;'/></parameter></Parameters>",
        "DOCTYPE",
    ),
    # external entity (XXE): a file of the server's host
    "xxe-file": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='code'/>"
        b"<valueCode value='&x;'/></parameter></Parameters>",
        "DOCTYPE",
    ),
    # external DTD over the network
    "xxe-network": (
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
        b"<Parameters xmlns='http://hl7.org/fhir'/>",
        "DOCTYPE",
    ),
    # a parameter entity pulling a remote DTD
    "xxe-parameter-entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]>'
        b"<Parameters xmlns='http://hl7.org/fhir'/>",
        "DOCTYPE",
    ),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_xml_bodies_are_400(full_client: Any, name: str) -> None:
    data, said = BAD_BODIES[name]
    r = full_client.post(
        "/fhir/CodeSystem/$lookup",
        data=data,
        headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"},
    )
    assert r.status_code == 400, r.data[:400]
    assert r.json["resourceType"] == "OperationOutcome"
    text = r.json["issue"][0]["details"]["text"]
    assert said in text
    assert "root:" not in text and "lollol" not in text and len(r.data) < 2000


def test_invalid_answer_is_an_outcome(
    full_registry: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer the release's model rejects is a logged 500 OperationOutcome saying what failed."""
    from fhirterm.config import Settings
    from fhirterm.web import create_app, endpoints

    from .conftest import REPO

    def broken(_call: endpoints.Call) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": [{"name": "x", "valueNope": 1}]}

    monkeypatch.setitem(endpoints.OPERATIONS, ("CodeSystem", "lookup"), (broken, ("GET",)))
    app = create_app(Settings(content_dir=REPO / "codesystems"), full_registry)
    r = app.test_client().get("/fhir/CodeSystem/$lookup?code=x", headers={"Accept": XML})
    assert "cannot be written as XML" in caplog.text
    assert r.status_code == 500 and r.headers["Content-Type"] == XML_CT
    outcome = from_xml(r.data, False)
    text = outcome["issue"][0]["details"]["text"]
    assert "could not be written as FHIR XML" in text
    assert "parameter[0].valueNope is not an element of FHIR R4 ParametersParameter" in text
    assert "_format=json" in text


# Resources with what the mapping must get right: primitive extensions (single and in
# arrays, with and without a value), element ids, extension urls, a narrative, contained
# and nested resources, decimals, booleans, integers, elements out of FHIR order.
TRICKY: list[dict[str, Any]] = [
    {
        "resourceType": "CodeSystem",
        "status": "active",
        "url": "http://example.org/cs",
        "id": "tricky",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>A &amp; <b>B</b></p></div>',
        },
        "content": "complete",
        "_content": {"extension": [{"url": "http://x/e", "valueBoolean": False}]},
        "count": 2,
        "caseSensitive": True,
        "concept": [
            {
                "code": "a",
                "display": 'Alpha <&> "quoted"\nline',
                "designation": [{"value": "α", "language": "el"}],
                "property": [{"code": "weight", "valueDecimal": 1.25}],
            },
            {"code": "b", "_display": {"extension": [{"url": "http://x/d"}]}},
        ],
        "property": [{"code": "weight", "type": "decimal"}],
    },
    {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "draft",
        "contained": [{"resourceType": "CodeSystem", "status": "draft", "content": "example"}],
        "compose": {
            "include": [
                {
                    "system": "http://example.org/cs",
                    "concept": [{"code": "a"}, {"code": "b"}],
                    "filter": [{"property": "concept", "op": "is-a", "value": "a"}],
                }
            ]
        },
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "count", "valueInteger": -3},
            {"name": "flag", "valueBoolean": True},
            {"name": "when", "valueDateTime": "2026-12-06T07:00:00Z"},
            {
                "name": "nested",
                "part": [
                    {"name": "coding", "valueCoding": {"system": "http://s", "code": "c"}},
                    {
                        "name": "res",
                        "resource": {
                            "resourceType": "OperationOutcome",
                            "issue": [
                                {
                                    "severity": "error",
                                    "code": "invalid",
                                    "expression": ["a", "b"],
                                    "_expression": [
                                        None,
                                        {"extension": [{"url": "http://x", "valueCode": "y"}]},
                                    ],
                                }
                            ],
                        },
                    },
                ],
            },
        ],
    },
]


@pytest.mark.parametrize("r5", [False, True])
@pytest.mark.parametrize("index", range(len(TRICKY)))
def test_mapping_judged_by_fhir_resources(index: int, r5: bool) -> None:
    """Out: our XML read by fhir.resources' XML reader; in: fhir.resources' XML read by ours."""
    from fhirterm.wire import xml as wxml

    body = TRICKY[index]
    model = model_of(r5, body["resourceType"])
    want = through_model(body, r5)
    assert from_xml(wxml.dumps(body, r5), r5) == want
    # indenting adds whitespace inside the narrative's XHTML (insignificant there)
    pretty = from_xml(wxml.dumps(body, r5, pretty=True), r5)
    pretty.pop("text", None)
    assert pretty == {k: v for k, v in want.items() if k != "text"}
    theirs = model.model_validate(body).model_dump_xml()
    assert through_model(wxml.loads(theirs, r5), r5) == want


def test_ids_of_elements_round_trip() -> None:
    """An element's id (and a primitive's ``_name.id``) is an attribute, as FHIR's XML says.

    fhir.resources' own XML drops primitive ids and writes element ids as child
    elements, so this is checked on the XML itself and through our reader.
    """
    from fhirterm.wire import xml as wxml

    body = {
        "resourceType": "CodeSystem",
        "status": "active",
        "content": "complete",
        "_content": {"id": "c1"},
        "concept": [
            {"id": "c-b", "code": "b", "_display": {"id": "d", "extension": [{"url": "http://x"}]}}
        ],
    }
    out = wxml.dumps(body, True)
    assert b'<concept id="c-b"><code value="b"/>' in out
    assert b'<content value="complete" id="c1"/>' in out
    assert b'<display id="d"><extension url="http://x"/></display>' in out
    assert wxml.loads(out, True) == body


def test_mapping_refuses_what_the_release_does_not_define() -> None:
    from fhirterm.wire import xml as wxml

    for body, said in [
        ({"resourceType": "Nope"}, "not a FHIR R4 resource"),
        ({"resourceType": "Parameters", "parameter": {"name": "x"}}, "must be an array"),
        ({"resourceType": "Parameters", "parameter": [{"name": ["x"]}]}, "must not be an array"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "x", "valueBoolean": "yes"}]},
            "not a FHIR bool",
        ),
        ({"resourceType": "Parameters", "parameter": [{"valueString": "x"}]}, "name is required"),
        (
            {
                "resourceType": "CodeSystem",
                "status": "active",
                "content": "complete",
                "text": {"status": "generated", "div": "<p>x</p>"},
            },
            "not an XHTML div",
        ),
        ({"resourceType": "Parameters", "parameter": [{"name": "bad\x01char"}]}, "XML"),
    ]:
        with pytest.raises(wxml.XmlShapeError, match=said):
            wxml.dumps(body, False)


# Every operation by POST, its body in XML (written by fhir.resources), the answer in XML
# and JSON; an error of each.
def _coding(code: str) -> dict[str, Any]:
    return {"system": ICD, "code": code}


POSTS: dict[str, tuple[str, list[dict[str, Any]], int]] = {
    "lookup": ("/CodeSystem/$lookup", [{"name": "coding", "valueCoding": _coding("M99.44")}], 200),
    "cs-validate-code": (
        "/CodeSystem/$validate-code",
        [{"name": "url", "valueUri": ICD}, {"name": "code", "valueCode": "E11.9"}],
        200,
    ),
    "subsumes": (
        "/CodeSystem/$subsumes",
        [
            {"name": "codingA", "valueCoding": _coding("E11")},
            {"name": "codingB", "valueCoding": _coding("E11.9")},
        ],
        200,
    ),
    "expand": (
        "/ValueSet/$expand",
        [
            {
                "name": "valueSet",
                "resource": {
                    "resourceType": "ValueSet",
                    "status": "active",
                    "compose": {"include": [{"system": ICD, "concept": [{"code": "M99.44"}]}]},
                },
            }
        ],
        200,
    ),
    "vs-validate-code": (
        "/ValueSet/$validate-code",
        [
            {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
            {"name": "coding", "valueCoding": _coding("M99.44")},
        ],
        200,
    ),
    "translate": (
        "/ConceptMap/$translate",
        [
            {"name": "url", "valueUri": CPT_MAP},
            {"name": "{coding}", "valueCoding": _coding("M99.44")},
        ],
        200,
    ),
    "lookup-error": (
        "/CodeSystem/$lookup",
        [{"name": "coding", "valueCoding": _coding("NOPE")}],
        404,
    ),
    "validate-error": ("/CodeSystem/$validate-code", [{"name": "nope", "valueString": "x"}], 400),
    "expand-error": ("/ValueSet/$expand", [{"name": "url", "valueUri": f"{ICD}?fhir_vs"}], 422),
}


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("kind", POSTS)
def test_every_operation_posted_in_xml(full_client: Any, base: str, kind: str) -> None:
    r5 = BASES[base]
    path, parameters, status = POSTS[kind]
    parameters = [  # $translate's names differ between releases
        {**p, "name": ("sourceCoding" if r5 else "coding")} if p["name"] == "{coding}" else p
        for p in parameters
    ]
    body = {"resourceType": "Parameters", "parameter": parameters}
    as_xml_body = model_of(r5, "Parameters").model_validate(body).model_dump_xml()
    answers = {}
    for ctype, data in (("application/fhir+json", orjson.dumps(body)), (XML, as_xml_body)):
        for accept in ("application/fhir+json", XML):
            r = full_client.post(
                base + path, data=data, headers={"Content-Type": ctype, "Accept": accept}
            )
            assert r.status_code == status, (ctype, accept, r.data[:500])
            parsed = from_xml(r.data, r5) if accept == XML else through_model(r.json, r5)
            answers[(ctype, accept)] = _unstamped(parsed)
    first = next(iter(answers.values()))
    assert all(a == first for a in answers.values()), kind
    if status >= 400:
        assert first["resourceType"] == "OperationOutcome"
