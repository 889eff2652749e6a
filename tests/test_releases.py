"""The bundled ICD-10-CM releases side by side, and the date of service, over HTTP.

The releases are the CDC's own files (January 2021, April 2025, April 2026); the codes
below were found by comparing them: C50.A0 was added in April 2026, O35.0XX0 deleted
after 2021, A77.41 retitled, B37.3 became a header (gained B37.31 and B37.32).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ICD
from .fhir_models import params

pytestmark = pytest.mark.full
LOOKUP = f"/fhir/CodeSystem/$lookup?system={ICD}"
CS_VALIDATE = f"/fhir/CodeSystem/$validate-code?url={ICD}"
PERIODS = {
    "2021": ("2021-01-01", "2021-03-31"),
    "2025": ("2025-04-01", "2025-09-30"),
    "2026": ("2026-04-01", "2026-09-30"),
}
EFFECTIVE_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-CodeSystem.effectivePeriod"


def issue_texts(body: dict[str, Any]) -> list[str]:
    if body["resourceType"] == "OperationOutcome":
        return [i["details"]["text"] for i in body["issue"]]
    out = [p["resource"] for p in body["parameter"] if p["name"] == "issues"]
    return [i["details"]["text"] for oo in out for i in oo["issue"]]


@pytest.mark.parametrize("version", sorted(PERIODS))
def test_each_release_is_a_version_with_its_period(full_client: Any, version: str) -> None:
    id_ = "icd10cm" if version == "2026" else f"icd10cm-{version}"
    start, end = PERIODS[version]
    r4 = full_client.get(f"/fhir/CodeSystem/{id_}").json
    assert (r4["url"], r4["version"], r4["date"]) == (ICD, version, start)
    assert r4["extension"] == [{"url": EFFECTIVE_EXT, "valuePeriod": {"start": start, "end": end}}]
    r5 = full_client.get(f"/r5/CodeSystem/{id_}").json
    assert r5["effectivePeriod"] == {"start": start, "end": end} and "extension" not in r5


def test_search_lists_the_three_versions(full_client: Any) -> None:
    r = full_client.get(f"/fhir/CodeSystem?url={ICD}&_sort=version&_elements=version")
    assert [e["resource"]["version"] for e in r.json["entry"]] == ["2021", "2025", "2026"]


def test_no_version_and_no_date_is_the_newest(full_client: Any) -> None:
    assert params(full_client.get(f"{LOOKUP}&code=C50.A0").json)["version"] == ["2026"]
    r = full_client.get(f"{CS_VALIDATE}&code=O35.0XX0")
    assert params(r.json)["result"] == [False]


@pytest.mark.parametrize(
    ("date", "version"),
    [
        ("2021-01-01", "2021"),
        ("2021-03-31", "2021"),
        ("2021-02", "2021"),
        ("2025-04-01T08:30:00Z", "2025"),
        ("2025-09-30", "2025"),
        ("2026-06-15", "2026"),
    ],
)
def test_the_date_picks_the_release_in_effect(full_client: Any, date: str, version: str) -> None:
    for path in (
        f"{LOOKUP}&code=A00.0&date={date}",
        f"{CS_VALIDATE}&code=A00.0&date={date}",
        f"/fhir/ValueSet/$validate-code?url={ICD}?fhir_vs&system={ICD}&code=A00.0&date={date}",
    ):
        r = full_client.get(path)
        assert r.status_code == 200, r.json
        assert params(r.json)["version"] == [version]
    r = full_client.get(f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/A00&date={date}")
    used = [
        p["valueUri"] for p in r.json["expansion"]["parameter"] if p["name"] == "used-codesystem"
    ]
    assert used == [f"{ICD}|{version}"]
    echoed = [p["valueDateTime"] for p in r.json["expansion"]["parameter"] if p["name"] == "date"]
    assert echoed == [date]


@pytest.mark.parametrize("date", ["2023-05-01", "2021-04-01", "2026-10-01", "2021"])
def test_a_date_no_release_covers_names_the_periods(full_client: Any, date: str) -> None:
    for path in (
        f"{LOOKUP}&code=A00.0&date={date}",
        f"{CS_VALIDATE}&code=A00.0&date={date}",
        f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/A00&date={date}",
    ):
        r = full_client.get(path)
        assert r.status_code == 404, path
        (text,) = issue_texts(r.json)
        assert f"in effect on {date}" in text
        for v, (start, end) in PERIODS.items():
            assert f"{start} to {end} (version {v})" in text


def test_a_version_and_a_date_that_disagree_are_an_error(full_client: Any) -> None:
    for path in (
        f"{LOOKUP}&code=A00.0&version=2026&date=2025-05-01",
        f"{CS_VALIDATE}&code=A00.0&version=2021&date=2026-05-01",
        f"/fhir/ValueSet/$validate-code?url={ICD}?fhir_vs&system={ICD}&code=A00.0"
        "&systemVersion=2025&date=2021-02-01",
        f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/A00&date=2021-02-01"
        f"&force-system-version={ICD}|2026",
    ):
        r = full_client.get(path)
        assert r.status_code == 400, path
        (text,) = issue_texts(r.json)
        assert "disagrees with the date of service" in text
    # agreeing is fine
    r = full_client.get(f"{LOOKUP}&code=A00.0&version=2025&date=2025-05-01")
    assert params(r.json)["version"] == ["2025"]


@pytest.mark.parametrize("date", ["2025-13-01", "2025-02-30", "yesterday"])
def test_a_malformed_date_is_a_400(full_client: Any, date: str) -> None:
    r = full_client.get(f"{LOOKUP}&code=A00.0&date={date}")
    assert r.status_code == 400
    assert "date" in issue_texts(r.json)[0]


def test_codes_on_both_sides_of_a_change(full_client: Any) -> None:
    def valid(code: str, date: str) -> bool:
        return bool(
            params(full_client.get(f"{CS_VALIDATE}&code={code}&date={date}").json)["result"][0]
        )

    # added in April 2026
    assert not valid("C50.A0", "2025-05-01") and valid("C50.A0", "2026-05-01")
    # deleted after 2021
    assert valid("O35.0XX0", "2021-02-01") and not valid("O35.0XX0", "2025-05-01")
    # retitled between 2021 and 2025
    old = params(full_client.get(f"{LOOKUP}&code=A77.41&date=2021-02-01").json)["display"]
    new = params(full_client.get(f"{LOOKUP}&code=A77.41&date=2025-05-01").json)["display"]
    assert old == ["Ehrlichiosis chafeensis [E. chafeensis]"]
    assert new == ["Ehrlichiosis chaffeensis [E. chaffeensis]"]
    # billable in 2021, a header from 2025 on
    before = full_client.get(f"{CS_VALIDATE}&code=B37.3&date=2021-02-01").json
    after = full_client.get(f"{CS_VALIDATE}&code=B37.3&date=2025-05-01").json
    assert params(before)["result"] == [True] and not issue_texts(before)
    assert params(after)["result"] == [True]
    assert "B37.31, B37.32" in issue_texts(after)[0]


def test_a_text_filter_on_an_earlier_release(full_client: Any) -> None:
    """The earlier releases read their text index from the packed file on first use."""
    r = full_client.get(
        f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs&filter=coronavirus%20pneumonia&date=2021-02-01"
    )
    codes = [c["code"] for c in r.json["expansion"]["contains"]]
    assert codes == ["J12.82", "J12.81"]


def test_earlier_releases_read_their_unchanged_records_from_the_newest(
    full_registry: Any,
) -> None:
    """Every concept of 2021 and 2025 reads as its own record says, whichever file it is
    read from, and most are read from the 2026 file (packed.PackedConcepts.share_records)."""
    from fhirterm import packed

    for version in ("2021", "2025"):
        store = full_registry.code_system(ICD, version).concepts
        assert isinstance(store, packed.PackedConcepts) and store._base is not None
        from_base = 0
        for code in store:
            i = store._pos[code]
            b = store._rbase
            own = packed.decode(
                code, store._buf[b + store._offsets[i] : b + store._offsets[i + 1]], store._shared
            )
            if code not in store._extra:
                assert store[code] == own, code
            assert store.children_of(code) == own.children, code
            from_base += store._owner(code, i)[0] is store._base
        assert from_base > 0.9 * len(store), (version, from_base, len(store))
