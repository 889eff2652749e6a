"""Hostile input, the quick cases: every request's work is bounded, and larger work is
refused with 422 too-costly naming the limit (a setting) and how to narrow or page.

The slow cases, which measure a live server's workers, are in test_hostile_live.py.
"""

from __future__ import annotations

import re
import tracemalloc
from typing import Any

import orjson
import pytest

from fhirterm.config import Settings
from fhirterm.errors import TooCostly, clip_message
from fhirterm.operations import filters, limits
from fhirterm.registry import Registry
from fhirterm.web import create_app

from .conftest import ICD, REPO, small_settings


def post(client: Any, op: str, parameters: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/fhir/{op}",
        data=orjson.dumps({"resourceType": "Parameters", "parameter": parameters}),
        content_type="application/fhir+json",
    )


def text_of(r: Any) -> str:
    body = r.json
    assert body["resourceType"] == "OperationOutcome", body
    return str(body["issue"][0]["details"]["text"])


def too_costly(r: Any, setting: str) -> str:
    """The 422 too-costly answer naming ``setting``; its message."""
    assert r.status_code == 422, r.json
    assert r.json["issue"][0]["code"] == "too-costly"
    text = text_of(r)
    assert setting in text, text
    return text


def regex_vs(*patterns: str, prop: str = "code") -> dict[str, Any]:
    """A value set of ICD-10-CM with an include per pattern (a regex filter on ``prop``)."""
    return {
        "resourceType": "ValueSet",
        "url": "http://t/regex",
        "status": "active",
        "compose": {
            "include": [
                {"system": ICD, "filter": [{"property": prop, "op": "regex", "value": p}]}
                for p in patterns
            ]
        },
    }


# a supplement adding one designation to M99.44, and a value set of ICD-10-CM using it
SUPPLEMENT = {
    "resourceType": "CodeSystem",
    "url": "http://t/supp",
    "version": "1",
    "status": "active",
    "content": "supplement",
    "supplements": ICD,
    "concept": [{"code": "M99.44", "designation": [{"language": "de", "value": "Zorblax"}]}],
}
SUPPLEMENTED_VS = {
    "resourceType": "ValueSet",
    "url": "http://t/vs",
    "status": "active",
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/valueset-supplement",
            "valueCanonical": "http://t/supp",
        }
    ],
    "compose": {"include": [{"system": ICD}]},
}


@pytest.fixture(scope="module")
def limited(small_registry: Registry) -> Any:
    """A client of the small content with small limits."""
    settings = small_settings(
        expand_max_count=5,
        max_codings=3,
        max_tx_concepts=10,
        regex_max_length=40,
        regex_max_size=500,
    )
    return create_app(settings, small_registry).test_client()


# --- "did you mean": linear in the code's length


def test_suggestions_are_linear_in_the_length_of_the_code(full_registry: Registry) -> None:
    """An unknown code of 8,000 characters made 8,000 candidates of 8,000 characters each
    (64 MB at once; a 5 MB code in a POST took a worker to 23 GB)."""
    cs = full_registry.code_system(ICD)
    assert cs.suggest("m99.44") == "M99.44"  # normal mistakes still get their suggestion
    assert cs.suggest(" M99.44") == "M99.44"
    tracemalloc.start()
    try:
        assert cs.suggest("M" * 8_000) is None
        assert cs.suggest("m9944" + " " * 8_000) == "M99.44"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000, peak


def test_a_long_unknown_code_is_answered_with_a_short_message(full_client: Any) -> None:
    code = "A" * 16_000
    r = full_client.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code={code}")
    assert r.status_code == 404
    text = text_of(r)
    assert len(text) < 1_000 and "16,000 characters, truncated" in text, text
    assert len(r.data) < 2_000


def test_errors_do_not_echo_megabytes(client: Any) -> None:
    """A 2 MB display and a 1 MB unknown parameter name: the messages quote their start."""
    big = "x" * 1_000_000
    r = client.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44&{big}=1")
    assert r.status_code == 400 and len(text_of(r)) < 1_000
    assert len(r.data) < 3_000
    r = post(
        client,
        "CodeSystem/$validate-code",
        [
            {"name": "url", "valueUri": ICD},
            {"name": "code", "valueCode": "M99.44"},
            {"name": "display", "valueString": "word " * 400_000},
        ],
    )
    assert r.status_code == 200 and len(r.data) < 10_000
    out = {p["name"]: p for p in r.json["parameter"]}
    assert out["result"]["valueBoolean"] is False
    assert "characters, truncated" in out["message"]["valueString"]


