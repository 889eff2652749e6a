"""Search of CodeSystem, ValueSet and ConceptMap over HTTP: result parameters, paging, handling.

The content is made here (seven value sets with names, titles, versions and
dates to sort by), served through the whole WSGI stack (``create_wsgi``) by
Flask's test client, with a public base address that is not the test
client's host, so every link is seen to come from the setting.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.test import Client

from fhirterm.config import Settings
from fhirterm.loading import load_registry
from fhirterm.web.app import create_wsgi
from fhirterm.wire import search as wsearch

from .conftest import SMALL_CONTENT, SMALL_XML
from .fhir_models import parse_r4

BASE = "https://tx.example.org/terminology/fhir"
COLORS = "http://example.org/fhir/CodeSystem/colors"

# id, name, title, version, date, status
VALUE_SETS = [
    ("vs-delta", "Delta", "Fourth colours", "1.0.0", "2024-04-01", "active"),
    ("vs-alpha", "Alpha", "First colours", "2.0.0", "2021-01-01", "active"),
    ("vs-gamma", "Gamma", None, "1.1.0", None, "draft"),
    ("vs-beta", "Beta", "Second colours", "1.0.0", "2022-02-01", "retired"),
    ("vs-epsilon", "Epsilon", "Fifth colours", "3.0.0", "2025-05-01", "active"),
    ("vs-zeta", "Zeta", "Sixth, warm colours", "1.0.0", "2023-06-01", "draft"),
    ("vs-eta", "AlphaBeta", "Seventh colours", "1.0.0", "2020-07-01", "active"),
]


def _value_set(
    id_: str, name: str, title: str | None, version: str, date: str | None, status: str
) -> dict[str, Any]:
    vs: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": id_,
        "url": f"http://example.org/fhir/ValueSet/{id_}",
        "version": version,
        "name": name,
        "status": status,
        "description": f"The {name} test value set",
        "compose": {"include": [{"system": COLORS, "concept": [{"code": "red"}]}]},
    }
    if title:
        vs["title"] = title
    if date:
        vs["date"] = date
    return vs


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("search-content")
    shutil.copy(SMALL_CONTENT / "extra-codesystem.json", d / "colors.json")
    for row in VALUE_SETS:
        (d / f"{row[0]}.json").write_text(json.dumps(_value_set(*row)))
    (d / "cm.json").write_text(
        json.dumps(
            {
                "resourceType": "ConceptMap",
                "id": "cm-colors",
                "url": "http://example.org/fhir/ConceptMap/cm-colors",
                "version": "1",
                "name": "ColorsToColors",
                "status": "active",
                "sourceUri": "http://example.org/fhir/ValueSet/vs-alpha",
                "group": [
                    {
                        "source": COLORS,
                        "target": COLORS,
                        "element": [
                            {"code": "red", "target": [{"code": "red", "equivalence": "equal"}]}
                        ],
                    }
                ],
            }
        )
    )
    return d


def settings(content: Path, **kw: Any) -> Settings:
    return Settings(
        content_dir=content, icd10cm=(str(SMALL_XML),), cache_dir=None, base_url=BASE, **kw
    )


@pytest.fixture(scope="module")
def client(content: Path) -> Client:
    s = settings(content)
    return Client(create_wsgi(s, load_registry(s)))


def get(client: Client, url: str, **headers: str) -> Any:
    """GET ``url`` (a path under /fhir or an absolute link of BASE); the JSON body, checked as R4."""
    if url.startswith(BASE):
        url = "/fhir" + url[len(BASE) :]
    r = client.get(url, headers=headers)
    body = r.get_json()
    if r.status_code == 200:
        parse_r4(body)
    return r, body


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {lk["relation"]: lk["url"] for lk in bundle["link"]}


def outcome(bundle: dict[str, Any]) -> list[str]:
    """The texts of the Bundle's OperationOutcome entry (search.mode outcome)."""
    return [
        i["details"]["text"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for i in e["resource"]["issue"]
    ]


ALL = [row[0] for row in VALUE_SETS]
REGISTRY_ORDER = sorted(ALL)  # the registry lists resources by id


def test_paging_links_walk_every_match_once(client: Client) -> None:
    r, b = get(client, "/fhir/ValueSet?_count=3")
    assert r.status_code == 200 and b["total"] == 7
    assert ids(b) == REGISTRY_ORDER[:3]
    ln = links(b)
    assert set(ln) == {"self", "first", "next", "last"}
    assert ln["next"] == f"{BASE}/ValueSet?_count=3&_offset=3"
    assert ln["last"] == f"{BASE}/ValueSet?_count=3&_offset=6"
    seen, url, pages = [], f"{BASE}/ValueSet?_count=3", 0
    while url:
        _, page = get(client, url)
        seen += ids(page)
        pages += 1
        url = links(page).get("next", "")
    assert seen == REGISTRY_ORDER and pages == 3
    # the last page links back
    _, b = get(client, ln["last"])
    assert ids(b) == REGISTRY_ORDER[6:]
    assert links(b)["previous"] == f"{BASE}/ValueSet?_count=3&_offset=3"
    assert "next" not in links(b)
    # an offset past the end: no entries, and links back into the results
    r, b = get(client, "/fhir/ValueSet?_count=3&_offset=50")
    assert r.status_code == 200 and "entry" not in b and b["total"] == 7
    assert links(b)["previous"] == f"{BASE}/ValueSet?_count=3&_offset=6"


def test_count_zero_gives_the_total_only(client: Client) -> None:
    r, b = get(client, "/fhir/ValueSet?status=active&_count=0")
    assert r.status_code == 200
    assert b["total"] == 4 and "entry" not in b
    assert links(b) == {"self": f"{BASE}/ValueSet?status=active&_count=0"}
    r, b = get(client, "/fhir/ValueSet?_summary=count")
    assert b["total"] == 7 and "entry" not in b
    assert links(b) == {"self": f"{BASE}/ValueSet?_summary=count"}


def test_criteria_keep_working_and_combine_with_paging(client: Client) -> None:
    _, b = get(client, "/fhir/ValueSet?name=alpha")
    assert sorted(ids(b)) == ["vs-alpha", "vs-eta"]  # name: starts with, any case
    _, b = get(client, "/fhir/ValueSet?name:exact=Alpha")
    assert ids(b) == ["vs-alpha"]
    _, b = get(client, "/fhir/ValueSet?name:contains=ETA")
    assert sorted(ids(b)) == ["vs-beta", "vs-eta", "vs-zeta"]
    _, b = get(client, "/fhir/ValueSet?status=draft,retired")  # a comma: any of
    assert sorted(ids(b)) == ["vs-beta", "vs-gamma", "vs-zeta"]
    _, b = get(client, "/fhir/ValueSet?status=active&name=alpha")  # repeated: all of
    assert sorted(ids(b)) == ["vs-alpha", "vs-eta"]
    _, b = get(client, r"/fhir/ValueSet?title=Sixth\,%20warm")  # \, is a comma in a value
    assert ids(b) == ["vs-zeta"]
    _, b = get(client, "/fhir/ValueSet?_id=vs-beta")
    assert ids(b) == ["vs-beta"]
    _, b = get(client, "/fhir/ValueSet?url=http://example.org/fhir/ValueSet/vs-gamma")
    assert ids(b) == ["vs-gamma"]
    _, b = get(client, "/fhir/ValueSet?version=1.0.0&_count=2&_sort=name")
    assert b["total"] == 4 and ids(b) == ["vs-eta", "vs-beta"]
    assert links(b)["next"] == f"{BASE}/ValueSet?version=1.0.0&_sort=name&_count=2&_offset=2"


# the expected order, by the value sets' ids without "vs-"
@pytest.mark.parametrize(
    "sort, expected",
    [
        ("name", "alpha eta beta delta epsilon gamma zeta"),
        ("-name", "zeta gamma epsilon delta beta eta alpha"),
        # no date: last, whatever the direction
        ("date", "eta alpha beta zeta delta epsilon gamma"),
        ("-date", "epsilon delta zeta beta alpha eta gamma"),
        ("title", "epsilon alpha delta beta eta zeta gamma"),  # no title: last
        # several keys: status, then newest first within a status
        ("status,-date", "epsilon delta alpha eta zeta gamma beta"),
        ("-version,_id", "epsilon alpha gamma beta delta eta zeta"),
        ("-id", "zeta gamma eta epsilon delta beta alpha"),
        ("url", "alpha beta delta epsilon eta gamma zeta"),
    ],
)
def test_sort(client: Client, sort: str, expected: str) -> None:
    r, b = get(client, f"/fhir/ValueSet?_sort={sort}")
    assert r.status_code == 200
    assert ids(b) == [f"vs-{x}" for x in expected.split()]
    assert links(b)["self"].startswith(f"{BASE}/ValueSet?_sort=")


def test_sort_by_an_unknown_key_is_ignored_with_a_warning(client: Client) -> None:
    r, b = get(client, "/fhir/ValueSet?_sort=_lastUpdated,name")
    assert r.status_code == 200
    assert ids(b)[:2] == ["vs-alpha", "vs-eta"]
    assert any("_lastUpdated" in t for t in outcome(b))
    assert links(b)["self"] == f"{BASE}/ValueSet?_sort=name&_count=100"


def test_summary(client: Client) -> None:
    _, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_summary=true")
    vs = b["entry"][0]["resource"]
    assert "compose" not in vs and "description" not in vs  # not summary elements
    assert vs["name"] == "Alpha" and vs["status"] == "active" and vs["url"]
    assert vs["meta"]["tag"][0]["code"] == "SUBSETTED"
    _, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_summary=text")
    assert set(b["entry"][0]["resource"]) == {"resourceType", "id", "meta", "status"}
    _, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_summary=data")
    assert "compose" in b["entry"][0]["resource"] and "meta" not in b["entry"][0]["resource"]
    _, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_summary=false")
    assert "compose" in b["entry"][0]["resource"]
    r, b = get(client, "/fhir/ValueSet?status=active&_summary=count")
    assert r.status_code == 200 and b["total"] == 4 and "entry" not in b
    r, b = get(client, "/fhir/ValueSet?_summary=maybe")
    assert r.status_code == 400
    assert "true, false, text, data, count" in b["issue"][0]["details"]["text"]


def test_code_system_summary_false_still_includes_the_concepts(client: Client) -> None:
    _, b = get(client, f"/fhir/CodeSystem?url={COLORS}")
    cs = b["entry"][0]["resource"]
    assert "concept" not in cs and cs["meta"]["tag"][0]["code"] == "SUBSETTED"
    _, b = get(client, f"/fhir/CodeSystem?url={COLORS}&_summary=false")
    assert b["entry"][0]["resource"]["concept"][0]["code"] == "warm"
    _, b = get(client, "/fhir/CodeSystem/test-colors?_summary=false")
    assert b["concept"][0]["code"] == "warm" and "meta" not in b
    _, b = get(client, "/fhir/CodeSystem/test-colors?_summary=true")
    assert "concept" not in b and b["meta"]["tag"][0]["code"] == "SUBSETTED"
    _, b = get(client, "/fhir/CodeSystem/test-colors?_elements=concept")
    assert set(b) == {"resourceType", "id", "meta", "status", "content", "concept"}
    r, _ = get(client, "/fhir/CodeSystem/test-colors?_summary=count")
    assert r.status_code == 400


def test_elements_keep_mandatory_elements_and_mark_subsetted(client: Client) -> None:
    _, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_elements=name,title")
    vs = b["entry"][0]["resource"]
    assert set(vs) == {"resourceType", "id", "meta", "name", "title", "status"}
    assert vs["meta"]["tag"] == [wsearch.SUBSETTED]
    assert links(b)["self"] == f"{BASE}/ValueSet?_id=vs-alpha&_elements=name,title&_count=100"
    # an element the type does not have: ignored, with a warning
    r, b = get(client, "/fhir/ValueSet?_id=vs-alpha&_elements=name,colour")
    assert r.status_code == 200 and set(b["entry"][0]["resource"]) >= {"name", "status"}
    assert any("colour" in t for t in outcome(b))
    # R4 ConceptMap source[x]: asked for by its name without the type
    _, b = get(client, "/fhir/ConceptMap?_elements=source")
    assert b["entry"][0]["resource"]["sourceUri"].endswith("vs-alpha")
    assert "group" not in b["entry"][0]["resource"]
    # reads take _elements too; there an unknown element is a 400
    _, b = get(client, "/fhir/ValueSet/vs-alpha?_elements=name")
    assert set(b) == {"resourceType", "id", "meta", "name", "status"}
    r, b = get(client, "/fhir/ValueSet/vs-alpha?_elements=colour")
    assert r.status_code == 400 and "colour" in b["issue"][0]["details"]["text"]
    r, _ = get(client, "/fhir/ValueSet/vs-alpha?name=x")
    assert r.status_code == 400


def test_total(client: Client) -> None:
    _, b = get(client, "/fhir/ValueSet?_total=none")
    assert "total" not in b and len(ids(b)) == 7
    for mode in ("estimate", "accurate"):
        _, b = get(client, f"/fhir/ValueSet?_total={mode}&_count=1")
        assert b["total"] == 7 and len(ids(b)) == 1
    r, b = get(client, "/fhir/ValueSet?_total=some")
    assert r.status_code == 400 and "none, estimate, accurate" in b["issue"][0]["details"]["text"]


@pytest.mark.parametrize("query", ["_count=-1", "_count=abc", "_offset=-3", "_count=1&_count=2"])
def test_malformed_result_parameters_are_a_400(client: Client, query: str) -> None:
    r, b = get(client, f"/fhir/ValueSet?{query}")
    assert r.status_code == 400 and b["resourceType"] == "OperationOutcome"
    assert b["issue"][0]["expression"][0] in query


def test_count_above_the_page_limit_gets_a_full_page_and_a_note(content: Path) -> None:
    s = settings(content, search_max_count=5)
    c = Client(create_wsgi(s, load_registry(s)))
    r, b = get(c, "/fhir/ValueSet?_count=500")
    assert r.status_code == 200 and len(ids(b)) == 5
    assert links(b)["next"] == f"{BASE}/ValueSet?_count=5&_offset=5"
    assert any("_count 500" in t for t in outcome(b))


@pytest.mark.parametrize(
    "query, ignored",
    [
        ("_include=ValueSet:x", "_include"),
        ("_revinclude=ConceptMap:source", "_revinclude"),
        ("_contained=true", "_contained"),
    ],
)
def test_unsupported_result_parameters_are_ignored_with_a_warning_never_a_400(
    client: Client, query: str, ignored: str
) -> None:
    for headers in ({}, {"Prefer": "handling=strict"}):
        r, b = get(client, f"/fhir/ValueSet?{query}&_count=2", **headers)
        assert r.status_code == 200 and len(ids(b)) == 2
        assert any(ignored in t for t in outcome(b))
        assert ignored not in links(b)["self"]


def test_unknown_search_parameters_lenient_by_default_strict_on_request(client: Client) -> None:
    r, b = get(client, "/fhir/ValueSet?publisher=acme&status=draft")
    assert r.status_code == 200 and sorted(ids(b)) == ["vs-gamma", "vs-zeta"]
    (note,) = outcome(b)
    assert "publisher" in note and "ignored" in note
    assert links(b)["self"] == f"{BASE}/ValueSet?status=draft&_count=100"
    r, b = get(client, "/fhir/ValueSet?publisher=acme", Prefer="handling=lenient")
    assert r.status_code == 200 and len(ids(b)) == 7
    r, b = get(client, "/fhir/ValueSet?publisher=acme", Prefer="return=minimal, handling=strict")
    assert r.status_code == 400
    assert "publisher" in b["issue"][0]["details"]["text"]
    # many unknown parameters: one warning, which quotes a few of them, each cut short
    many = "&".join(f"p{i}{'x' * 300}=1" for i in range(40))
    r, b = get(client, f"/fhir/ValueSet?{many}")
    (note,) = outcome(b)
    assert r.status_code == 200 and "and 30 more" in note and len(note) < 2000
    r, b = get(client, "/fhir/ValueSet?" + "y" * 5000 + "=1", Prefer="handling=strict")
    assert r.status_code == 400 and len(b["issue"][0]["details"]["text"]) < 1000
    # an unsupported modifier is an unknown parameter too
    r, _ = get(client, "/fhir/ValueSet?url:below=http://example.org", Prefer="handling=strict")
    assert r.status_code == 400


@pytest.mark.parametrize("resource_type", ["CodeSystem", "ValueSet", "ConceptMap"])
def test_every_result_parameter_on_every_resource_type(client: Client, resource_type: str) -> None:
    q = "_count=1&_offset=0&_sort=-url&_summary=true&_total=accurate&_format=json&_pretty=true"
    r, b = get(client, f"/fhir/{resource_type}?{q}")
    assert r.status_code == 200 and len(ids(b)) == 1 and outcome(b) == []
    r, b = get(client, f"/fhir/{resource_type}?_elements=url&_count=1")
    assert r.status_code == 200 and set(b["entry"][0]["resource"]) >= {"url", "status"}


def test_r5_base_links_and_bundle_shape(client: Client) -> None:
    from fhir.resources.bundle import Bundle

    r = client.get("/r5/ValueSet?_count=2&_summary=true&publisher=x")
    b = r.get_json()
    Bundle.model_validate(b)
    assert links(b)["next"].startswith("https://tx.example.org/terminology/r5/ValueSet?")
    assert b["entry"][0]["fullUrl"] == "https://tx.example.org/terminology/r5/ValueSet/vs-alpha"


@pytest.mark.parametrize("path", ["/fhir/ValueSet?_count=2", "/r4/CodeSystem", "/fhir/metadata"])
def test_a_spoofed_host_header_is_never_reflected(client: Client, path: str) -> None:
    r = client.get(path, headers={"Host": "evil.example:666", "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 200
    assert b"evil" not in r.data
    assert b"tx.example.org" in r.data


@pytest.mark.parametrize("resource_type", ["CodeSystem", "ValueSet", "ConceptMap"])
def test_search_by_post(client: Client, resource_type: str) -> None:
    """FHIR http page: POST [base]/[type]/_search with a form body (some parameters may
    come in the query too); the same Bundle as the GET, whose links are GETs."""
    form = {"_count": "1", "_sort": "-url", "status": "active"}
    r = client.post(f"/fhir/{resource_type}/_search", data=form)
    assert r.status_code == 200
    b = r.get_json()
    parse_r4(b)
    assert b == get(client, f"/fhir/{resource_type}?status=active&_sort=-url&_count=1")[1]
    r = client.post(f"/fhir/{resource_type}/_search?_count=1", data={"_sort": "-url"})
    assert r.status_code == 200 and len(ids(r.get_json())) == 1
    assert links(r.get_json())["self"] == f"{BASE}/{resource_type}?_sort=-url&_count=1"
    r = client.post(
        f"/fhir/{resource_type}/_search", data=b"{}", content_type="application/fhir+json"
    )
    assert (
        r.status_code == 415
        and "x-www-form-urlencoded" in r.get_json()["issue"][0]["details"]["text"]
    )


def test_the_page_limit_is_at_least_one() -> None:
    assert Settings.from_env({"FHIRTERM_SEARCH_MAX_COUNT": "5"}).search_max_count == 5
    with pytest.raises(ValueError, match="FHIRTERM_SEARCH_MAX_COUNT"):
        Settings.from_env({"FHIRTERM_SEARCH_MAX_COUNT": "0"})


def test_public_base_of_each_mount() -> None:
    from fhirterm.web.routes import public_base

    assert public_base("https://x.org/fhir", "fhir") == "https://x.org/fhir"
    assert public_base("https://x.org/fhir", "r5") == "https://x.org/r5"
    assert public_base("https://x.org/a/fhir", "r4") == "https://x.org/a/r4"
    assert public_base("https://x.org", "r5") == "https://x.org/r5"


# fhirpy's idioms, as the HTTP requests fhirpy sends (beda-software/fhir-py,
# fhirpy/base/lib_sync.py and lib_async.py, SyncSearchSet / AsyncSearchSet):
#   .limit(n)   -> _count=n                            (base/searchset.py: clone(_count=n))
#   .first()    -> limit(1).fetch(): _count=1
#   .get()      -> limit(2).fetch(): _count=2; ResourceNotFound on 0, MultipleResourcesFound on 2
#   .count()    -> _count=0&_totalMethod=count, reads Bundle.total
#   .sort(a, b) -> _sort=a,b;  .elements(a) -> _elements=a,id,resourceType (in set order)
#   .fetch_all() / iteration: the first page, then each link with relation "next", as
#                 long as there is one; an absolute next link must contain the client's
#                 base URL (client.py _build_request_url: "possible security issue")
# Every request carries Accept: application/fhir+json (client.py _build_request_headers),
# and only entries of the searched resource type are kept (_get_bundle_resources).
FHIRPY = {"Accept": "application/fhir+json"}


def _fhirpy_resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == resource_type
    ]


def test_fhirpy_first_get_limit_count(client: Client) -> None:
    r, b = get(client, "/fhir/ValueSet?status=draft&_count=1", **FHIRPY)  # .first()
    assert r.status_code == 200 and len(_fhirpy_resources(b, "ValueSet")) == 1
    r, b = get(client, "/fhir/ValueSet?name:exact=Beta&_count=2", **FHIRPY)  # .get()
    assert [x["id"] for x in _fhirpy_resources(b, "ValueSet")] == ["vs-beta"]
    r, b = get(client, "/fhir/ValueSet?_count=2&_id=vs-gamma", **FHIRPY)  # .get(id) (deprecated)
    assert [x["id"] for x in _fhirpy_resources(b, "ValueSet")] == ["vs-gamma"]
    r, b = get(client, "/fhir/ValueSet?status=active&_count=2", **FHIRPY)  # .get(): two found
    assert len(_fhirpy_resources(b, "ValueSet")) == 2
    r, b = get(client, "/fhir/ValueSet?_count=4", **FHIRPY)  # .limit(4)
    assert len(_fhirpy_resources(b, "ValueSet")) == 4
    r, b = get(client, "/fhir/ValueSet?status=active&_count=0&_totalMethod=count", **FHIRPY)
    assert r.status_code == 200 and b["total"] == 4  # .count()
    assert _fhirpy_resources(b, "ValueSet") == []
    r, b = get(client, "/fhir/CodeSystem?_count=0&_totalMethod=count", **FHIRPY)
    assert b["total"] == 2
    r, b = get(client, "/fhir/ConceptMap?_count=1", **FHIRPY)
    assert len(_fhirpy_resources(b, "ConceptMap")) == 1
    r, b = get(client, "/fhir/ValueSet?_sort=-date,name&_count=2", **FHIRPY)  # .sort()
    assert ids(b) == ["vs-epsilon", "vs-delta"]
    r, b = get(client, "/fhir/ValueSet?_elements=resourceType,name,id&_count=1", **FHIRPY)
    assert set(b["entry"][0]["resource"]) == {"resourceType", "id", "meta", "name", "status"}
    assert outcome(b) == []  # resourceType, which fhirpy adds, is no unknown element


def test_fhirpy_fetch_all_follows_next_links(client: Client) -> None:
    for resource_type, page_size, expected in (
        ("ValueSet", 2, REGISTRY_ORDER),
        ("CodeSystem", 1, ["test-colors", "icd10cm"]),
    ):
        got: list[str] = []
        url = f"/fhir/{resource_type}?_count={page_size}"
        while True:
            r, b = get(client, url, **FHIRPY)
            assert r.status_code == 200
            got += [x["id"] for x in _fhirpy_resources(b, resource_type)]
            nxt = links(b).get("next")
            if not nxt:
                break
            assert BASE in nxt  # fhirpy refuses an absolute link outside its base URL
            assert urlsplit(nxt).path == urlsplit(BASE).path + f"/{resource_type}"
            url = nxt
        assert sorted(got) == sorted(expected) and len(got) == len(expected)


def test_element_tables_match_the_fhir_models() -> None:
    """The element, summary and mandatory tables of wire/search.py are FHIR's (R4B and R5)."""
    import importlib

    for package, r5 in (("fhir.resources.R4B", False), ("fhir.resources", True)):
        for rt in ("CodeSystem", "ValueSet", "ConceptMap"):
            model = getattr(importlib.import_module(f"{package}.{rt.lower()}"), rt)
            every, summary, required = set(), set(), set()
            for name, f in model.model_fields.items():
                extra = f.json_schema_extra or {}
                if not isinstance(extra, dict) or not extra.get("element_property"):
                    continue
                element = extra.get("one_of_many") or f.alias or name
                every.add(element)
                if extra.get("summary_element_property"):
                    summary.add(element)
                if extra.get("element_required") or extra.get("one_of_many_required"):
                    required.add(element)
            ours = set(wsearch._ALL[rt].split())
            if r5:
                ours |= set(wsearch._ALL_R5_ONLY[rt].split())
                ours -= set(wsearch._ALL_R4_ONLY.get(rt, "").split())
            assert ours == every, (package, rt)
            assert set(wsearch.SUMMARY[(rt, r5)]) == summary, (package, rt)
            assert wsearch.REQUIRED[rt] == required, (package, rt)
            assert every <= wsearch.ELEMENTS[rt]


def test_flask_app_alone_serves_search_too(content: Path) -> None:
    """The blueprint mounted without the WSGI stack gives the same Bundle."""
    from fhirterm.web import create_app

    s = settings(content)
    app: Flask = create_app(s, load_registry(s))
    b = app.test_client().get("/fhir/ValueSet?_count=3").get_json()
    assert ids(b) == REGISTRY_ORDER[:3] and links(b)["next"].startswith(BASE)


def test_search_values_and_criteria_are_bounded(client: Client) -> None:
    """The links repeat every criterion applied, so a huge value (here in a POST _search
    form, under the body limit) or thousands of criteria are refused with a short 400
    rather than echoed back."""
    r = client.post("/fhir/CodeSystem/_search", data={"url": "u" * 5_000_000})
    assert r.status_code == 400 and len(r.data) < 2_000
    assert "5,000,000 characters long" in r.json["issue"][0]["details"]["text"]
    r = client.post(
        "/fhir/ValueSet/_search",
        data="&".join(["url=a"] * 101),
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 400 and "More than 100 search criteria" in r.text
    r = client.get("/fhir/CodeSystem?url=" + "a" * 4096)
    assert r.status_code == 200
