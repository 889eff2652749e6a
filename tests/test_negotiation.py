"""Content negotiation over real HTTP: Accept headers, _format, _pretty, fhirVersion, charset.

The header sets are the ones real clients send, copied from their source:

- HL7 Java tooling client (org.hl7.fhir.core, used by the FHIR validator, the IG
  Publisher and the ecosystem suite's TxTester): ``FHIRBaseToolingClient.withVer``
  appends ``"; fhirVersion=" + version`` to the format, and the R4 and R5
  ``FHIRToolingClient`` call it with "4.0" and "5.0" on every request;
  ``network/FhirRequestBuilder.getResourceFormatHeaders`` sends that as Accept and,
  on POST, ``format + ";charset=" + "UTF-8"`` as Content-Type.
- HAPI FHIR's generic client (hapi-fhir-base ``ca.uhn.fhir.rest.api.Constants``):
  ``HEADER_ACCEPT_VALUE_XML_OR_JSON_NON_LEGACY`` =
  ``application/fhir+xml;q=1.0, application/fhir+json;q=1.0,
  application/xml+fhir;q=0.9, application/json+fhir;q=0.9``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from fhirterm.web import negotiation as neg

from .conftest import ICD
from .test_xml import from_xml

JSON_CT = "application/fhir+json; charset=utf-8"
XML_CT = "application/fhir+xml; charset=utf-8"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JAVA_R4 = "application/fhir+json; fhirVersion=4.0"
JAVA_R5 = "application/fhir+json; fhirVersion=5.0"
HAPI = (
    "application/fhir+xml;q=1.0, application/fhir+json;q=1.0, "
    "application/xml+fhir;q=0.9, application/json+fhir;q=0.9"
)

# (base, Accept header or None, extra query, status, Content-Type of the answer)
TABLE: list[tuple[str, str | None, str, int, str]] = [
    ("/fhir", None, "", 200, JSON_CT),
    ("/fhir", "*/*", "", 200, JSON_CT),
    ("/fhir", "application/fhir+json", "", 200, JSON_CT),
    ("/fhir", "application/json", "", 200, JSON_CT),
    ("/fhir", "application/json+fhir", "", 200, JSON_CT),
    ("/fhir", "application/fhir+json; charset=utf-8", "", 200, JSON_CT),
    ("/fhir", "application/fhir+json; charset=UTF-8", "", 200, JSON_CT),
    ("/fhir", JAVA_R4, "", 200, "application/fhir+json; fhirVersion=4.0; charset=utf-8"),
    ("/r4", JAVA_R4, "", 200, "application/fhir+json; fhirVersion=4.0; charset=utf-8"),
    ("/r5", JAVA_R5, "", 200, "application/fhir+json; fhirVersion=5.0; charset=utf-8"),
    ("/fhir", "application/fhir+json; fhirVersion=4.0.1", "", 200, JAVA_R4 + "; charset=utf-8"),
    ("/fhir", JAVA_R5, "", 406, JSON_CT),
    ("/r4", JAVA_R5, "", 406, JSON_CT),
    ("/r5", JAVA_R4, "", 406, JSON_CT),
    ("/fhir", "application/fhir+json; fhirVersion=3.0", "", 406, JSON_CT),
    ("/fhir", HAPI, "", 200, JSON_CT),
    ("/r5", HAPI, "", 200, JSON_CT),
    ("/fhir", "application/fhir+json;q=0.5, text/html;q=1.0", "", 200, JSON_CT),
    ("/fhir", "application/fhir+xml", "", 200, XML_CT),
    ("/r5", "application/fhir+xml", "", 200, XML_CT),
    ("/fhir", "application/xml", "", 200, XML_CT),
    ("/fhir", "application/xml+fhir", "", 200, XML_CT),
    ("/fhir", "text/xml", "", 200, XML_CT),
    (
        "/fhir",
        "application/fhir+xml; fhirVersion=4.0",
        "",
        200,
        "application/fhir+xml; fhirVersion=4.0; charset=utf-8",
    ),
    ("/r5", "application/fhir+xml; fhirVersion=4.0", "", 406, JSON_CT),
    ("/fhir", "application/fhir+json;q=0.5, application/fhir+xml", "", 200, XML_CT),
    ("/fhir", "application/fhir+json;q=0, */*", "", 200, XML_CT),
    ("/fhir", BROWSER, "", 200, XML_CT),
    ("/fhir", "text/html", "", 406, JSON_CT),
    ("/fhir", "application/fhir+json; charset=iso-8859-1", "", 406, JSON_CT),
    ("/fhir", "application/fhir+json;q=0", "", 406, JSON_CT),
    ("/fhir", "text/html", "_format=json", 200, JSON_CT),
    ("/fhir", None, "_format=application/fhir%2Bjson", 200, JSON_CT),
    (
        "/fhir",
        None,
        "_format=" + quote(JAVA_R4),
        200,
        "application/fhir+json; fhirVersion=4.0; charset=utf-8",
    ),
    ("/fhir", None, "_format=" + quote(JAVA_R5), 406, JSON_CT),
    ("/fhir", None, "_format=html", 406, JSON_CT),
    ("/fhir", None, "_format=xml", 200, XML_CT),
    ("/r5", "application/fhir+json", "_format=xml", 200, XML_CT),
    ("/fhir", None, "_format=text/xml", 200, XML_CT),
    ("/fhir", None, "_format=application/fhir%2Bxml", 200, XML_CT),
    ("/fhir", None, "_format=xml&_pretty=true", 200, XML_CT),
    ("/fhir", None, "_pretty=true", 200, JSON_CT),
    ("/fhir", None, "_pretty=false", 200, JSON_CT),
    ("/fhir", None, "_pretty=yes", 400, JSON_CT),
]

# one path of each kind: an operation (the fast path and the response cache), the
# capability statement, a read and a search (Flask)
PATHS = {
    "operation": f"/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44",
    "metadata": "/metadata",
    "terminology-capabilities": "/metadata?mode=terminology",
    "codesystem-read": "/CodeSystem/icd10cm?_summary=true",
    "valueset-search": "/ValueSet",
}


def _get(url: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names in lower case) and body of a GET."""
    req = urllib.request.Request(url, headers={} if accept is None else {"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _url(root: str, base: str, path: str, extra: str) -> str:
    sep = "&" if "?" in path else "?"
    return f"{root}{base}{path}{sep + extra if extra else ''}"


@pytest.mark.parametrize(("base", "accept", "extra", "status", "ctype"), TABLE)
def test_header_sets_over_http(
    live_server: str, base: str, accept: str | None, extra: str, status: int, ctype: str
) -> None:
    root = live_server.removesuffix("/fhir")
    for kind, path in PATHS.items():
        url = _url(root, base, path, extra)
        # three times: the response cache stores an answer the second time and replays it
        answers = [_get(url, accept) for _ in range(3 if kind == "operation" else 1)]
        for got, headers, body in answers:
            assert (got, headers["content-type"]) == (status, ctype), (kind, url, body[:300])
            assert headers["vary"] == "Accept", kind
            if ctype.startswith("application/fhir+xml"):
                parsed = from_xml(body, base == "/r5")
                if "_pretty=true" in extra:
                    assert b">\n  <" in body, kind
            else:
                parsed = orjson.loads(body)
                if "_pretty=true" in extra:
                    assert body.startswith(b'{\n  "resourceType"'), kind
                elif status == 200:
                    assert b"\n" not in body, kind
            if status >= 400:
                assert parsed["resourceType"] == "OperationOutcome"
                text = parsed["issue"][0]["details"]["text"]
                if "fhirVersion=" in (accept or "") + extra and status == 406:
                    assert f"serves FHIR {'5.0' if base == '/r5' else '4.0'}" in text
        assert len({(h["content-type"], b) for _, h, b in answers}) == 1, kind


def test_post_content_type_parameters(live_server: str) -> None:
    """POST bodies with the HL7 Java client's Content-Type (format + ';charset=UTF-8')."""
    root = live_server.removesuffix("/fhir")
    body = orjson.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "system", "valueUri": ICD},
                {"name": "code", "valueCode": "M99.44"},
            ],
        }
    )

    def post(base: str, ctype: str, accept: str) -> tuple[int, str, Any]:
        req = urllib.request.Request(
            f"{root}{base}/CodeSystem/$lookup",
            data=body,
            headers={"Content-Type": ctype, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers["Content-Type"], orjson.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.headers["Content-Type"], orjson.loads(e.read())

    status, ctype, answer = post("/fhir", JAVA_R4 + ";charset=UTF-8", JAVA_R4)
    assert (status, ctype) == (200, JAVA_R4 + "; charset=utf-8")
    assert answer["resourceType"] == "Parameters"
    status, ctype, answer = post("/r5", JAVA_R5 + ";charset=UTF-8", JAVA_R5)
    assert (status, answer["resourceType"]) == (200, "Parameters")
    for base, ctype_sent, want in [
        ("/fhir", JAVA_R5 + ";charset=UTF-8", "reads FHIR 4.0"),
        ("/fhir", "application/fhir+json; charset=iso-8859-1", "UTF-8"),
        ("/fhir", "text/plain", "not accepted"),
    ]:
        status, ctype, answer = post(base, ctype_sent, "application/fhir+json")
        assert status == 415, ctype_sent
        assert answer["resourceType"] == "OperationOutcome"
        assert want in answer["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("accept", "r5", "fmt", "ctype"),
    [
        ("", False, "json", JSON_CT),
        ("application/fhir+json;q=0.9, */*;q=0.1", False, "json", JSON_CT),
        ('application/fhir+json; fhirVersion="4.0"', False, "json", JAVA_R4 + "; charset=utf-8"),
        ("application/*", True, "json", JSON_CT),
        ("text/html, application/json;q=0.2", True, "json", JSON_CT),
        ("application/fhir+json;q=0, */*", False, "xml", XML_CT),
        ("application/fhir+json;q=0, application/fhir+xml;q=0, */*", False, None, None),
        ("application/fhir+json;q=abc", False, None, None),
        ("garbage", False, None, None),
    ],
)
def test_choose(accept: str, r5: bool, fmt: str | None, ctype: str | None) -> None:
    got = neg.choose(accept, r5)
    if fmt is None:
        assert isinstance(got, neg.Refusal) and got.status == 406
    else:
        assert got == neg.Choice(fmt, ctype or "", r5=r5)


def test_long_headers_are_not_memoised_and_not_echoed_in_full() -> None:
    long = "text/html;a=" + "x" * 10_000
    before = neg._chosen.cache_info().currsize
    got = neg.choose(long, False)
    assert isinstance(got, neg.Refusal) and len(got.message) < 400
    assert neg._chosen.cache_info().currsize == before