def test_clip_message_keeps_ordinary_messages() -> None:
    text = "Unknown code 'M99.99' in the CodeSystem 'http://hl7.org/fhir/sid/icd-10-cm'"
    assert clip_message(text) == text
    long = f"Unknown code '{'A' * 5_000}' in the CodeSystem 'x'"
    clipped = clip_message(long)
    assert clipped.startswith("Unknown code 'AAAA") and clipped.endswith("' in the CodeSystem 'x'")
    assert "5,000 characters, truncated" in clipped and len(clipped) < 400


# --- regex filters


@pytest.mark.parametrize(
    "pattern, size",
    [
        ("M99", 3),
        (r"[A-Z]\d{2}(\.\d{1,4})?", 8),
        ("(ab){3}", 6),
        ("(?:ab){3}", 6),
        ("(?P<x>a{10}){10}", 100),
        ("a{2}{3}", 6),
        ("a{,5}", 5),
        ("a{5,}", 5),
        ("a+b*c?", 3),
        (r"\p{L}{4}", 4),
        ("[a{]{9}", 9),
        ("x{y}", 4),
        ("((((a{50}){50}){50}){50})", 10_001),
    ],
)
def test_regex_size(pattern: str, size: int) -> None:
    assert filters.regex_size(pattern, 10_000) == size


def test_a_regex_bomb_is_refused_before_it_is_compiled(client: Any) -> None:
    """((((a{50}){50}){50}){50}), 25 bytes, held a worker 72 s compiling and left it at
    2 GB; a pattern three levels deep costs 50 ms and 37 MB."""
    r = post(
        client,
        "ValueSet/$expand",
        [{"name": "valueSet", "resource": regex_vs("((a{50}){50}){50}")}],
    )
    text = too_costly(r, "FHIRTERM_REGEX_MAX_SIZE")
    assert "10000 parts" in text and "smaller repeat counts" in text
    r = post(
        client,
        "ValueSet/$validate-code",
        [
            {"name": "valueSet", "resource": regex_vs("((((a{50}){50}){50}){50})")},
            {"name": "system", "valueUri": ICD},
            {"name": "code", "valueCode": "M99.44"},
        ],
    )
    too_costly(r, "FHIRTERM_REGEX_MAX_SIZE")


def test_regex_length_and_size_are_settings(limited: Any) -> None:
    r = post(limited, "ValueSet/$expand", [{"name": "valueSet", "resource": regex_vs("M" * 41)}])
    assert "40 characters" in too_costly(r, "FHIRTERM_REGEX_MAX_LENGTH")
    r = post(limited, "ValueSet/$expand", [{"name": "valueSet", "resource": regex_vs("M{501}")}])
    assert "500 parts" in too_costly(r, "FHIRTERM_REGEX_MAX_SIZE")
    r = post(limited, "ValueSet/$expand", [{"name": "valueSet", "resource": regex_vs("M99.*")}])
    assert r.status_code == 200 and r.json["expansion"]["total"] > 0


def test_the_regex_budget_is_one_deadline_per_request(small_registry: Registry) -> None:
    """Every regex filter of a request draws on one deadline: once it is spent, the next
    test is refused at once (it got its own budget per include, and 1 ms after that)."""
    cs = small_registry.code_system(ICD)
    concept = cs.get("M99.44")
    assert concept is not None
    token = limits.begin(Settings(regex_budget_ms=20))
    try:
        evil = filters.compile_filter(
            cs, {"property": "display", "op": "regex", "value": r"(?:\w*?\s*?)*\d{3}"}, "f[0]"
        )
        simple = filters.compile_filter(
            cs, {"property": "code", "op": "regex", "value": "M99.*"}, "f[1]"
        )
        with pytest.raises(TooCostly, match="FHIRTERM_REGEX_BUDGET_MS"):
            for c in cs.concepts.values():
                evil.test(c)
        with pytest.raises(TooCostly):
            simple.test(concept)
    finally:
        limits.end(token)
    # a new request has a new budget
    assert filters.compile_filter(
        cs, {"property": "code", "op": "regex", "value": "M99.*"}, "f"
    ).test(concept)


def test_compiled_patterns_are_bounded(small_registry: Registry) -> None:
    cs = small_registry.code_system(ICD)
    for i in range(filters.PATTERN_CACHE_MAX + 20):
        filters.compile_filter(cs, {"property": "code", "op": "regex", "value": f"M{i}"}, "f")
    assert 0 < len(filters._PATTERNS) <= filters.PATTERN_CACHE_MAX
    big = "(ab){600}"  # compiled, but too large to keep
    filters.compile_regex(big, "f")
    assert big not in filters._PATTERNS


