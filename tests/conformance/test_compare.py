"""The comparison rules of the tx-ecosystem suite, one by one (compare.py, normalize.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .compare import Rules, compare, filter_passes, string_matches
from .normalize import drop_empty, r4_to_r5, required_extension_urls, scrub

R5 = Rules(version="5.0.0")
R4 = Rules(version="4.0.1")


def ok(expected: Any, actual: Any, rules: Rules = R5) -> bool:
    return compare(expected, actual, rules).ok


# -- string templates ---------------------------------------------------------------------

GOOD_BAD = [
    ("$$", ["", "anything at all"], []),
    (
        "$instant$",
        ["2023-04-01T10:20:30Z", "2023-04-01T10:20:30.123+10:00"],
        ["2023-04-01", "2023-04-01T10:20:30", "now"],
    ),
    ("$date$", ["2023-04-01", "2023-04-01T10:20:30Z"], ["2023-4-1", "01/04/2023", "2023-13-01"]),
    (
        "$uuid$",
        ["urn:uuid:8acdbfdc-e9d2-11ed-a05b-0242ac120003"],
        ["8acdbfdc-e9d2-11ed-a05b-0242ac120003", "urn:uuid:8ACDBFDC-E9D2-11ED-A05B-0242AC120003"],
    ),
    ("$id$", ["abc", "a.b-C1", "x" * 64], ["", "a b", "a_b", "x" * 65]),
    (
        "$url$",
        ["http://example.org/fhir", "https://x.org/a?b=c"],
        ["example.org", "urn:oid:1.2", "http://x.org/ "],
    ),
    ("$token$", ["active", "1.0.0", "_x-y"], ["", "-x", "a b"]),
    ("$semver$", ["1.0.0", "2.10.3-beta.1+build.5"], ["1.0", "01.0.0", "v1.0.0"]),
    ("$string$", ["a b", "x"], [" a", "a ", "a\n"]),
    ("$choice:business-rule|not-found$", ["business-rule", "not-found"], ["invalid", "not"]),
    (
        "$fragments:Supplement|http://x.org/CS$",
        ["The supplement http://x.org/CS is unknown"],
        ["supplement missing", "http://x.org/CS"],
    ),
]


@pytest.mark.parametrize(("template", "good", "bad"), GOOD_BAD, ids=[g[0] for g in GOOD_BAD])
def test_string_templates(template: str, good: list[str], bad: list[str]) -> None:
    for s in good:
        assert string_matches(template, s, R5), s
        assert ok({"v": template}, {"v": s})
    for s in bad:
        assert not string_matches(template, s, R5), s
        assert not ok({"v": template}, {"v": s})


def test_literal_strings_are_exact() -> None:
    assert ok({"v": "Display 1"}, {"v": "Display 1"})
    assert not ok({"v": "Display 1"}, {"v": "display 1"})
    assert not ok({"v": "Display 1"}, {"v": "Display 1 "})


def test_version_token_and_substitution() -> None:
    assert ok({"v": "$version$"}, {"v": "5.0.0"}, R5)
    assert not ok({"v": "$version$"}, {"v": "4.0.1"}, R5)
    assert ok({"v": "$version$"}, {"v": "4.0.1"}, R4)
    cs = "http://hl7.org/fhir/administrative-gender|$version$"
    assert ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|5.0.0"}, R5)
    assert not ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|4.0.1"}, R5)
    unknown = Rules(version=None)
    assert ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|9"}, unknown)
    assert not ok({"v": cs}, {"v": "http://hl7.org/fhir/other|9"}, unknown)


def test_external_messages() -> None:
    tmpl = "$external:1:simple-all|code1x$"
    # no externals file: the fragments are checked (case-insensitive)
    assert string_matches(tmpl, "Code1X is not in http://x/ValueSet/simple-all", R5)
    assert not string_matches(tmpl, "code1x is not in the value set", R5)
    # fragments may contain ':' (everything after the number is the fragment list)
    assert string_matches("$external:2:http://x.org/vs|5.0.0$", "in http://x.org/vs|5.0.0", R5)
    assert not string_matches("$external:2:http://x.org/vs|5.0.0$", "http only", R5)
    # no fragments: anything
    assert string_matches("$external:3$", "whatever", R5)
    # with externals: the exact text
    ext = Rules(externals={"1": "Exact text", "3": "Three"})
    assert string_matches(tmpl, "Exact text", ext)
    assert not string_matches(tmpl, "code1x simple-all", ext)
    assert string_matches("$external:3$", "Three", ext)
    assert not string_matches("$external:3$", "3", ext)
    # a number the externals file lacks falls back to the fragments
    assert string_matches("$external:9:abc$", "xABCx", ext)


def test_unknown_template_is_a_failure_not_a_crash() -> None:
    out = compare({"v": "$nonsense$"}, {"v": "x"})
    assert not out.ok and "unhandled template" in str(out.diff)


def test_narrative_divs_are_equal() -> None:
    assert ok({"div": "<div>one</div>"}, {"div": "<div xmlns='x'>two</div>"})
    assert not ok({"div": "<div>one</div>"}, {"div": "plain"})


# -- primitives and types -----------------------------------------------------------------


def test_primitive_types() -> None:
    assert ok({"b": True}, {"b": True})
    assert not ok({"b": True}, {"b": False})
    assert not ok({"b": True}, {"b": "true"})
    assert not ok({"n": 7}, {"n": "7"})
    assert not ok({"n": 1}, {"n": True})
    assert ok({"n": 7}, {"n": 7})
    assert not ok({"n": 7}, {"n": 8})
    assert ok({"d": Decimal("1.50")}, {"d": Decimal("1.50")})
    assert not ok({"d": Decimal("1.50")}, {"d": Decimal("1.5")})  # compared as written
    assert not ok({"s": "$$"}, {"s": 3})  # a template matches strings only
    assert not ok({"o": {"a": "x"}}, {"o": ["x"]})
    assert not ok({"o": ["x"]}, {"o": "x"})


# -- objects --------------------------------------------------------------------------------


def test_extra_and_missing_properties() -> None:
    out = compare({"a": "1"}, {"a": "1", "b": "2"})
    assert not out.ok and out.diff is not None and out.diff.path == ".b"
    out = compare({"a": "1", "b": "2"}, {"a": "1"})
    assert not out.ok and out.diff is not None and out.diff.path == ".b"
    assert "missing" in out.diff.message


def test_optional_properties() -> None:
    exp = {"$optional-properties$": ["id", "date"], "id": "$id$", "date": "$date$", "url": "u"}
    assert ok(exp, {"url": "u"})
    assert ok(exp, {"url": "u", "id": "abc"})
    assert not ok(exp, {"url": "u", "id": "not an id"})  # present, so still compared
    assert not ok(exp, {"id": "abc"})  # url is not optional
    assert ok({"$optional-properties$": ["*"], "a": "1", "b": "2"}, {})


def test_nested_path_is_reported() -> None:
    exp = {"expansion": {"contains": [{"code": "a", "display": "A"}]}}
    out = compare(exp, {"expansion": {"contains": [{"code": "a", "display": "B"}]}})
    assert out.diff is not None and out.diff.path == ".expansion.contains[0].display"


def test_optional_object_property() -> None:
    exp = {"a": "1", "o": {"$optional$": True, "x": "y"}}
    assert ok(exp, {"a": "1"})
    assert ok(exp, {"a": "1", "o": {"x": "y"}})
    assert not ok(exp, {"a": "1", "o": {"x": "z"}})


def test_missing_array_property_is_optional_unless_an_object_entry_is_required() -> None:
    # the reference comparer's allOptional: a mistyped "$optional": ["location"] in a
    # fixture (an array of strings) asks for nothing; an array with a plain object does
    assert ok({"a": "1", "$optional": ["location", "expression"]}, {"a": "1"})
    assert ok({"a": "1", "l": []}, {"a": "1"})
    assert ok({"a": "1", "l": [{"$optional$": True, "x": "y"}]}, {"a": "1"})
    assert not ok({"a": "1", "l": [{"x": "y"}]}, {"a": "1"})
    assert not ok({"a": "1", "l": "text"}, {"a": "1"})


# -- arrays ---------------------------------------------------------------------------------


def test_array_order_does_not_matter() -> None:
    exp = {"p": [{"name": "a", "v": 1}, {"name": "b", "v": 2}, {"name": "c", "v": 3}]}
    assert ok(exp, {"p": [{"name": "c", "v": 3}, {"name": "a", "v": 1}, {"name": "b", "v": 2}]})
    assert ok({"l": ["x", "y"]}, {"l": ["y", "x"]})


def test_array_extra_and_missing_entries() -> None:
    exp = {"p": [{"name": "a"}, {"name": "b"}]}
    out = compare(exp, {"p": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert out.diff is not None and "unexpected entry" in out.diff.message
    out = compare(exp, {"p": [{"name": "b"}]})
    assert out.diff is not None and "no actual entry matches" in out.diff.message
    assert not ok({"l": ["x", "x"]}, {"l": ["x"]})  # each expected entry needs its own match
    assert not ok({"l": ["x"]}, {"l": ["x", "x"]})
    assert not ok({"l": ["x"]}, {"l": []})


def test_array_matching_is_a_true_matching() -> None:
    # greedy in order would give the first actual entry to the loose expected entry and fail
    exp = {"p": [{"name": "n", "value": "$$"}, {"name": "n", "value": "exact"}]}
    assert ok(exp, {"p": [{"name": "n", "value": "exact"}, {"name": "n", "value": "other"}]})


def test_nested_arrays() -> None:
    exp = {
        "contains": [
            {
                "code": "a",
                "contains": [
                    {"code": "a1"},
                    {"code": "a2", "designation": [{"value": "x"}, {"value": "y"}]},
                ],
            },
            {"code": "b"},
        ]
    }
    actual = {
        "contains": [
            {"code": "b"},
            {
                "code": "a",
                "contains": [
                    {"code": "a2", "designation": [{"value": "y"}, {"value": "x"}]},
                    {"code": "a1"},
                ],
            },
        ]
    }
    assert ok(exp, actual)
    actual["contains"][1]["contains"][0]["designation"][0]["value"] = "z"
    out = compare(exp, actual)
    assert out.diff is not None and "designation" in out.diff.path


def test_optional_entries() -> None:
    exp = {"p": [{"name": "a"}, {"$optional$": True, "name": "b"}]}
    assert ok(exp, {"p": [{"name": "a"}]})
    assert ok(exp, {"p": [{"name": "a"}, {"name": "b"}]})
    assert not ok(exp, {"p": [{"name": "a"}, {"name": "c"}]})  # optional, but not anything
    assert not ok(exp, {"p": [{"name": "b"}]})
    # an array whose entries are all optional may be missing altogether
    assert ok({"a": "1", "p": [{"$optional$": True, "name": "b"}]}, {"a": "1"})
    assert not ok({"a": "1", "p": [{"name": "b"}]}, {"a": "1"})


def test_optional_filters() -> None:
    exp = {"p": [{"name": "a"}, {"$optional$": "!tx.fhir.org", "name": "b"}]}
    assert ok(exp, {"p": [{"name": "a"}]})  # general mode: optional
    assert not ok(exp, {"p": [{"name": "a"}]}, Rules(modes=frozenset({"general", "tx.fhir.org"})))
    exp = {"p": [{"name": "a"}, {"$optional$": "flat", "name": "b"}]}
    assert not ok(exp, {"p": [{"name": "a"}]})
    assert ok(exp, {"p": [{"name": "a"}]}, Rules(modes=frozenset({"general", "flat"})))
    exp = {"p": [{"name": "a"}, {"$optional$": "version:4", "name": "b"}]}
    assert ok(exp, {"p": [{"name": "a"}]}, R4)
    assert not ok(exp, {"p": [{"name": "a"}]}, R5)
    exp = {"p": [{"name": "a"}, {"$optional$": "true", "name": "b"}]}  # a string is a mode name
    assert not ok(exp, {"p": [{"name": "a"}]})
    assert filter_passes("!x", R5) and not filter_passes("x", R5)


def test_optional_warning_is_reported_only_when_missing() -> None:
    exp = {"p": [{"name": "a"}, {"$optional$": "warning:version", "name": "version"}]}
    out = compare(exp, {"p": [{"name": "a"}]})
    assert out.ok and len(out.warnings) == 1 and "version" in out.warnings[0]
    out = compare(exp, {"p": [{"name": "a"}, {"name": "version"}]})
    assert out.ok and out.warnings == []


def test_only_entries() -> None:
    exp = {"p": [{"name": "a"}, {"$only$": "version:4", "name": "r4-only"}]}
    assert ok(exp, {"p": [{"name": "a"}, {"name": "r4-only"}]}, R4)
    assert not ok(exp, {"p": [{"name": "a"}]}, R4)  # required where the filter passes
    assert ok(exp, {"p": [{"name": "a"}]}, R5)
    assert not ok(exp, {"p": [{"name": "a"}, {"name": "r4-only"}]}, R5)  # prohibited elsewhere
    assert not ok({"o": {"$only$": "version:4", "x": "1"}}, {"o": {"x": "1"}}, R5)
    assert ok({"o": {"$only$": "version:4", "x": "1"}}, {}, R5)


def test_count_arrays() -> None:
    exp = {"$count-arrays$": ["contains"], "contains": [{"code": "a"}, {"code": "b"}]}
    assert ok(exp, {"contains": [{"code": "x"}, {"code": "y"}]})
    assert not ok(exp, {"contains": [{"code": "a"}]})


def test_pattern_mode() -> None:
    rules = Rules(version="5.0.0", pattern=True)
    exp = {"rest": [{"resource": [{"type": "ValueSet"}, {"type": "CodeSystem"}]}]}
    actual = {
        "extra": 1,
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": "CodeSystem", "x": 1},
                    {"type": "ConceptMap"},
                    {"type": "ValueSet"},
                ],
            }
        ],
    }
    assert ok(exp, actual, rules)
    actual["rest"][0]["resource"].pop(2)
    assert not ok(exp, actual, rules)
    assert not ok(exp, {"extra": 1}, rules)


def test_fhir_comments_ignored() -> None:
    assert ok({"fhir_comments": ["x"], "a": "1"}, {"a": "1", "fhir_comments": ["y"]})


# -- normalisation --------------------------------------------------------------------------


def test_drop_empty() -> None:
    assert drop_empty(
        {"a": [], "b": {}, "c": None, "d": [{}], "e": {"f": []}, "g": 0, "h": ""}
    ) == {"g": 0, "h": ""}


def test_scrub_valueset_and_outcome() -> None:
    vs = {
        "resourceType": "ValueSet",
        "text": {"status": "generated", "div": "<div/>"},
        "meta": {"lastUpdated": "2020-01-01T00:00:00Z"},
        "extension": [
            {"url": "http://my.server/ext", "valueString": "x"},
            {
                "url": "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
                "valueBoolean": True,
            },
            {"url": "local", "valueString": "kept"},
        ],
        "compose": {
            "include": [
                {"extension": [{"url": "http://my.server/ext", "valueString": "kept in compose"}]}
            ]
        },
        "expansion": {
            "contains": [
                {"code": "a", "extension": [{"url": "http://my.server/ext", "valueString": "x"}]}
            ]
        },
    }
    out = scrub(vs)
    assert "text" not in out and "meta" not in out
    assert [e["url"] for e in out["extension"]] == [
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "local",
    ]
    assert out["compose"]["include"][0]["extension"][0]["valueString"] == "kept in compose"
    assert "extension" not in out["expansion"]["contains"][0]
    # an extension the expected document requires survives
    out = scrub(vs, keep_extensions={"http://my.server/ext"})
    assert out["expansion"]["contains"][0]["extension"][0]["url"] == "http://my.server/ext"
    assert vs["meta"], "scrub returns a copy"


def test_scrub_parameters_sorts_message_parts() -> None:
    p = {
        "resourceType": "Parameters",
        "meta": {"versionId": "1"},
        "parameter": [
            {"name": "message", "valueString": "Zeta; Alpha; Mu"},
            {
                "name": "validation",
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "message", "valueString": "b; a"}],
                },
            },
        ],
    }
    out = scrub(p)
    assert "meta" not in out
    assert out["parameter"][0]["valueString"] == "Alpha; Mu; Zeta"
    assert out["parameter"][1]["resource"]["parameter"][0]["valueString"] == "a; b"


def test_required_extension_urls() -> None:
    exp = {"issue": [{"extension": [{"url": "req"}, {"$optional$": True, "url": "opt"}]}]}
    assert required_extension_urls(exp) == {"req"}


def test_r4_expansion_properties_become_r5() -> None:
    r4 = {
        "resourceType": "ValueSet",
        "expansion": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property",
                    "extension": [
                        {"url": "code", "valueCode": "definition"},
                        {"url": "uri", "valueUri": "http://x#definition"},
                    ],
                }
            ],
            "contains": [
                {
                    "code": "code1",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property",
                            "extension": [
                                {"url": "code", "valueCode": "definition"},
                                {"url": "value", "valueString": "My first code"},
                            ],
                        }
                    ],
                }
            ],
        },
    }
    out = r4_to_r5(r4)
    assert out["expansion"]["property"] == [{"code": "definition", "uri": "http://x#definition"}]
    assert "extension" not in out["expansion"]
    assert out["expansion"]["contains"][0]["property"] == [
        {"code": "definition", "valueString": "My first code"}
    ]
    assert "extension" not in out["expansion"]["contains"][0]
