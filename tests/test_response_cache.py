"""The response cache in front of the app (web/cache.py)."""

from __future__ import annotations

from typing import Any

from werkzeug.test import Client

from fhirterm.web.cache import ResponseCache

from .conftest import ICD


def test_replays_deterministic_reads_only(small_app: Any) -> None:
    cache = ResponseCache(small_app, max_entries=2)
    c = Client(cache)
    url = f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44"
    first = c.get(url)
    assert not cache._entries  # seen once: answered, not stored
    second = c.get(url)  # seen twice: stored
    third = c.get(url)  # replayed
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.data == second.data == third.data
    assert first.headers["Content-Type"] == third.headers["Content-Type"]
    assert (cache.hits, cache.misses) == (1, 2)
    # 404s are deterministic too; different Accept headers are different entries
    missing = f"/fhir/CodeSystem/$lookup?system={ICD}&code=NOPE"
    assert c.get(missing).status_code == c.get(missing).status_code == 404
    assert c.get(url, headers={"Accept": "text/html"}).status_code == 406
    assert c.get(url, headers={"Accept": "text/html"}).status_code == 406
    assert len(cache._entries) == 2  # bounded: the oldest entry went out, the 406 was not stored
    # POST and $expand go straight through
    before = (cache.hits, cache.misses)
    c.post(
        "/fhir/CodeSystem/$lookup",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "system", "valueUri": ICD},
                {"name": "code", "valueCode": "M99.44"},
            ],
        },
    )
    r1 = c.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/M99.4")
    r2 = c.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/M99.4")
    assert r1.json["expansion"]["identifier"] != r2.json["expansion"]["identifier"]
    assert (cache.hits, cache.misses) == before


def test_disabled_with_zero(small_app: Any) -> None:
    cache = ResponseCache(small_app, max_entries=0)
    c = Client(cache)
    c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44")
    c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44")
    assert (cache.hits, cache.misses) == (0, 0)


def test_bounded_by_bytes(small_app: Any) -> None:
    cache = ResponseCache(small_app, max_entries=100, max_bytes=3000)
    c = Client(cache)
    for code in ("M99.4", "M99.43", "M99.44", "M99.74", "M99.9", "S06", "T07"):
        for _ in range(2):  # stored on the second sighting
            c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code={code}")
    assert 0 < cache._bytes <= 3000
    assert cache._bytes == sum(len(e[2]) for e in cache._entries.values())
    assert len(cache._entries) < 7


def test_doorkeeper_window_is_bounded(small_app: Any) -> None:
    cache = ResponseCache(small_app, max_entries=2)
    c = Client(cache)
    for code in ("M99.4", "M99.43", "M99.44", "M99.74", "M99.9", "S06", "T07", "M99.0", "M99.1"):
        c.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code={code}")
    assert len(cache._seen) <= cache.max_seen == 8
    assert not cache._entries  # every request came once: nothing stored


def test_json_is_never_replayed_to_xml(small_app: Any) -> None:
    """The key holds the Accept header and the query (_format): each format its own entry."""
    cache = ResponseCache(small_app, max_entries=16)
    c = Client(cache)
    url = f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44"
    for _ in range(3):  # stored the second time, replayed the third
        assert c.get(url).headers["Content-Type"] == "application/fhir+json; charset=utf-8"
    assert cache.hits == 1
    for target, headers in ((url, {"Accept": "application/fhir+xml"}), (url + "&_format=xml", {})):
        for _ in range(3):
            r = c.get(target, headers=headers)
            assert r.headers["Content-Type"] == "application/fhir+xml; charset=utf-8"
            assert r.headers["Vary"] == "Accept"
            assert r.data.startswith(b"<?xml")
    assert cache.hits == 3
    assert c.get(url).data.startswith(b'{"resourceType"')
