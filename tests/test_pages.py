"""The human-readable pages (/browse) over HTTP: code pages, search, browsing, escaping.

Through the Flask test client on the small release (and the full release where
marked). The pages must show what the FHIR answers hold: the tests follow a
page's own $lookup link and compare, and compare the search with $expand.
Browser tests (a real Chromium) are in test_pages_browser.py.
"""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Response
from werkzeug.test import Client

from fhirterm.registry import Registry
from fhirterm.web.app import create_app, create_wsgi
from fhirterm.web.cache import ResponseCache

from .conftest import ICD, small_settings

# elements whose boundaries separate words in the text a reader sees
BLOCKS = frozenset(
    [
        "p",
        "div",
        "li",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "td",
        "th",
        "section",
        "ul",
        "ol",
        "dl",
        "br",
        "header",
        "footer",
        "nav",
        "main",
        "title",
    ]
)


class Outline(HTMLParser):
    """The parts of a page the tests read: headings, landmarks, links, ids, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headings: list[tuple[int, str]] = []
        self.landmarks: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._heading: int | None = None
        self._heading_text: list[str] = []
        self._link: str | None = None
        self._link_text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag in ("header", "main", "footer", "nav"):
            self.landmarks.append(tag)
        if a.get("role") == "search":
            self.landmarks.append("search")
        if re.fullmatch(r"h[1-6]", tag):
            self._heading, self._heading_text = int(tag[1]), []
        if tag == "a" and a.get("href") is not None:
            self._link, self._link_text = str(a["href"]), []

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append((self._heading, " ".join("".join(self._heading_text).split())))
            self._heading = None
        if tag == "a" and self._link is not None:
            self.links.append((self._link, " ".join("".join(self._link_text).split())))
            self._link = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading_text.append(data)
        if self._link is not None:
            self._link_text.append(data)

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())

    def hrefs(self, prefix: str) -> list[str]:
        return [h for h, _ in self.links if h.startswith(prefix)]


def page(client: Any, path: str, status: int = 200) -> Outline:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True)[:500])
    assert r.content_type == "text/html; charset=utf-8"
    return Outline(r.get_data(as_text=True))


def assert_accessible_outline(o: Outline) -> None:
    """One h1, no heading level skipped on the way down, the landmarks every page has."""
    levels = [lvl for lvl, _ in o.headings]
    assert levels and levels[0] == 1 and levels.count(1) == 1, o.headings
    for a, b in itertools.pairwise(levels):
        assert b <= a + 1, f"heading h{b} after h{a}: {o.headings}"
    for landmark in ("header", "main", "footer", "search"):
        assert landmark in o.landmarks, landmark


def test_code_page_shows_the_lookup_answer(client: Any) -> None:
    o = page(client, "/browse/icd10cm/M99.44")
    assert_accessible_outline(o)
    assert o.headings[0] == (
        1,
        "M99.44 Connective tissue stenosis of neural canal of sacral region",
    )
    # the page links to its $lookup, and the answer says what the page says
    (lookup,) = [h for h, _ in o.links if "/CodeSystem/$lookup" in h]
    q = parse_qs(urlsplit(lookup).query)
    assert q == {"system": [ICD], "code": ["M99.44"]}
    ans = client.get(lookup).get_json()
    params = {p["name"]: p for p in ans["parameter"]}
    assert params["display"]["valueString"] in o.plain
    assert params["definition"]["valueString"] in o.plain
    props = [p for p in ans["parameter"] if p["name"] == "property"]

    def values(code: str) -> list[Any]:
        out = []
        for p in props:
            parts = {x["name"]: x for x in p["part"]}
            if parts["code"]["valueCode"] == code:
                v = parts["value"]
                out.append(next(v[k] for k in v if k.startswith("value")))
        return out

    for tip in values("documentation-tip") + values("coding-pitfall"):
        assert " ".join(tip.split()) in o.plain
    for source in values("source"):
        assert f"#source-{1 + values('source').index(source)}" in [h for h, _ in o.links]
    assert "Verified May 8, 2026" in o.plain
    for section in ("documentation-tips", "pitfalls", "clinical-context", "faq", "sources"):
        assert section in o.ids, section
    # each editorial section says where it comes from
    assert o.plain.count("Source ·") >= 5
    # hierarchy: the breadcrumb walks chapter, block, category, subcategory
    crumbs = o.hrefs("/browse/icd10cm/")
    for target in (
        "/browse/icd10cm/13",
        "/browse/icd10cm/M99-M99",
        "/browse/icd10cm/M99",
        "/browse/icd10cm/M99.4",
    ):
        assert target in crumbs, target
    # the notes inherited from the category, with their source
    assert (
        "This category should not be used if the condition can be classified elsewhere." in o.plain
    )
    assert "Excludes2" in o.plain


def test_note_citations_are_links(client: Any) -> None:
    o = page(client, "/browse/icd10cm/M99.4")
    # "spondylolisthesis (M43.1-)" and the block "(M40-M43)" as links to their pages
    assert ("/browse/icd10cm/M43.1", "M43.1") in o.links
    assert ("/browse/icd10cm/M40-M43", "M40-M43") in o.links
    assert page(client, "/browse/icd10cm/M40-M43").headings[0][1].startswith("Block M40-M43")


def test_header_lists_its_billable_codes(client: Any) -> None:
    o = page(client, "/browse/icd10cm/M99.4")
    assert "Header (not billable)" in o.plain
    assert "Codes under M99.4" in [t for _, t in o.headings]
    for code in ("M99.43", "M99.44", "M99.74"):
        assert f"/browse/icd10cm/{code}" in o.hrefs("/browse/")
    o = page(client, "/browse/icd10cm/M99")
    assert "Billable codes under M99" in [t for _, t in o.headings]


def test_seventh_character_code(client: Any) -> None:
    o = page(client, "/browse/icd10cm/S06.0X1A")
    assert "7th characters (from S06)" in [t for _, t in o.headings]
    assert "initial encounter" in o.plain and "sequela" in o.plain
    assert "Billable" in o.plain


def test_code_without_editorial_says_so(client: Any) -> None:
    o = page(client, "/browse/icd10cm/M99.34")
    assert "No editorial review exists yet for M99.34" in o.plain
    assert "Osseous stenosis of neural canal of sacral region" in o.plain
    assert "sources" not in o.ids


@pytest.mark.parametrize("typed", ["m99.44", "M9944", "m9944", " M99.44"])
def test_mistyped_code_leads_to_its_page(client: Any, typed: str) -> None:
    r = client.get(f"/browse/icd10cm/{typed}")
    assert r.status_code == 302 and r.headers["Location"] == "/browse/icd10cm/M99.44"
    r = client.get("/browse/", query_string={"q": typed})
    assert r.status_code == 302 and r.headers["Location"] == "/browse/icd10cm/M99.44"


def test_unknown_code_is_a_404_page_with_matching_terms(client: Any) -> None:
    o = page(client, "/browse/icd10cm/stenosis", 404)
    assert_accessible_outline(o)
    assert "No code “stenosis”" in o.headings[0][1]
    assert "/browse/icd10cm/M99.44" in o.hrefs("/browse/")
    o = page(client, "/browse/no-such-system", 404)
    assert "/browse/icd10cm" in o.hrefs("/browse/")


def test_search_is_the_expand_text_search(client: Any) -> None:
    o = page(client, "/browse/?q=sacral+stenosis")
    assert_accessible_outline(o)
    shown = [h.rsplit("/", 1)[1] for h in o.hrefs("/browse/icd10cm/")]
    exp = client.get(
        "/fhir/ValueSet/$expand",
        query_string={"url": f"{ICD}?fhir_vs", "filter": "sacral stenosis", "count": "25"},
    ).get_json()
    assert shown == [c["code"] for c in exp["expansion"]["contains"]]
    assert "billable" in o.plain
    # the same results alone, for the list shown while typing
    r = client.get("/browse/?q=sacral+stenosis&partial=1")
    frag = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in frag and "/browse/icd10cm/M99.44" in frag


def test_search_without_match(client: Any) -> None:
    o = page(client, "/browse/?q=zzzzqqq")
    assert "No code or term matches “zzzzqqq”." in o.plain


def test_browse_from_the_top_down_to_a_code(client: Any) -> None:
    o = page(client, "/browse/")
    assert_accessible_outline(o)
    assert "/browse/icd10cm" in o.hrefs("/browse/")
    path = [
        "/browse/icd10cm",
        "/browse/icd10cm/13",
        "/browse/icd10cm/M99-M99",
        "/browse/icd10cm/M99",
        "/browse/icd10cm/M99.4",
        "/browse/icd10cm/M99.44",
    ]
    for here, there in itertools.pairwise(path):
        o = page(client, here)
        assert_accessible_outline(o)
        assert there in o.hrefs("/browse/"), (here, there)


def test_small_code_system_shows_all_its_concepts(client: Any, small_registry: Registry) -> None:
    cs = small_registry.code_system_by_id("test-colors")
    assert cs is not None
    o = page(client, "/browse/test-colors")
    for code in cs.concepts:
        assert f"/browse/test-colors/{code}" in o.hrefs("/browse/")
    code = next(iter(cs.concepts))
    o = page(client, f"/browse/test-colors/{code}")
    assert_accessible_outline(o)
    assert any("/CodeSystem/$lookup" in h for h, _ in o.links)


SCRIPT = '<script>alert("x")</script>'


@pytest.mark.parametrize(
    "path",
    [
        f"/browse/?q={SCRIPT}",
        f"/browse/?q={SCRIPT}&partial=1",
        f"/browse/icd10cm/{SCRIPT}",
        f"/browse/{SCRIPT}",
        f"/browse/?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E&cs={SCRIPT}",
    ],
)
def test_nothing_a_request_carries_is_echoed_unescaped(client: Any, path: str) -> None:
    r = client.get(path)
    body = r.get_data(as_text=True)
    assert r.status_code in (200, 404)
    assert "<script>alert" not in body and "<img src=x" not in body
    assert 'onerror=alert(1)">' not in body


def test_pages_have_their_own_csp_and_fhir_answers_keep_theirs(tmp_path: Path) -> None:
    c = Client(create_wsgi(small_settings(tmp_path)))
    page_ = c.get("/browse/icd10cm/M99.44")
    assert page_.status_code == 200
    csp = page_.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp
    assert "http" not in csp  # no other host
    fhir = c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44")
    assert fhir.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    css = c.get("/browse/_static/pages.css")
    assert css.status_code == 200 and css.content_type.startswith("text/css")
    js = c.get("/browse/_static/pages.js").get_data(as_text=True)
    assert "innerHTML" not in js and "http" not in js


def test_pages_stay_off_the_fast_path_and_the_response_cache(
    small_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page request passes the response cache and the fast path untouched (neither counts
    nor runs an endpoint), and an operation request never reaches the pages."""
    from fhirterm.web import endpoints, pages

    app = create_app(small_settings(), small_registry)
    cache = ResponseCache(app.wsgi_app)  # the fast path, as create_wsgi stacks it
    c = Client(cache)
    ran: list[str] = []
    real = endpoints.OPERATIONS[("CodeSystem", "lookup")]
    monkeypatch.setitem(
        endpoints.OPERATIONS,
        ("CodeSystem", "lookup"),
        (lambda call: ran.append("lookup") or real[0](call), real[1]),
    )
    rendered: list[str] = []
    monkeypatch.setattr(pages, "_html", lambda *a, **k: rendered.append(a[0]) or Response("x"))
    for _ in range(3):
        assert c.get("/browse/icd10cm/M99.44").status_code == 200
    assert cache.hits == cache.misses == 0 and ran == []
    assert c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44").status_code == 200
    assert ran == ["lookup"] and rendered == ["code.html"] * 3


