"""Hostile input, the quick cases of formats: XML bodies and large answers.

Beside tests/test_hostile.py (the limits of the operations): what an XML body
or a read's format can make a worker do is bounded too.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhirterm.registry import Registry
from fhirterm.web import create_app
from fhirterm.wire import xml as wxml

from .conftest import ICD, small_settings

XML_IN = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
ROOT = (
    b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='system'/>"
    b"<valueUri value='http://hl7.org/fhir/sid/icd-10-cm'/></parameter>"
    b"<parameter><name value='code'/><valueCode value='M99.44'/></parameter></Parameters>"
)


@pytest.mark.parametrize("before", [b"<!--a-->", b"<?a b?>", b"<!-- a - b > c -->\n "])
def test_comments_before_the_root_are_read_in_linear_time(client: Any, before: bytes) -> None:
    """The DOCTYPE check looked for a DOCTYPE after comments and processing instructions
    with a pattern whose comment could span the next one: k comments before a root were
    tried in 2^k ways (22 comments held a worker 2.5 s of CPU; these 64 would hold it
    for centuries). Now each is matched once: the body is read, and a DOCTYPE after as
    many is still refused."""
    r = client.post("/fhir/CodeSystem/$lookup", data=before * 64 + ROOT, headers=XML_IN)
    assert r.status_code == 200, r.data[:400]
    r = client.post(
        "/fhir/CodeSystem/$lookup", data=before * 64 + b"<!DOCTYPE r>" + ROOT, headers=XML_IN
    )
    assert r.status_code == 400
    assert "DOCTYPE" in r.json["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    "where", ["<parameter {}/>", "<parameter><name value='x' {}/></parameter>"]
)
def test_many_attributes_are_refused_at_the_first(client: Any, where: str) -> None:
    """50,000 attributes on one element (a 540 kB body) took 11 s of CPU: lxml's
    ``attrib.items()`` looks every value up by name. The names are checked first now;
    these 60,000 would take about 16 s before."""
    attributes = " ".join(f"a{i}='1'" for i in range(60_000))
    body = b"<Parameters xmlns='http://hl7.org/fhir'>" + where.format(attributes).encode()
    r = client.post("/fhir/CodeSystem/$lookup", data=body + b"</Parameters>", headers=XML_IN)
    assert r.status_code == 400, r.data[:400]
    assert "attribute 'a0' is not allowed here" in r.json["issue"][0]["details"]["text"]


@pytest.fixture(scope="module")
def limited(small_registry: Registry) -> Any:
    """A client of the small content with small limits of formats."""
    settings = small_settings(xml_max_elements=40, read_max_concepts=10)
    return create_app(settings, small_registry).test_client()


def _parameters(n: int) -> bytes:
    parts = b"<parameter><name value='x'/><part><name value='y'/><valueString value='z'/></part>"
    return ROOT[: -len(b"</Parameters>")] + parts + b"<part/>" * n + b"</parameter></Parameters>"


def test_xml_elements_are_limited(limited: Any) -> None:
    """1.4 million ``<part/>`` (a 9.8 MB body) took a worker 3.1 s of CPU to read into
    JSON and left it 170 MB larger; the start tags of an XML body are counted before it
    is parsed, and more than FHIRTERM_XML_MAX_ELEMENTS are refused."""
    r = limited.post("/fhir/CodeSystem/$lookup", data=_parameters(20), headers=XML_IN)
    assert r.status_code == 400  # read: the empty part is the error
    assert "part[1] must be an object with a name" in r.json["issue"][0]["details"]["text"]
    r = limited.post("/fhir/CodeSystem/$lookup", data=_parameters(40), headers=XML_IN)
    assert r.status_code == 422, r.json
    assert r.json["issue"][0]["code"] == "too-costly"
    text = r.json["issue"][0]["details"]["text"]
    assert "more than 40 elements" in text and "FHIRTERM_XML_MAX_ELEMENTS" in text


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "path",
    [
        "/fhir/CodeSystem/icd10cm?_summary=false",
        "/fhir/CodeSystem/icd10cm?_elements=concept",
        "/r5/CodeSystem/icd10cm?_summary=data",
        "/fhir/CodeSystem?_summary=false",
        "/fhir/CodeSystem/_search",
    ],
)
def test_a_read_with_more_concepts_than_the_limit_is_too_costly(
    limited: Any, path: str, fmt: str
) -> None:
    """The full ICD-10-CM CodeSystem (98,186 concepts) as JSON took 1 s of CPU and left a
    worker ~130 MB larger; as XML 9 s and ~440 MB. A code system with more concepts than
    FHIRTERM_READ_MAX_CONCEPTS is not rendered with them: 422 saying how to page them."""
    if path.endswith("_search"):
        r = limited.post(f"{path}?_format={fmt}", data={"_summary": "false"})
    else:
        r = limited.get(f"{path}&_format={fmt}")
    assert r.status_code == 422, r.data[:300]
    body = r.json if fmt == "json" else wxml.loads(r.data, path.startswith("/r5"))
    issue = body["issue"][0]
    assert issue["code"] == "too-costly"
    text = issue["details"]["text"]
    assert "FHIRTERM_READ_MAX_CONCEPTS" in text and "more than the 10 " in text, text
    assert f"ValueSet/$expand?url={ICD}?fhir_vs&count=1000&offset=0" in text


def test_reads_within_the_limit_keep_their_concepts(limited: Any) -> None:
    # the description of a large code system, and a small one whole
    r = limited.get("/fhir/CodeSystem/icd10cm")
    assert r.status_code == 200 and "concept" not in r.json
    r = limited.get("/fhir/CodeSystem?_summary=true")
    assert r.status_code == 200 and r.json["total"] >= 2
    r = limited.get("/fhir/CodeSystem/test-colors?_summary=false&_format=xml")
    assert r.status_code == 200
    assert len(wxml.loads(r.data, False)["concept"]) == 2