# --- expansion size


def test_count_is_capped(limited: Any, full_client: Any) -> None:
    r = limited.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=6")
    text = too_costly(r, "FHIRTERM_EXPAND_MAX_COUNT")
    assert "count=5 or less" in text and "offset" in text
    r = limited.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=5&offset=2")
    assert r.status_code == 200 and len(r.json["expansion"]["contains"]) == 5
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=100000")
    assert "10,000" in too_costly(r, "FHIRTERM_EXPAND_MAX_COUNT")


def test_count_zero_is_the_total_alone(full_client: Any, full_registry: Registry) -> None:
    """count=0 of all of ICD-10-CM reads no concept (it decoded all 98,186 to count them)."""
    cs = full_registry.code_system(ICD)
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=0")
    assert r.status_code == 200
    assert r.json["expansion"]["total"] == len(cs) == 98_186
    assert "contains" not in r.json["expansion"]
    # a page of the whole code system is its codes in order, and the same total
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&count=3&offset=10")
    assert [c["code"] for c in r.json["expansion"]["contains"]] == list(cs.concepts)[10:13]
    assert r.json["expansion"]["total"] == 98_186


# --- tx-resource and codings


def code_system(n: int) -> dict[str, Any]:
    """A CodeSystem http://t/big of ``n`` concepts C0, C1... ("Concept number 0"...)."""
    return {
        "resourceType": "CodeSystem",
        "url": "http://t/big",
        "status": "active",
        "content": "complete",
        "concept": [{"code": f"C{i}", "display": f"Concept number {i}"} for i in range(n)],
    }


def test_tx_resource_concepts_are_limited(limited: Any) -> None:
    def validate(cs: dict[str, Any]) -> Any:
        return post(
            limited,
            "CodeSystem/$validate-code",
            [
                {"name": "url", "valueUri": "http://t/big"},
                {"name": "code", "valueCode": "C1"},
                {"name": "tx-resource", "resource": cs},
            ],
        )

    assert validate(code_system(10)).status_code == 200
    too_costly(validate(code_system(11)), "FHIRTERM_MAX_TX_CONCEPTS")
    nested = code_system(5)
    nested["concept"][0]["concept"] = [{"code": f"N{i}"} for i in range(6)]
    text = too_costly(validate(nested), "FHIRTERM_MAX_TX_CONCEPTS")
    assert "more than 10 concepts" in text


