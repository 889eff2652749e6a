"""Value set members as bitmaps (operations/members.py, the packed property index).

An expansion counted and text-filtered from bitmaps must answer exactly what walking the
members one by one answers (the walk is the reference: the bitmaps are turned off for it),
over an in-memory release and the same release packed (whose property index is written
before the editorial layer is applied over it), and the packed columns must agree with
the concepts they were written from.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirterm import packed
from fhirterm.index import CodeSystemIndex, prop_values
from fhirterm.loading import load_registry
from fhirterm.operations import expand, valueset
from fhirterm.registry import Registry
from fhirterm.web.app import create_app

from .conftest import small_settings

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
COLORS = "http://example.org/fhir/CodeSystem/colors"
BILLABLE = "http://fhirterm.org/fhir/ValueSet/icd10cm-billable"


@pytest.fixture(scope="module")
def packed_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The small release packed (a cache folder) with the small content's editorial layer."""
    return load_registry(small_settings(tmp_path_factory.mktemp("cache")))


def _icd(reg: Registry) -> CodeSystemIndex:
    return reg.code_system(ICD)


def test_the_small_release_is_packed(packed_registry: Registry, small_registry: Registry) -> None:
    assert isinstance(_icd(packed_registry).concepts, packed.PackedConcepts)
    assert not _icd(small_registry).indexed()
    # the editorial layer set concepts over the packed records
    assert set(_icd(packed_registry).overridden())


def test_property_index_holds_each_value_of_each_concept(packed_registry: Registry) -> None:
    cs = _icd(packed_registry)
    store = cs.concepts
    assert isinstance(store, packed.PackedConcepts)
    over = set(cs.overridden())
    # as written: the records, not the editorial concepts set over them
    records = {
        code: packed.decode(
            code,
            store._buf[store._rbase + store._offsets[i] : store._rbase + store._offsets[i + 1]],
            store._shared,
        )
        for i, code in enumerate(store._codes)
    }
    names = {p.code for c in records.values() for p in c.properties} | {"notSelectable", "inactive"}
    assert {"billable", "chapter", "block", "seventh-character"} <= names
    for name in sorted(names):
        values = {v for c in records.values() for v in prop_values(c, name)}
        for value in sorted(values):
            want = {code for code, c in records.items() if value in prop_values(c, name)}
            got = cs.property_bits(name, [value])
            assert got is not None, name
            ranks = cs.ranks(sorted(want))
            assert got == sum(1 << r for r in ranks), (name, value)
        has = cs.property_bits(name, None)
        assert has == sum(
            1 << r for r in cs.ranks([c for c, x in records.items() if prop_values(x, name)])
        )
    # answered from the concept itself, never from the index
    assert (
        cs.property_bits("display", ["x"]) is None and cs.property_bits("parent", ["M99"]) is None
    )
    # a property no record had (the editorial layer's region): nothing, as written
    assert cs.property_bits("region", None) == 0 and over


def test_ranks_follow_the_text_index(packed_registry: Registry) -> None:
    cs = _icd(packed_registry)
    codes = cs.text_index().codes
    assert cs.ranks(codes) == list(range(len(codes)))
    assert cs.ranks(["M99.44", "NOPE"])[1] == -1


def test_subtree_is_the_code_and_its_descendants(packed_registry: Registry) -> None:
    cs = _icd(packed_registry)
    for code in cs.concepts:
        sub = cs.subtree_ranks(code)
        assert sub is not None
        assert list(sub) == cs.ranks([code, *cs.descendants(code)]), code


def test_no_subtree_column_when_the_codes_are_not_in_hierarchy_order(
    tmp_path: Path, small_registry: Registry
) -> None:
    cs = _icd(small_registry)
    codes = list(cs.concepts)
    # the same concepts, a child listed before its parent
    shuffled = CodeSystemIndex(
        cs.info, {c: cs.concepts[c] for c in [codes[1], codes[0], *codes[2:]]}, cs.roots
    )
    packed.write(shuffled, tmp_path / "x.packed")
    again = packed.load(tmp_path / "x.packed")
    assert again.subtree_ranks(codes[0]) is None
    packed.write(cs, tmp_path / "y.packed")
    assert packed.load(tmp_path / "y.packed").subtree_ranks(codes[0]) is not None


