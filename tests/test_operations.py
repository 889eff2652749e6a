"""The operations as plain functions: (registry, request) -> result, on the small release.

Each operation of ``fhirterm.operations`` is called here directly with its request
type from ``operations.contracts``, over the registry of the hand-made release
(``tests/data``): no HTTP, no parameter parsing, no rendering. What the answer means
is tested here; how a request is read and an answer written is tested through the
Flask test client (tests/test_http_small.py, test_valueset.py...), and the whole
stack against a live server (tests/live.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from fhirterm.errors import (
    CircularValueSet,
    CodeNotFound,
    InvalidRequest,
    NotFound,
    NotSupported,
    TerminologyError,
    TooCostly,
)
from fhirterm.model import Coding, Property
from fhirterm.operations.contracts import (
    ExpandRequest,
    ExpandResult,
    LookupRequest,
    SubsumesRequest,
    TranslateRequest,
    ValidateCodeRequest,
    ValidateCodeResult,
)
from fhirterm.operations.expand import expand
from fhirterm.operations.lookup import lookup
from fhirterm.operations.subsumes import subsumes
from fhirterm.operations.translate import translate
from fhirterm.operations.validate_code import validate_code
from fhirterm.operations.vs_validate import batch_validate, validate_vs_code
from fhirterm.registry import Registry

from .conftest import ICD

COLORS = "http://example.org/fhir/CodeSystem/colors"
M99_44 = "Connective tissue stenosis of neural canal of sacral region"


def props(result_properties: list[Property]) -> dict[str, list[Property]]:
    out: dict[str, list[Property]] = {}
    for p in result_properties:
        out.setdefault(p.code, []).append(p)
    return out


# -- CodeSystem $lookup -------------------------------------------------------------------


def test_lookup_gives_display_definition_and_properties(small_registry: Registry) -> None:
    r = lookup(small_registry, LookupRequest(system=ICD, code="M99.44"))
    assert (r.system, r.version, r.code, r.display) == (ICD, "2099", "M99.44", M99_44)
    assert r.definition == "Test definition: soft tissue narrows the sacral canal."
    assert r.abstract is False
    p = props(r.properties)
    assert [x.value for x in p["parent"]] == ["M99.4"]
    assert p["billable"][0].value is True
    assert p["chapter"][0].value == "13"
    assert p["chapter"][0].description == (
        "Diseases of the musculoskeletal system and connective tissue (M00-M99)"
    )
    assert p["block"][0].value == "M99-M99"
    assert [x.value for x in p["sibling"]] == ["M99.43", "M99.74"]
    faq = p["faq"][1]
    assert [(s.code, s.value) for s in faq.sub] == [
        ("question", "Is M99.4 billable?"),
        ("answer", "No, it is a header."),
    ]
    assert p["verified"][0].value == "2026-05-08"


def test_lookup_of_a_header_gives_children_notes_and_inclusion_terms(
    small_registry: Registry,
) -> None:
    r = lookup(small_registry, LookupRequest(system=ICD, code="M99.4"))
    p = props(r.properties)
    assert [x.value for x in p["child"]] == ["M99.43", "M99.44", "M99.74"]
    assert p["billable"][0].value is False and r.abstract is True
    assert [(s.code, s.value) for s in p["excludes2"][0].sub] == [("reference", "M43.1")]
    assert p["inclusion-term"][0].value == "Ligamentous canal narrowing"
    assert [d.value for d in r.designations] == ["Ligamentous canal narrowing"]


def test_lookup_property_limits_the_properties(small_registry: Registry) -> None:
    r = lookup(
        small_registry, LookupRequest(system=ICD, code="M99.44", properties=("parent", "region"))
    )
    assert set(props(r.properties)) == {"parent", "region"}
    r = lookup(
        small_registry,
        LookupRequest(system=ICD, code="M99.44", properties=("definition", "billable")),
    )
    assert set(props(r.properties)) == {"billable"}


def test_lookup_of_a_coding(small_registry: Registry) -> None:
    r = lookup(small_registry, LookupRequest(coding=Coding(system=ICD, code="T07.XXXA")))
    assert r.display == "Unspecified multiple injuries, initial encounter"


@pytest.mark.parametrize(
    "req, error, words",
    [
        (LookupRequest(system=ICD, code="M99.99"), CodeNotFound, "Unknown code 'M99.99'"),
        (LookupRequest(system=ICD, code="m99.44"), CodeNotFound, "did you mean 'M99.44'"),
        (LookupRequest(system=ICD, code="13"), CodeNotFound, "is a chapter"),
        (LookupRequest(system=ICD), InvalidRequest, "No code"),
        (LookupRequest(system=ICD, code="M99.44", version="1999"), NotFound, "version '1999'"),
        (LookupRequest(system="http://example.org/none", code="A"), NotFound, "example.org/none"),
    ],
)
def test_lookup_errors(
    small_registry: Registry, req: LookupRequest, error: type[TerminologyError], words: str
) -> None:
    with pytest.raises(error) as e:
        lookup(small_registry, req)
    assert words in str(e.value)


def test_lookup_of_a_fhir_code_system(small_registry: Registry) -> None:
    r = lookup(small_registry, LookupRequest(system=COLORS, code="red"))
    assert [x.value for x in props(r.properties)["parent"]] == ["warm"]


# -- CodeSystem $validate-code ------------------------------------------------------------


def cs_validate(registry: Registry, code: str, **kw: Any) -> ValidateCodeResult:
    return validate_code(registry, ValidateCodeRequest(system=ICD, code=code, **kw))


def test_validate_code_with_the_right_and_a_wrong_display(small_registry: Registry) -> None:
    r = cs_validate(small_registry, "M99.44", display=M99_44)
    assert r.result is True and r.issues == [] and r.display == M99_44
    r = cs_validate(small_registry, "M99.44", display="Sacral thing")
    assert r.result is False
    assert r.message is not None and f"Valid display is '{M99_44}'" in r.message
    assert [i.expression for i in r.issues] == ["display"]
    lenient = cs_validate(small_registry, "M99.44", display="Sacral thing", lenient_display=True)
    assert lenient.result is True and lenient.issues[0].severity == "warning"


def test_a_header_is_valid_with_a_warning_naming_billable_descendants(
    small_registry: Registry,
) -> None:
    r = cs_validate(small_registry, "S06")
    assert r.result is True
    (issue,) = r.issues
    assert issue.severity == "warning" and "not billable" in issue.text
    assert (
        "6 billable descendants: S06.0X1A, S06.0X1D, S06.0X1S, S06.0X7A, S06.9XXA and 1 more"
        in issue.text
    )


@pytest.mark.parametrize(
    "code, suggestion",
    [
        ("m99.44", "M99.44"),
        ("M9944", "M99.44"),
        (" M99.44", "M99.44"),
        ("M99-M99", None),
        ("13", None),
    ],
)
def test_non_codes_are_invalid_with_a_suggestion(
    small_registry: Registry, code: str, suggestion: str | None
) -> None:
    r = cs_validate(small_registry, code)
    assert r.result is False and r.message is not None
    if suggestion:
        assert f"did you mean '{suggestion}'" in r.message
    else:
        assert "grouping that is not a code" in r.message


def test_a_codeable_concept_with_an_unknown_system_is_false(small_registry: Registry) -> None:
    """The ICD-10-CM coding is valid, but an unknown code system on another coding makes
    the whole concept false, as in the HL7 terminology ecosystem."""
    cc = (Coding(system="http://example.org/x", code="1"), Coding(system=ICD, code="M99.44"))
    r = validate_code(small_registry, ValidateCodeRequest(codeable_concept=cc))
    assert r.result is False and r.display == M99_44
    assert any("could not be found" in i.text for i in r.issues)
    assert r.unknown_systems == ["http://example.org/x"] and r.unknown_is_cause is True


def test_an_unknown_system_is_a_result_not_an_error(small_registry: Registry) -> None:
    r = validate_code(
        small_registry, ValidateCodeRequest(system="http://example.org/none", code="1")
    )
    assert r.result is False and r.unknown_systems == ["http://example.org/none"]
    assert r.unknown_is_cause is False
    assert r.issues[0].tx_code == "not-found"


def test_a_case_insensitive_code_system_and_a_designation_as_display(
    small_registry: Registry,
) -> None:
    r = validate_code(small_registry, ValidateCodeRequest(system=COLORS, code="RED"))
    assert r.result is True and r.normalized_code == "red"
    r = validate_code(
        small_registry, ValidateCodeRequest(system=COLORS, code="red", display="Rouge")
    )
    assert r.result is True


def test_an_unknown_version_is_reported(small_registry: Registry) -> None:
    r = cs_validate(small_registry, "M99.44", system_version="1999")
    assert r.result is False and r.message is not None and "1999" in r.message


# -- CodeSystem $subsumes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, outcome",
    [
        ("M99", "M99.44", "subsumes"),
        ("M99.44", "M99", "subsumed-by"),
        ("M99.44", "M99.44", "equivalent"),
        ("M99.44", "M99.34", "not-subsumed"),
        ("S06", "S06.0X1A", "subsumes"),
    ],
)
def test_subsumes(small_registry: Registry, a: str, b: str, outcome: str) -> None:
    assert subsumes(small_registry, SubsumesRequest(code_a=a, code_b=b, system=ICD)) == outcome


def test_subsumes_codings(small_registry: Registry) -> None:
    req = SubsumesRequest(coding_a=Coding(ICD, "M99.4"), coding_b=Coding(ICD, "M99.43"))
    assert subsumes(small_registry, req) == "subsumes"


@pytest.mark.parametrize(
    "req, error",
    [
        (SubsumesRequest(code_a="M99", code_b="NOPE", system=ICD), CodeNotFound),
        (SubsumesRequest(code_a="a", code_b="b", system="http://unknown"), NotFound),
        (SubsumesRequest(code_a="M99", system=ICD), InvalidRequest),
        (SubsumesRequest(code_a="M99", code_b="M99.4"), InvalidRequest),
        (
            SubsumesRequest(coding_a=Coding(ICD, "M99"), coding_b=Coding(COLORS, "red")),
            InvalidRequest,
        ),
    ],
)
def test_subsumes_errors(
    small_registry: Registry, req: SubsumesRequest, error: type[TerminologyError]
) -> None:
    with pytest.raises(error):
        subsumes(small_registry, req)


# -- ValueSet $expand ---------------------------------------------------------------------


def vs(
    *includes: dict[str, Any], exclude: list[dict[str, Any]] | None = None, url: str = "http://t/vs"
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": list(includes)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "url": url, "status": "active", "compose": compose}


def icd_filter(prop: str, op: str, value: str) -> dict[str, Any]:
    return {"system": ICD, "filter": [{"property": prop, "op": op, "value": value}]}


def codes(r: ExpandResult) -> list[str]:
    return [i.code for i in r.items]


def expand_vs(registry: Registry, valueset: dict[str, Any], **kw: Any) -> ExpandResult:
    return expand(registry, ExpandRequest(value_set=valueset, **kw))


@pytest.mark.parametrize(
    "op, value, expected",
    [
        ("is-a", "M99.4", ["M99.4", "M99.43", "M99.44", "M99.74"]),
        ("descendent-of", "M99.4", ["M99.43", "M99.44", "M99.74"]),
        ("child-of", "M99", ["M99.3", "M99.4", "M99.9"]),
        ("descendent-leaf", "M99", ["M99.34", "M99.43", "M99.44", "M99.74", "M99.9"]),
        ("generalizes", "M99.44", ["M99.44", "M99.4", "M99"]),
    ],
)
def test_hierarchy_filters(
    small_registry: Registry, op: str, value: str, expected: list[str]
) -> None:
    assert codes(expand_vs(small_registry, vs(icd_filter("concept", op, value)))) == expected


def test_is_not_a(small_registry: Registry) -> None:
    got = codes(expand_vs(small_registry, vs(icd_filter("concept", "is-not-a", "S06"))))
    assert "S06.0X1A" not in got and "S06" not in got and "T07.XXXA" in got and "M99.44" in got


@pytest.mark.parametrize(
    "prop, op, value, expected",
    [
        ("code", "regex", r"M99\.[0-9]4", ["M99.34", "M99.44", "M99.74"]),
        ("display", "regex", ".*sacral region", ["M99.34", "M99.44", "M99.74"]),
        ("block", "=", "T07-T07", ["T07", "T07.XXXA", "T07.XXXD", "T07.XXXS"]),
        ("code", "in", "M99.44,M99.9,NOPE", ["M99.44", "M99.9"]),
        ("region", "exists", "true", ["M99.44"]),
    ],
)
def test_property_filters(
    small_registry: Registry, prop: str, op: str, value: str, expected: list[str]
) -> None:
    assert codes(expand_vs(small_registry, vs(icd_filter(prop, op, value)))) == expected


def test_equals_not_in_and_exists_false(small_registry: Registry) -> None:
    billable_ch13 = {
        "system": ICD,
        "filter": [
            {"property": "chapter", "op": "=", "value": "13"},
            {"property": "billable", "op": "=", "value": "true"},
        ],
    }
    assert codes(expand_vs(small_registry, vs(billable_ch13))) == [
        "M43.16",
        "M99.34",
        "M99.43",
        "M99.44",
        "M99.74",
        "M99.9",
    ]
    got = codes(expand_vs(small_registry, vs(icd_filter("chapter", "not-in", "13"))))
    assert got and all(c[0] in "ST" for c in got)
    got = codes(expand_vs(small_registry, vs(icd_filter("region", "exists", "false"))))
    assert "M99.44" not in got and len(got) == 26


def test_concepts_excludes_and_imports(small_registry: Registry) -> None:
    listed = vs(
        {
            "system": ICD,
            "concept": [
                {"code": "M99.44", "display": "Sacral canal, soft tissue"},
                {"code": "M99.9"},
            ],
        }
    )
    assert [i.display for i in expand_vs(small_registry, listed).items] == [
        "Sacral canal, soft tissue",
        "Biomechanical lesion, unspecified",
    ]
    excl = vs(
        icd_filter("concept", "is-a", "M99"), exclude=[icd_filter("concept", "is-a", "M99.4")]
    )
    assert codes(expand_vs(small_registry, excl)) == ["M99", "M99.3", "M99.34", "M99.9"]
    imported = vs(
        {"valueSet": [f"{ICD}?fhir_vs=isa/M99.4"]}, {"valueSet": [f"{ICD}?fhir_vs=isa/T07"]}
    )
    assert codes(expand_vs(small_registry, imported)) == [
        "M99.4",
        "M99.43",
        "M99.44",
        "M99.74",
        "T07",
        "T07.XXXA",
        "T07.XXXD",
        "T07.XXXS",
    ]
    both = vs(
        {
            "system": ICD,
            "valueSet": [f"{ICD}?fhir_vs=isa/M99.4"],
            "filter": [{"property": "billable", "op": "=", "value": "true"}],
        }
    )
    assert codes(expand_vs(small_registry, both)) == ["M99.43", "M99.44", "M99.74"]


def test_an_import_cycle_is_an_error(small_registry: Registry) -> None:
    a = {**vs({"valueSet": ["http://t/b"]}, url="http://t/a"), "id": "cycle-a"}
    b = {**vs({"valueSet": ["http://t/a"]}, url="http://t/b"), "id": "cycle-b"}
    registry = small_registry.overlay([], [a, b])
    with pytest.raises(CircularValueSet, match="circularity pointing to http://t/a"):
        expand(registry, ExpandRequest(url="http://t/a"))


def test_implicit_value_sets_text_filter_and_paging(small_registry: Registry) -> None:
    def text(url: str, words: str, **kw: Any) -> ExpandResult:
        return expand(small_registry, ExpandRequest(url=url, filter=words, **kw))

    assert codes(text(f"{ICD}?fhir_vs", "sacral stenosis")) == ["M99.34", "M99.44", "M99.74"]
    # word prefixes, any order; inclusion terms are searched too
    assert codes(text(f"{ICD}?fhir_vs", "sten sacr")) == ["M99.34", "M99.44", "M99.74"]
    assert codes(text(f"{ICD}?fhir_vs", "ligamentous")) == ["M99.4"]
    r = text(f"{ICD}?fhir_vs=isa/M99", "canal", count=2, offset=1)
    assert (r.total, r.offset, len(r.items)) == (5, 1, 2)
    assert {"filter", "count", "offset", "used-codesystem"} <= {p[0] for p in r.parameters}


def test_expansion_of_a_fhir_code_system(small_registry: Registry) -> None:
    req = ExpandRequest(
        url=f"{COLORS}?fhir_vs",
        include_designations=True,
        display_language="fr",
        properties=("definition",),
        include_definition=True,
    )
    r = expand(small_registry, req)

    def flat(items: list[Any]) -> list[Any]:
        return [x for i in items for x in (i, *flat(i.children))]

    # a FHIR CodeSystem expands along its concept tree (nested) unless excludeNested
    items = {i.code: i for i in flat(r.items)}
    assert items["red"].display == "Rouge" and items["red"].designations[0].value == "Rouge"
    assert items["warm"].abstract is True and items["red"] in items["warm"].children
    assert r.value_set["compose"]["include"][0]["system"] == COLORS
    r = expand(
        small_registry,
        ExpandRequest(
            url=f"{COLORS}?fhir_vs", count=1, offset=1, active_only=True, exclude_nested=True
        ),
    )
    assert r.total == 4 and codes(r) == ["red"]


def test_an_unpaged_expansion_over_the_limit_is_too_costly(small_registry: Registry) -> None:
    with pytest.raises(TooCostly):
        expand(small_registry, ExpandRequest(url=f"{ICD}?fhir_vs", limit=5))
    assert (
        len(expand(small_registry, ExpandRequest(url=f"{ICD}?fhir_vs", count=5, limit=5)).items)
        == 5
    )


@pytest.mark.parametrize(
    "req, error, words",
    [
        (ExpandRequest(url="http://nowhere/vs"), NotFound, "http://nowhere/vs"),
        (ExpandRequest(), InvalidRequest, ""),
        (ExpandRequest(url=f"{ICD}?fhir_vs=isa/NOPE"), NotFound, "NOPE"),
        (ExpandRequest(url=f"{ICD}?fhir_vs=foo"), NotSupported, "is not supported"),
        (ExpandRequest(url="http://unknown/cs?fhir_vs"), NotFound, "http://unknown/cs"),
        (
            ExpandRequest(value_set=vs(icd_filter("concept", "near", "x"))),
            NotSupported,
            "not supported",
        ),
    ],
)
def test_expand_errors(
    small_registry: Registry, req: ExpandRequest, error: type[TerminologyError], words: str
) -> None:
    with pytest.raises(error) as e:
        expand(small_registry, req)
    assert words in str(e.value)


# -- ValueSet $validate-code --------------------------------------------------------------


def vs_validate(
    registry: Registry, url: str, code: str | None = None, **kw: Any
) -> ValidateCodeResult:
    system = kw.pop("system", ICD)
    return validate_vs_code(
        registry, ValidateCodeRequest(value_set_url=url, system=system, code=code, **kw)
    )


def test_vs_validate_code(small_registry: Registry) -> None:
    isa = f"{ICD}?fhir_vs=isa/M99.4"
    assert vs_validate(small_registry, isa, "M99.44").result is True
    r = vs_validate(small_registry, isa, "M99.34")
    assert r.result is False and r.issues[0].tx_code == "not-in-vs"
    r = vs_validate(small_registry, isa, "M99.44", display="Wrong")
    assert r.result is False and r.message is not None and "Valid display is" in r.message
    r = vs_validate(small_registry, isa, "M99.4")
    assert r.result is True and r.message is not None and "not billable" in r.message
    assert vs_validate(small_registry, isa, "M99.4", abstract=False).result is False
    r = vs_validate(small_registry, isa, "M99.99")
    assert r.result is False and r.message is not None and "Unknown code" in r.message
    r = vs_validate(small_registry, f"{ICD}?fhir_vs", "1", system="http://unknown")
    assert r.result is False and r.issues[0].tx_code == "not-found"
    assert r.unknown_systems == ["http://unknown"]
    coding = Coding(ICD, "T07.XXXA")
    assert vs_validate(small_registry, f"{ICD}?fhir_vs", system=None, coding=coding).result is True


def test_vs_validate_inline_value_set_codings_and_errors(small_registry: Registry) -> None:
    inline = vs({"system": ICD, "concept": [{"code": "M99.44"}]})
    cc = (Coding(ICD, "M99.34"), Coding(ICD, "M99.44"))
    req = ValidateCodeRequest(value_set=inline, codeable_concept=cc)
    assert validate_vs_code(small_registry, req).result is True
    req = ValidateCodeRequest(value_set=inline, coding=Coding(ICD, "M99.9"))
    assert validate_vs_code(small_registry, req).result is False
    with pytest.raises(InvalidRequest):
        validate_vs_code(small_registry, ValidateCodeRequest(value_set=inline))
    with pytest.raises(NotFound):
        validate_vs_code(
            small_registry,
            ValidateCodeRequest(value_set_url="http://nowhere", system=ICD, code="x"),
        )


def test_batch_validate_answers_each_entry_and_keeps_errors_in_place(
    small_registry: Registry,
) -> None:
    isa = f"{ICD}?fhir_vs=isa/M99.4"
    bad = InvalidRequest("no code")
    entries: list[ValidateCodeRequest | TerminologyError] = [
        ValidateCodeRequest(value_set_url=isa, system=ICD, code="M99.44"),
        bad,
        ValidateCodeRequest(value_set_url="http://nowhere", system=ICD, code="x"),
        ValidateCodeRequest(value_set_url=isa, system=ICD, code="M99.34"),
    ]
    out = batch_validate(small_registry, entries)
    assert isinstance(out[0], ValidateCodeResult) and out[0].result is True
    assert out[1] is bad
    assert isinstance(out[2], NotFound)
    assert isinstance(out[3], ValidateCodeResult) and out[3].result is False


# -- ConceptMap $translate ----------------------------------------------------------------

CONCEPT_MAP = {
    "resourceType": "ConceptMap",
    "url": "http://t/cm",
    "version": "1",
    "status": "active",
    "group": [
        {
            "source": COLORS,
            "target": ICD,
            "element": [
                {
                    "code": "red",
                    "target": [
                        {"code": "M99.4", "equivalence": "relatedto", "comment": "Why not"},
                        {"code": "M99.44", "equivalence": "wider"},
                    ],
                },
                {"code": "blue", "target": [{"code": "M99.9", "equivalence": "equivalent"}]},
            ],
        }
    ],
}


def test_translate_forward_gives_every_match(small_registry: Registry) -> None:
    r = translate(
        small_registry, TranslateRequest(concept_map=CONCEPT_MAP, system=COLORS, code="red")
    )
    assert r.result is True
    assert [(m.concept.system, m.concept.code, m.equivalence) for m in r.matches] == [
        (ICD, "M99.4", "relatedto"),
        (ICD, "M99.44", "wider"),
    ]
    assert r.matches[0].comment == "Why not" and r.matches[0].source == "http://t/cm"


def test_translate_reverse_inverts_the_equivalence(small_registry: Registry) -> None:
    req = TranslateRequest(concept_map=CONCEPT_MAP, system=ICD, code="M99.44", reverse=True)
    r = translate(small_registry, req)
    assert [(m.concept.code, m.equivalence) for m in r.matches] == [("red", "narrower")]
    assert r.matches[0].link_target is not None and r.matches[0].link_target.code == "M99.44"


def test_translate_without_a_match_and_errors(small_registry: Registry) -> None:
    r = translate(
        small_registry, TranslateRequest(concept_map=CONCEPT_MAP, system=COLORS, code="green")
    )
    assert r.result is False and r.matches == [] and r.message
    with pytest.raises(InvalidRequest):
        translate(small_registry, TranslateRequest(concept_map=CONCEPT_MAP, system=COLORS))
    with pytest.raises(NotFound):
        translate(
            small_registry, TranslateRequest(url="http://nowhere/cm", system=COLORS, code="red")
        )