def test_codings_are_limited(limited: Any) -> None:
    def cc(n: int) -> dict[str, Any]:
        return {"coding": [{"system": ICD, "code": "M99.44"}] * n}

    r = post(
        limited,
        "CodeSystem/$validate-code",
        [{"name": "codeableConcept", "valueCodeableConcept": cc(3)}],
    )
    assert r.status_code == 200
    r = post(
        limited,
        "CodeSystem/$validate-code",
        [{"name": "codeableConcept", "valueCodeableConcept": cc(4)}],
    )
    assert "4 codings" in too_costly(r, "FHIRTERM_MAX_CODINGS")
    r = post(
        limited,
        "ValueSet/$validate-code",
        [
            {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
            {"name": "codeableConcept", "valueCodeableConcept": cc(4)},
        ],
    )
    too_costly(r, "FHIRTERM_MAX_CODINGS")


# --- every limit is a setting with a documented default


def test_every_setting_is_documented() -> None:
    """Each FHIRTERM_* variable Settings reads is in the settings table of
    docs/deployment.md with its default."""
    config = (REPO / "src" / "fhirterm" / "config.py").read_text()
    readme = (REPO / "docs" / "deployment.md").read_text()
    names = set(re.findall(r'"(FHIRTERM_[A-Z0-9_]+)"', config))
    assert {"FHIRTERM_EXPAND_MAX_COUNT", "FHIRTERM_REGEX_BUDGET_MS"} <= names
    for name in sorted(names):
        row = re.search(rf"^\| `{name}` \| `?([^|`]+)`? \|", readme, re.M)
        assert row is not None, f"{name} is not in docs/deployment.md's settings table"
    env = {
        "FHIRTERM_EXPAND_MAX_COUNT": "7",
        "FHIRTERM_MAX_CODINGS": "8",
        "FHIRTERM_MAX_TX_CONCEPTS": "9",
        "FHIRTERM_REGEX_BUDGET_MS": "10",
        "FHIRTERM_REGEX_MAX_LENGTH": "11",
        "FHIRTERM_REGEX_MAX_SIZE": "12",
    }
    s = Settings.from_env(env)
    assert (s.expand_max_count, s.max_codings, s.max_tx_concepts) == (7, 8, 9)
    assert (s.regex_budget_ms, s.regex_max_length, s.regex_max_size) == (10, 11, 12)


# --- supplements: their designations searched over the base index, not a rebuilt one


def test_a_supplement_designation_is_searched_without_rebuilding_the_index(
    client: Any, small_registry: Registry
) -> None:
    """A supplement adding one designation to ICD-10-CM rebuilt its whole text index for
    each request (3.4 s): the base index is shared, the designation searched beside it."""
    supp, vs = SUPPLEMENT, SUPPLEMENTED_VS

    def search(text: str, *more: dict[str, Any]) -> list[str]:
        r = post(
            client,
            "ValueSet/$expand",
            [
                {"name": "valueSet", "resource": vs},
                {"name": "filter", "valueString": text},
                {"name": "tx-resource", "resource": supp},
                *more,
            ],
        )
        assert r.status_code == 200, r.json
        return [c["code"] for c in r.json["expansion"].get("contains", [])]

    assert search("zorbl") == ["M99.44"]
    assert search("zorblax sacral") == ["M99.44"]  # a display word and an added one
    assert search("zorblax nothing") == []
    # found by its own words once only; the designation is listed with it
    assert search("sacral stenosis").count("M99.44") == 1
    assert search("zorblax", {"name": "count", "valueInteger": 0}) == []
    from fhirterm.loading import overlay
    from fhirterm.operations import supplements

    reg, _ = supplements.apply(overlay(small_registry, [supp]), ["http://t/supp"])
    base = small_registry.code_system(ICD)
    merged = reg.code_system(ICD)
    assert merged.text_index() is base.text_index()


def test_active_pages_of_a_whole_code_system_read_only_the_page(client: Any) -> None:
    """activeOnly over one whole code system counts from the inactive flags; the page and
    the total are those of the active codes in the code system's order."""
    cs = code_system(12)
    for i in (0, 3, 4, 9):
        cs["concept"][i]["property"] = [{"code": "inactive", "valueBoolean": True}]
    cs["property"] = [{"code": "inactive", "type": "boolean"}]
    active = [f"C{i}" for i in range(12) if i not in (0, 3, 4, 9)]

    def page(*more: dict[str, Any]) -> dict[str, Any]:
        r = post(
            client,
            "ValueSet/$expand",
            [
                {"name": "url", "valueUri": "http://t/big?fhir_vs"},
                {"name": "activeOnly", "valueBoolean": True},
                {"name": "tx-resource", "resource": cs},
                *more,
            ],
        )
        assert r.status_code == 200, r.json
        return dict(r.json["expansion"])

    assert page({"name": "count", "valueInteger": 0})["total"] == len(active)
    got = page({"name": "count", "valueInteger": 3}, {"name": "offset", "valueInteger": 2})
    assert [c["code"] for c in got["contains"]] == active[2:5] and got["total"] == 8
    assert [c["code"] for c in page()["contains"]] == active


def test_value_set_evaluation_has_a_cpu_budget(full_client: Any) -> None:
    """50 includes of all of ICD-10-CM (a 2 KB body) went through 4.9 million codes:
    17 s of CPU for 20 of them. Whole includes are now counted from bitmaps; a filter on a
    property the packed release does not index (inclusion terms, nearly one value a
    concept) is still tested concept by concept, and the request's CPU budget stops it."""
    include = {
        "system": ICD,
        "filter": [{"property": "inclusion-term", "op": "exists", "value": "true"}],
    }
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [include] * 50},
    }
    r = post(
        full_client,
        "ValueSet/$expand",
        [{"name": "valueSet", "resource": vs}, {"name": "count", "valueInteger": 10}],
    )
    text = too_costly(r, "FHIRTERM_CPU_BUDGET_MS")
    assert "1.5 s of CPU" in text and "narrow it" in text


def test_building_an_expansion_has_the_cpu_budget(full_client: Any) -> None:
    """Each item's cost grows with the properties asked for: 50,000 of them on a page of
    2,000 took 37 s of CPU."""
    r = post(
        full_client,
        "ValueSet/$expand",
        [
            {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
            {"name": "count", "valueInteger": 2000},
            *({"name": "property", "valueString": f"p{i}"} for i in range(20_000)),
        ],
    )
    text = too_costly(r, "FHIRTERM_CPU_BUDGET_MS")
    assert "Building the expansion" in text and "fewer codes a page (count)" in text