def _inline(
    include: list[dict[str, Any]], exclude: list[dict[str, Any]] | None = None, **more: Any
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": include, **more}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


def _f(prop: str, op: str, value: str) -> dict[str, Any]:
    return {"system": ICD, "filter": [{"property": prop, "op": op, "value": value}]}


def _codes(*codes: str) -> dict[str, Any]:
    return {"system": ICD, "concept": [{"code": c} for c in codes]}


# value sets over the small release (and the colors code system, a FHIR CodeSystem)
VALUE_SETS: dict[str, dict[str, Any]] = {
    "is-a M99": _inline([_f("concept", "is-a", "M99")]),
    "descendent-of S06": _inline([_f("concept", "descendent-of", "S06")]),
    "is-not-a S06": _inline([_f("concept", "is-not-a", "S06")]),
    "descendent-leaf S06.0": _inline([_f("concept", "descendent-leaf", "S06.0")]),
    "child-of M99": _inline([_f("concept", "child-of", "M99")]),
    "generalizes S06.0X1A": _inline([_f("concept", "generalizes", "S06.0X1A")]),
    "billable": _inline([_f("billable", "=", "true")]),
    "not billable": _inline([_f("billable", "=", "false")]),
    "chapter in": _inline([_f("chapter", "in", "13,19")]),
    "chapter not-in": _inline([_f("chapter", "not-in", "13")]),
    "notSelectable": _inline([_f("notSelectable", "=", "true")]),
    "seventh-character exists": _inline([_f("seventh-character", "exists", "true")]),
    "seventh-character absent": _inline([_f("seventh-character", "exists", "false")]),
    # only the editorial layer has it: over the packed release, the concepts set over the
    # records are tested on their own
    "region exists": _inline([_f("region", "exists", "true")]),
    "documentation-tip absent": _inline([_f("documentation-tip", "exists", "false")]),
    "code in": _inline([_f("code", "in", "M99.44,S06.9,NOPE")]),
    "code not-in": _inline([_f("concept", "not-in", "M99.44,S06.9")]),
    "inactive": _inline([_f("inactive", "=", "false")]),
    "regex": _inline([_f("code", "regex", "M99.*")]),
    "display =": _inline([_f("display", "=", "Cholera")]),
    "concepts": _inline([_codes("M99.44", "S06.0X1A", "M43", "NOPE", "T07")]),
    "is-a and billable": _inline(
        [
            {
                "system": ICD,
                "filter": [
                    {"property": "concept", "op": "is-a", "value": "S06"},
                    {"property": "billable", "op": "=", "value": "true"},
                ],
            }
        ]
    ),
    "includes less excludes": _inline(
        [_f("concept", "is-a", "M99"), _f("concept", "is-a", "S06")],
        [_f("concept", "is-a", "S06.0X1"), _codes("M99.44")],
    ),
    "import and filter": _inline(
        [
            {
                "system": ICD,
                "valueSet": [f"{ICD}?fhir_vs=isa/S06"],
                "filter": [{"property": "billable", "op": "=", "value": "true"}],
            }
        ]
    ),
    "imports intersected": _inline(
        [{"valueSet": [f"{ICD}?fhir_vs=isa/S06", f"{ICD}?fhir_vs=isa/S06.0"]}]
    ),
    "imports less exclude": _inline(
        [{"valueSet": [f"{ICD}?fhir_vs"]}], [_f("concept", "is-a", "S06")]
    ),
    "two systems": _inline([_f("concept", "is-a", "M99"), {"system": COLORS}]),
    "colors": _inline(
        [{"system": COLORS, "filter": [{"property": "concept", "op": "is-a", "value": "red"}]}]
    ),
    "compose inactive false": _inline([_f("concept", "is-a", "S06")], inactive=False),
}
PAGES: list[dict[str, Any]] = [
    {},
    {"count": 3},
    {"count": 2, "offset": 3},
    {"count": 0},
    {"count": 5, "activeOnly": True},
    {"filter": "region"},
    {"filter": "sacral stenosis", "count": 1},
    {"filter": "fracture init", "count": 2, "offset": 1},
    {"filter": "injury", "activeOnly": True},
    {"filter": "red"},
    {"filter": "--"},
    {"excludeNested": False},
    {"filter": "region", "excludeNested": False},
]


def _parameters(vs: dict[str, Any], page: dict[str, Any]) -> bytes:
    params: list[dict[str, Any]] = [{"name": "valueSet", "resource": vs}]
    for name, value in page.items():
        kind = {bool: "valueBoolean", int: "valueInteger", str: "valueString"}[type(value)]
        params.append({"name": name, kind: value})
    return orjson.dumps({"resourceType": "Parameters", "parameter": params})


def _answers(app: Any) -> Iterator[tuple[str, int, Any]]:
    client = app.test_client()
    for name, vs in VALUE_SETS.items():
        for page in PAGES:
            r = client.post(
                "/fhir/ValueSet/$expand",
                data=_parameters(vs, page),
                content_type="application/fhir+json",
            )
            body = r.json
            if body.get("resourceType") == "ValueSet":
                body["expansion"].pop("identifier")
                body["expansion"].pop("timestamp")
            yield f"{name} {page}", r.status_code, body


def _walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the bitmaps off: every member is walked and tested, as before they existed."""
    monkeypatch.setattr(expand, "member_bits", lambda *a, **k: None)
    monkeypatch.setattr(expand, "text_matches", lambda *a, **k: None)


@pytest.mark.parametrize("store", ["in memory", "packed"])
def test_bitmaps_answer_what_the_walk_answers(
    store: str,
    small_registry: Registry,
    packed_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = small_registry if store == "in memory" else packed_registry
    app = create_app(small_settings(), reg)
    fast = list(_answers(app))
    with monkeypatch.context() as m:
        _walked(m)
        walked = list(_answers(app))
    assert [a[0] for a in fast] == [a[0] for a in walked]
    for (what, status, body), (_, status_w, body_w) in zip(fast, walked, strict=True):
        assert (status, body) == (status_w, body_w), what
    statuses = {status for _, status, _ in fast}
    assert 200 in statuses
    totals = {what: body["expansion"]["total"] for what, status, body in fast if status == 200}
    # the answers are not all empty: the bitmaps were exercised on real members
    assert totals["billable {'count': 3}"] > 3 and totals["is-a M99 {'filter': 'region'}"] > 1


def test_the_bitmaps_are_used(packed_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a packed release, a compose of hierarchy, property and concept filters is
    counted without walking its members (the walk is made to fail)."""
    app = create_app(small_settings(), packed_registry)

    def no_walk(*a: Any, **k: Any) -> Any:
        raise AssertionError("walked the members")

    monkeypatch.setattr(valueset.Include, "contains", no_walk)
    client = app.test_client()
    for name in ("is-a and billable", "includes less excludes", "concepts", "chapter in"):
        for page in ({"count": 0}, {"filter": "region", "count": 5}):
            r = client.post(
                "/fhir/ValueSet/$expand",
                data=_parameters(VALUE_SETS[name], page),
                content_type="application/fhir+json",
            )
            assert r.status_code == 200, (name, r.json)


def test_billable_total_is_every_billable_code(full_registry: Registry, full_client: Any) -> None:
    """icd10cm-billable with count=3 (read from the property index): its total is the number
    of codes whose billable property is true, and its first codes the first such codes."""
    cs = _icd(full_registry)
    billable = [
        code for code in cs.concepts if prop_values(cs.concepts[code], "billable") == ["true"]
    ]
    r = full_client.get(f"/fhir/ValueSet/$expand?url={BILLABLE}&count=3")
    assert r.status_code == 200, r.json
    assert r.json["expansion"]["total"] == len(billable)
    assert [c["code"] for c in r.json["expansion"]["contains"]] == billable[:3]


def test_text_filter_over_compose_on_the_full_release(
    full_registry: Registry, full_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text filters over compose value sets of the full release answer what the walk
    answers: is-a a category, a chapter, the billable codes, a concept list."""
    rng = random.Random(17)
    codes = sorted(_icd(full_registry).concepts)
    near = codes[40000:40120]
    requests = [
        (f"/fhir/ValueSet/$expand?url={BILLABLE}&filter=stenosis%20neural%20canal&count=50", None),
        (
            f"/fhir/ValueSet/$expand?url={ICD}?fhir_vs=isa/S72&filter=fract%20left&count=20&offset=5",
            None,
        ),
        (
            "/fhir/ValueSet/$expand?url=http://fhirterm.org/fhir/ValueSet/icd10cm-chapter-13&filter=sacral&count=100",
            None,
        ),
        (
            "/fhir/ValueSet/$expand",
            _parameters(_inline([_codes(*near)]), {"filter": "unsp", "count": 20}),
        ),
        (
            "/fhir/ValueSet/$expand",
            _parameters(
                _inline([_codes(*rng.sample(codes, 300))]), {"filter": "unspecified", "count": 100}
            ),
        ),
    ]

    def answers() -> list[Any]:
        out = []
        for path, body in requests:
            r = (
                full_client.get(path)
                if body is None
                else full_client.post(path, data=body, content_type="application/fhir+json")
            )
            assert r.status_code == 200, r.json
            out.append((r.json["expansion"]["total"], r.json["expansion"].get("contains")))
        return out

    fast = answers()
    with monkeypatch.context() as m:
        _walked(m)
        assert answers() == fast
    assert all(total > 0 for total, _ in fast), [total for total, _ in fast]
