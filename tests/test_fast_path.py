"""The fast path (web/fast.py): GET operations answered without Flask, same answers as Flask."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
from werkzeug.test import Client

from fhirterm.config import Settings
from fhirterm.registry import Registry
from fhirterm.web import create_app, endpoints
from fhirterm.web.fast import FastReads

from .conftest import ICD, REPO

CPT_MAP = "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"
BILLABLE = "http://fhirterm.org/fhir/ValueSet/icd10cm-billable"

# (path, query) pairs over every operation the fast path serves: answers, 4xx
# errors of every kind, instance level, R4 and R5, odd encodings.
REQUESTS = [
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=M99.44"),
    ("/r5/CodeSystem/$lookup", f"system={quote(ICD)}&code=M99.44&property=parent,child"),
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=m99.44"),  # 404 with a hint
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=M99"),  # a grouping, not a code
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}"),  # 400: no code
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=M99.44&bogus=1"),  # 400
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=M99.44&code=M99.43"),  # 400
    ("/fhir/CodeSystem/$lookup", "system=http://example.org/none&code=x"),  # 404 system
    ("/fhir/CodeSystem/$lookup", f"system={quote(ICD)}&code=%ZZ&code2"),  # bad escapes
    ("/fhir/CodeSystem/icd10cm/$lookup", "code=E11.9"),
    ("/fhir/CodeSystem/no-such-id/$lookup", "code=E11.9"),  # 404 instance
    ("/fhir/CodeSystem/$validate-code", f"url={quote(ICD)}&code=E11.9&display=wrong"),
    ("/r4/CodeSystem/$validate-code", f"url={quote(ICD)}&code=E11"),
    ("/fhir/CodeSystem/$subsumes", f"system={quote(ICD)}&codeA=E11&codeB=E11.9"),
    ("/fhir/CodeSystem/$subsumes", f"system={quote(ICD)}&codeA=E11&codeB=NOPE"),
    ("/fhir/ValueSet/$validate-code", f"url={quote(ICD + '?fhir_vs=isa/E11')}&code=E11.9"),
    ("/fhir/ValueSet/$validate-code", f"url={quote(BILLABLE)}&system={quote(ICD)}&code=E11"),
    ("/fhir/ValueSet/$validate-code", "url=http://example.org/vs&code=x"),
    ("/fhir/ConceptMap/$translate", f"url={quote(CPT_MAP)}&system={quote(ICD)}&code=M99.44"),
    ("/r5/ConceptMap/$translate", f"url={quote(CPT_MAP)}&system={quote(ICD)}&sourceCode=M99.44"),
    ("/fhir/ValueSet/$expand", f"url={quote(BILLABLE)}&count=0&offset=x"),  # 400
    ("/fhir/ValueSet/$batch-validate-code", ""),  # POST only: 405 from Flask
]


@pytest.fixture(scope="module")
def flask_only(full_registry: Registry) -> Client:
    return Client(create_app(Settings(content_dir=REPO / "codesystems"), full_registry, False))


@pytest.fixture(scope="module")
def fast(full_registry: Registry) -> Any:
    return create_app(Settings(content_dir=REPO / "codesystems"), full_registry)


def _flask_calls(app: Any) -> list[str]:
    """Count the requests that reach Flask behind the fast path."""
    calls: list[str] = []
    inner = app.wsgi_app.app

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app.app = counting
    return calls


# Accept headers the fast path answers itself: none, the HL7 Java tooling client's
# (org.hl7.fhir.r4/r5 FHIRToolingClient: withVer(format, "4.0"|"5.0") ->
# "application/fhir+json; fhirVersion=4.0"; at the other release's base it is a 406
# from Flask), and ones with charset and q-values.
ACCEPTS = [
    "",
    "application/fhir+json; fhirVersion=4.0",
    "application/fhir+json; fhirVersion=5.0",
    "application/fhir+json; charset=utf-8",
    "application/fhir+json;q=0.9, */*;q=0.1",
]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize(("path", "query"), REQUESTS)
def test_same_answer_as_flask(
    fast: Any, flask_only: Client, path: str, query: str, accept: str
) -> None:
    headers = {"Accept-Language": "en", "Accept": accept}
    a = Client(fast).get(path, query_string=query, headers=headers)
    b = flask_only.get(path, query_string=query, headers=headers)
    assert a.status_code == b.status_code, (a.data, b.data)
    assert a.headers.to_wsgi_list() == b.headers.to_wsgi_list()
    assert a.headers["Content-Type"].endswith("; charset=utf-8")
    assert a.headers["Vary"] == "Accept"
    assert a.headers["Content-Length"] == str(len(a.data))
    assert a.data == b.data
    if a.status_code >= 400:
        assert orjson.loads(a.data)["resourceType"] == "OperationOutcome"


def test_operations_skip_flask_and_the_rest_reach_it(full_registry: Registry) -> None:
    app = create_app(Settings(content_dir=REPO / "codesystems"), full_registry)
    calls = _flask_calls(app)
    c = Client(app)
    lookup = f"/fhir/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44"
    assert c.get(lookup).status_code == 200
    assert c.get(f"/r5/CodeSystem/$lookup?system={quote(ICD)}&code=NOPE").status_code == 404
    # the HL7 Java tooling client's Accept header (FHIRToolingClient.withVer) is the fast path's
    java4 = {"Accept": "application/fhir+json; fhirVersion=4.0"}
    r = c.get(lookup, headers=java4)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/fhir+json; fhirVersion=4.0; charset=utf-8"
    r5 = f"/r5/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44"
    assert (
        c.get(r5, headers={"Accept": "application/fhir+json; fhirVersion=5.0"}).status_code == 200
    )
    assert calls == []
    # a release the base does not serve is Flask's 406
    assert c.get(r5, headers=java4).status_code == 406
    calls.clear()
    # negotiation, other methods, reads and unknown routes are Flask's
    assert c.get(lookup, headers={"Accept": "application/fhir+xml"}).status_code == 200
    assert c.get(lookup + "&_format=xml").status_code == 200
    assert c.head(lookup).status_code == 200
    assert c.get("/fhir/CodeSystem/icd10cm?_summary=true").status_code == 200
    assert c.get("/fhir/CodeSystem/$nope").status_code == 404
    assert c.get("/r6/CodeSystem/$lookup").status_code == 404
    assert len(calls) == 6


def test_unexpected_error_is_a_500_outcome(
    full_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_call: endpoints.Call) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setitem(endpoints.OPERATIONS, ("CodeSystem", "lookup"), (broken, ("GET",)))
    app = create_app(Settings(content_dir=REPO / "codesystems"), full_registry)
    assert isinstance(app.wsgi_app, FastReads)
    r = Client(app).get(f"/fhir/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44")
    assert r.status_code == 500
    body = orjson.loads(r.data)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "exception" and "boom" not in r.text


def test_unserialisable_answer_is_a_500_outcome(
    full_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer orjson cannot write (here an integer beyond 64 bits) is a 500 OperationOutcome,
    not an empty 500 from the WSGI server."""

    def unwritable(_call: endpoints.Call) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": [{"name": "n", "valueInteger": 2**64}]}

    monkeypatch.setitem(endpoints.OPERATIONS, ("CodeSystem", "lookup"), (unwritable, ("GET",)))
    app = create_app(Settings(content_dir=REPO / "codesystems"), full_registry)
    r = Client(app).get(f"/fhir/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44")
    assert r.status_code == 500
    assert orjson.loads(r.data)["resourceType"] == "OperationOutcome"
    assert r.headers["Content-Type"].startswith("application/fhir+json")