def test_no_page_asks_another_host(client: Any) -> None:
    for path in ("/browse/", "/browse/icd10cm/M99.44", "/browse/?q=sacral"):
        html = client.get(path).get_data(as_text=True)
        for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
            if attr.startswith(("http://", "https://", "//")):
                # only the editorial sources and map link sources point elsewhere, as links
                assert re.search(rf'<a href="{re.escape(attr)}"', html), attr
        assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', html)


def test_capability_statement_names_the_pages(client: Any) -> None:
    for base in ("/fhir", "/r5"):
        cap = client.get(f"{base}/metadata").get_json()
        assert "/browse/{code-system-id}/{code}" in cap["rest"][0]["documentation"]


@pytest.mark.full
def test_full_release_code_page_has_every_section(full_client: Any) -> None:
    """M99.44 as a coder's reference page shows it: every section, with its source and content."""
    o = page(full_client, "/browse/icd10cm/M99.44")
    assert_accessible_outline(o)
    heads = [t for _, t in o.headings]
    for h in (
        "Documentation tips",
        "Related CPT procedures",
        "Common coding pitfalls",
        "Clinical context",
        "Sibling codes",
        "Frequently asked questions",
        "Sources & references",
    ):
        assert h in heads, h
    text = o.plain
    for fact in ("Status Billable", "Chapter 13", "Related CPT 7", "Region Spine"):
        assert fact in text, fact
    assert "Verified May 8, 2026 · 5 sources ↓" in text
    assert len([h for h in heads if re.match(r"\d\d ", h)]) == 7  # the FAQ questions
    assert len(o.hrefs("/browse/icd10cm/M99.4")) >= 9  # siblings M99.40..M99.49
    for cpt in ("98925", "98940", "72148", "62323", "64483", "63011", "97140"):
        assert f"/browse/cpt/{cpt}" in o.hrefs("/browse/cpt/"), cpt
    for url in (
        "https://www.icd10data.com/ICD10CM/Codes/M00-M99/M99-M99/M99-/M99.4",
        "https://vsac.nlm.nih.gov/context/cs/codesystem/ICD10CM/version/2020/code/M99.44/info",
    ):
        assert url in [h for h, _ in o.links]


@pytest.mark.full
def test_full_release_pages(full_client: Any) -> None:
    o = page(full_client, "/browse/icd10cm/E11.9")
    assert "No editorial review exists yet for E11.9" in o.plain
    # an excludes1 link leads to the code it cites
    assert ("/browse/icd10cm/E11.A", "E11.A") in o.links
    page(full_client, "/browse/icd10cm/E11.A")
    o = page(full_client, "/browse/icd10cm/S06.0X0A")
    assert "7th characters (from S06)" in [t for _, t in o.headings]
    o = page(full_client, "/browse/icd10cm")
    assert len(o.hrefs("/browse/icd10cm/")) == 22 + 0  # the 22 chapters
    o = page(full_client, "/browse/icd10cm/13")
    assert "/browse/icd10cm/M99-M99" in o.hrefs("/browse/")
    # a CPT code lists the diagnoses the map links to it, each with why
    o = page(full_client, "/browse/cpt/98925")
    assert "Codes linked to 98925" in [t for _, t in o.headings]
    assert "/browse/icd10cm/M99.44" in o.hrefs("/browse/icd10cm/")
    assert "OMT is reported by the number of body regions treated" in o.plain
