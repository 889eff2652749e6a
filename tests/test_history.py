"""Code history across the bundled ICD-10-CM releases, over HTTP: $lookup, $validate-code
and $translate through the ConceptMap from each release to the next.

The codes were found by comparing the CDC files: C50.A0 added in April 2026, O35.0XX0
deleted in April 2025 (O35.0 was subdivided), A77.41 retitled (a spelling), B37.3 a
header from April 2025 on (B37.31, B37.32).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ICD
from .fhir_models import params, properties
from .test_releases import issue_texts

pytestmark = pytest.mark.full
LOOKUP = f"/fhir/CodeSystem/$lookup?system={ICD}"
CS_VALIDATE = f"/fhir/CodeSystem/$validate-code?url={ICD}"
MAP_2021 = "http://fhirterm.org/fhir/ConceptMap/icd10cm-2021-to-2025"
MAP_2025 = "http://fhirterm.org/fhir/ConceptMap/icd10cm-2025-to-2026"


def translate(client: Any, url: str, code: str, base: str = "/fhir") -> dict[str, Any]:
    names = "sourceSystem={s}&sourceCode={c}" if base == "/r5" else "system={s}&code={c}"
    r = client.get(f"{base}/ConceptMap/$translate?url={url}&" + names.format(s=ICD, c=code))
    assert r.status_code == 200, r.json
    return r.json  # type: ignore[no-any-return]


def matches(body: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for p in body["parameter"]:
        if p["name"] == "match":
            parts = {q["name"]: q for q in p["part"]}
            out.append((parts["concept"]["valueCoding"]["code"], parts["equivalence"]["valueCode"]))
    return out


def test_the_diff_counts(full_registry: Any) -> None:
    """The figures the docs give (docs/releases.md)."""
    d21, d25 = full_registry.changes[ICD]
    assert (d21.old, d21.new, d25.old, d25.new) == ("2021", "2025", "2025", "2026")
    assert d21.counts() == {
        "added": 2505,
        "deleted": 279,
        "retitled": 97,
        "became header": 113,
        "became billable": 0,
    }
    assert d25.counts() == {
        "added": 614,
        "deleted": 12,
        "retitled": 44,
        "became header": 16,
        "became billable": 0,
    }


def test_lookup_says_first_and_last_release_and_earlier_titles(full_client: Any) -> None:
    props = properties(full_client.get(f"{LOOKUP}&code=A77.41").json)
    assert [p["value"] for p in props["first-release"]] == ["2021"]
    assert [p["value"] for p in props["last-release"]] == ["2026"]
    assert [p["value"] for p in props["earlier-title"]] == [
        "Ehrlichiosis chafeensis [E. chafeensis]"
    ]
    # added in April 2026
    props = properties(full_client.get(f"{LOOKUP}&code=C50.A0").json)
    assert [p["value"] for p in props["first-release"]] == ["2026"]
    assert "earlier-title" not in props
    # deleted after 2021: looked up on a date in 2021
    props = properties(full_client.get(f"{LOOKUP}&code=O35.0XX0&date=2021-03-01").json)
    assert [p["value"] for p in props["last-release"]] == ["2021"]
    # only when asked for, with property=
    body = full_client.get(f"{LOOKUP}&code=A77.41&property=display").json
    assert "first-release" not in properties(body)


def test_lookup_of_a_deleted_code_says_when_and_what_replaced_it(full_client: Any) -> None:
    r = full_client.get(f"{LOOKUP}&code=O35.0XX0")
    assert r.status_code == 404
    (text,) = issue_texts(r.json)
    assert "was deleted in version 2025 (in effect 2025-04-01 to 2025-09-30)" in text
    assert "O35.00X0 (narrower)" in text


def test_validate_code_names_the_release_that_removed_a_code(full_client: Any) -> None:
    body = full_client.get(f"{CS_VALIDATE}&code=O35.0XX0&date=2025-05-01").json
    assert params(body)["result"] == [False]
    notes = [t for t in issue_texts(body) if "deleted" in t]
    assert notes and "version 2021 and was deleted in version 2025" in notes[0]
    assert "O35.00X0 (narrower), O35.01X0 (narrower)" in notes[0]
    # on a date before the deletion it is valid, without notes
    body = full_client.get(f"{CS_VALIDATE}&code=O35.0XX0&date=2021-02-01").json
    assert params(body)["result"] == [True] and not issue_texts(body)


def test_validate_code_says_from_when_a_new_code_is_valid(full_client: Any) -> None:
    for path in (
        f"{CS_VALIDATE}&code=C50.A0&date=2025-05-01",
        f"/fhir/ValueSet/$validate-code?url={ICD}?fhir_vs&system={ICD}&code=C50.A0&date=2025-05-01",
    ):
        body = full_client.get(path).json
        assert params(body)["result"] == [False]
        assert "'C50.A0' is valid from version 2026, in effect from 2026-04-01" in issue_texts(body)


def test_a_header_from_2025_on(full_client: Any) -> None:
    before = properties(full_client.get(f"{LOOKUP}&code=B37.3&date=2021-02-01").json)
    after = properties(full_client.get(f"{LOOKUP}&code=B37.3&date=2025-05-01").json)
    assert before["billable"][0]["value"] is True and "child" not in before
    assert after["billable"][0]["value"] is False
    assert [c["value"] for c in after["child"]] == ["B37.31", "B37.32"]


@pytest.mark.parametrize("base", ["/fhir", "/r5"])
def test_translate_from_one_release_to_the_next(full_client: Any, base: str) -> None:
    def got(url: str, code: str) -> list[tuple[str, str]]:
        body = translate(full_client, url, code, base)
        if base == "/r5":  # R5 names the relationship, not the equivalence
            return [
                (
                    next(q for q in p["part"] if q["name"] == "concept")["valueCoding"]["code"],
                    next(q for q in p["part"] if q["name"] == "relationship")["valueCode"],
                )
                for p in body["parameter"]
                if p["name"] == "match"
            ]
        return matches(body)

    narrower = "source-is-broader-than-target" if base == "/r5" else "narrower"
    equivalent = "equivalent"
    deleted = got(MAP_2021, "O35.0XX0")
    assert ("O35.00X0", narrower) in deleted and len(deleted) == 10
    assert got(MAP_2021, "B37.3") == [("B37.31", narrower), ("B37.32", narrower)]
    assert got(MAP_2021, "A77.41") == [("A77.41", equivalent)]
    assert got(MAP_2021, "A00.0") == [("A00.0", equivalent)]  # unchanged: itself
    # not a code of the map's source release (added in 2026): no match
    body = translate(full_client, MAP_2025, "C50.A0", base)
    assert params(body)["result"] == [False]


def test_the_maps_are_served(full_client: Any) -> None:
    r4 = full_client.get("/fhir/ConceptMap/icd10cm-2021-to-2025").json
    g = r4["group"][0]
    assert (g["sourceVersion"], g["targetVersion"], g["unmapped"]) == (
        "2021",
        "2025",
        {"mode": "provided"},
    )
    r5 = full_client.get("/r5/ConceptMap/icd10cm-2025-to-2026").json
    assert r5["group"][0]["unmapped"]["mode"] == "use-source-code"
    search = full_client.get("/fhir/ConceptMap?url=" + MAP_2025).json
    assert search["total"] == 1