def test_live_server_answers_on_the_fast_path(live_server: str) -> None:
    """Over real HTTP (granian, the production stack): answers and errors of the fast path."""
    import urllib.error
    import urllib.request

    url = f"{live_server}/CodeSystem/$lookup?system={quote(ICD)}&code=M99.44"
    with urllib.request.urlopen(url) as r:
        assert r.headers["Content-Type"] == "application/fhir+json; charset=utf-8"
        body = orjson.loads(r.read())
    display = [p["valueString"] for p in body["parameter"] if p["name"] == "display"]
    assert display and display[0] == "Connective tissue stenosis of neural canal of sacral region"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("M99.44", "M99.4Q"))
    assert e.value.code == 404
    assert orjson.loads(e.value.read())["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "qs",
    [
        "",
        "a=1&b=2&a=3",
        "a&b=&=c&&",
        "system=http%3A%2F%2Fx&code=E11.9",
        "display=Type+2+diabetes%20mellitus",
        "x=%ZZ&y=%e2%82&z=%E2%82%AC&q+r=1",
        "k=a=b&k2==",
        "name%3D=v%26w",
        # escapes split by literal characters beyond ASCII (a WSGI query string is
        # latin-1 text), invalid and truncated UTF-8, lone percent signs
        "d=%C3\u00e9%A9&e=\u00c3%A9&f=%C3%A9\u00ff%FF&g=%&h=%4&i=%%41",
        "d=Displaced%20fracture%20of%20neck%2C%20right%20femur%2C%20type%20I%20or%20II",
        # spaces and commas are replaced in place when no other escape is left: mixed
        # with others, with lower case, with '%' signs the replacing could mislead
        "d=a%20b%2c%20c&e=%2%20C&f=%%202C&g=%%2020&h=a+b%20c%2Cé&i=%2520&j=%20%",
    ],
)
def test_query_parsing_matches_werkzeug(qs: str) -> None:
    from urllib.parse import parse_qsl

    from fhirterm.wire.params import parse_query

    assert parse_query(qs) == parse_qsl(qs, keep_blank_values=True, errors="werkzeug.url_quote")


@pytest.mark.parametrize("on", [True, False])
def test_bench_routes_only_with_bench_static(full_registry: Registry, on: bool) -> None:
    """/_bench/bare (bare WSGI) and /_bench/static (Flask) give the same body, only when
    FHIRTERM_BENCH_STATIC is on; other requests go through the stack unchanged."""
    from fhirterm.web.app import STATIC_BODY, create_wsgi

    settings = Settings(content_dir=REPO / "codesystems", bench_static=on)
    client = Client(create_wsgi(settings, full_registry))
    for path in ("/_bench/bare", "/_bench/static"):
        r = client.get(path)
        if on:
            assert r.status_code == 200 and r.data == STATIC_BODY, path
            assert r.headers["Content-Type"] == "application/fhir+json; charset=utf-8"
        else:
            assert r.status_code == 404, path
    r = client.get("/fhir/CodeSystem/$lookup", query_string=f"system={quote(ICD)}&code=M99.44")
    assert r.status_code == 200 and orjson.loads(r.data)["resourceType"] == "Parameters"
