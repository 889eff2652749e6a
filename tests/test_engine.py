"""The compose engine as plain functions: the version resolver, the compiled value set the
validation reads (``compose.compile_for_validation``) and $validate-code through it.

The registry is built here from FHIR CodeSystem resources: one code system in two
versions (1.0.0 and 2.0.0, the second adding a code) and a value set over both.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhirterm.errors import CircularValueSet, InvalidValueSet, NotFound
from fhirterm.operations.compose import (
    UnresolvedImport,
    compile_for_validation,
    compile_value_set,
)
from fhirterm.operations.contracts import ValidateCodeRequest, VersionRules
from fhirterm.operations.versions import NO_RULES, newest_first, resolve
from fhirterm.operations.vs_validate import validate_vs_code
from fhirterm.providers.fhir_json import parse_code_system
from fhirterm.registry import Registry

CS = "http://example.org/cs"


def code_system(version: str, codes: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": CS,
        "version": version,
        "status": "active",
        "content": "complete",
        "concept": [{"code": c, "display": f"Display {c}"} for c in codes],
    }


@pytest.fixture(scope="module")
def registry() -> Registry:
    reg = Registry()
    reg.add_code_system(parse_code_system(code_system("1.0.0", ["a", "b"]), "v1"))
    reg.add_code_system(parse_code_system(code_system("2.0.0", ["a", "b", "c"]), "v2"))
    return reg


def value_set(*includes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "active",
        "compose": {"include": list(includes)},
        **extra,
    }


def test_resolve_picks_the_version_meant(registry: Registry) -> None:
    assert resolve(registry, NO_RULES, CS).version == ""
    assert resolve(registry, NO_RULES, CS).cs is registry.code_systems[CS]["2.0.0"]
    # a wildcard names the newest version it matches
    assert resolve(registry, NO_RULES, CS, "1.x").cs is registry.code_systems[CS]["1.0.0"]
    # the coding's version wins where the include names none and the registry holds it
    found = resolve(registry, NO_RULES, CS, None, "1.0.0")
    assert (found.version, found.cs) == ("1.0.0", registry.code_systems[CS]["1.0.0"])
    # ... and where it is a more detailed form of the include's wildcard
    assert resolve(registry, NO_RULES, CS, "1.x", "1.0.0").version == "1.0.0"
    # an unknown version: nothing found, the version asked for kept to say so
    assert resolve(registry, NO_RULES, CS, "3.0.0") == ("3.0.0", None, None)


def test_resolve_applies_the_request_rules(registry: Registry) -> None:
    forced = VersionRules.parse((), (), (f"{CS}|1.0.0",))
    assert resolve(registry, forced, CS, "2.0.0").cs is registry.code_systems[CS]["1.0.0"]
    default = VersionRules.parse((f"{CS}|1.0.0",), (), ())
    assert resolve(registry, default, CS).version == "1.0.0"
    assert resolve(registry, default, CS, "2.0.0").version == "2.0.0"
    check = VersionRules.parse((), (f"{CS}|1.x",), ())
    assert resolve(registry, check, CS, "2.0.0").violated == "1.x"
    assert resolve(registry, check, CS, "1.0.0").violated is None


def test_newest_first_reorders_only_versions_of_one_system() -> None:
    items = [("x", "1"), ("y", None), ("x", "3"), ("z", "1"), ("x", "2")]
    ordered = newest_first(items, lambda i: i[0], lambda i: i[1])
    assert ordered == [("x", "3"), ("y", None), ("x", "2"), ("z", "1"), ("x", "1")]


def test_includes_are_tried_newest_version_first_or_as_the_coding_pins(
    registry: Registry,
) -> None:
    vs = compile_for_validation(
        registry,
        value_set({"system": CS, "version": "1.0.0"}, {"system": CS, "version": "2.0.0"}),
    )
    assert [i.stated_version for i in vs.includes_for(CS, "")] == ["2.0.0", "1.0.0"]
    assert [i.stated_version for i in vs.includes_for(CS, "1.0.0")] == ["1.0.0"]
    assert [i.stated_version for i in vs.includes_for(CS, "9")] == ["2.0.0", "1.0.0"]


def test_validation_compiles_what_expand_refuses(registry: Registry) -> None:
    unknown = value_set({"system": "http://example.org/unknown"}, {"system": CS})
    # $expand needs every code system; validation reports the unknown one per coding
    with pytest.raises(NotFound):
        compile_value_set(registry, unknown)
    vs = compile_for_validation(registry, unknown)
    assert [(i.system, i.cs) for i in vs.includes] == [
        ("http://example.org/unknown", None),
        (CS, registry.code_systems[CS]["2.0.0"]),
    ]
    assert vs.include_systems() == ["http://example.org/unknown", CS]
    with pytest.raises(UnresolvedImport) as e:
        compile_for_validation(registry, value_set({"valueSet": ["http://example.org/none"]}))
    assert e.value.name == "http://example.org/none"
    with pytest.raises(InvalidValueSet):
        compile_for_validation(
            registry, value_set({"system": CS, "filter": [{"property": "concept", "op": "is-a"}]})
        )


def test_an_import_cycle_is_named(registry: Registry) -> None:
    a = value_set({"valueSet": ["#b"]}, url="http://example.org/a")
    a["contained"] = [
        {
            "resourceType": "ValueSet",
            "id": "b",
            "url": "http://example.org/b",
            "compose": {"include": [{"valueSet": ["#b"]}]},
        },
    ]
    for compile_ in (compile_value_set, compile_for_validation):
        with pytest.raises(CircularValueSet) as e:
            compile_(registry, a)
        assert str(e.value) == (
            "Found a circularity pointing to http://example.org/b processing ValueSet with "
            "pathway [http://example.org/a, http://example.org/b]"
        )


def test_systems_with_infers_the_one_system_of_a_code(registry: Registry) -> None:
    vs = compile_for_validation(
        registry, value_set({"system": CS, "concept": [{"code": "a"}, {"code": "c"}]})
    )
    assert vs.systems_with(registry, NO_RULES, "c") == [CS]
    assert vs.systems_with(registry, NO_RULES, "b") == []


def test_validate_code_through_the_engine(registry: Registry) -> None:
    vs = value_set({"system": CS, "version": "1.0.0"}, {"system": CS, "version": "2.0.0"})

    def validate(code: str, version: str | None = None, display: str | None = None) -> Any:
        return validate_vs_code(
            registry,
            ValidateCodeRequest(
                value_set=vs, system=CS, code=code, system_version=version, display=display
            ),
        )

    res = validate("c")  # only in 2.0.0: found in the newer include
    assert (res.result, res.version, res.display) == (True, "2.0.0", "Display c")
    res = validate("a", "1.0.0")  # pinned by the coding's version
    assert (res.result, res.version) == (True, "1.0.0")
    res = validate("c", "1.0.0")  # not in the version the coding names
    assert res.result is False
    assert [i.message_id for i in res.issues if i.severity == "error"] == [
        "Unknown_Code_in_Version",
        "None_of_the_provided_codes_are_in_the_value_set_one",
    ]
    res = validate("a", display="Wrong")
    assert res.result is False and "Wrong" in (res.message or "")
