"""The reference runner's rules, one by one (compare.py, normalize.py, convert.py).

Each rule is read from hapifhir/org.hl7.fhir.core: CompareUtilities (comparison),
TxTesterScrubbers and TxTesterSorters (normalize.py), TxTester and the terminology clients
(what is compared, per operation), VersionConvertor_40_50 (R4).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .compare import Rules, compare, filter_passes, string_matches, unbase64
from .convert import EXT_VALUESET_FILTER_OP as EXT_OP
from .convert import request_to_r4, response_to_r5
from .normalize import drop_empty, jcmp, reference_form

R5 = Rules(version="5.0.0")
R4 = Rules(version="4.0.1")
STRICT = Rules(version="5.0.0", strict=True)


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
    assert not ok({"v": "Display 1"}, {"v": "Display 1 "}, STRICT)
    assert ok({"v": "Display 1"}, {"v": "Display 1 "})  # the Base64 quirk (test_base64_quirk)


def test_version_token_and_substitution() -> None:
    assert ok({"v": "$version$"}, {"v": "5.0.0"}, R5)
    assert not ok({"v": "$version$"}, {"v": "4.0.1"}, R5)
    assert ok({"v": "$version$"}, {"v": "4.0.1"}, R4)
    cs = "http://hl7.org/fhir/administrative-gender|$version$"
    assert ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|5.0.0"}, R5)
    assert not ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|4.0.1"}, R5)
    unknown = Rules(version=None)
    # without the variable the string is compared as written (CompareUtilities.matches)
    assert not ok({"v": cs}, {"v": "http://hl7.org/fhir/administrative-gender|9"}, unknown)
    assert ok({"v": cs}, {"v": cs}, unknown)
    assert ok({"v": "$version$"}, {"v": "9"}, unknown)


def test_external_messages() -> None:
    tmpl = "$external:1:simple-all|code1x$"
    # no externals file: the fragments are checked (case-insensitive)
    assert string_matches(tmpl, "Code1X is not in http://x/ValueSet/simple-all", R5)
    assert not string_matches(tmpl, "code1x is not in the value set", R5)
    # CompareUtilities.matches splits the template on every ':', so a fragment holding a URL
    # is cut to "http"; the strict reading keeps everything after the number
    assert string_matches("$external:2:http://x.org/vs|5.0.0$", "http only", R5)
    assert not string_matches("$external:2:http://x.org/vs|5.0.0$", "http only", STRICT)
    assert string_matches("$external:2:http://x.org/vs|5.0.0$", "in http://x.org/vs|5.0.0", STRICT)
    # no fragments: anything
    assert string_matches("$external:3$", "whatever", R5)
    # with externals: the exact text; a number the file lacks matches nothing
    ext = Rules(externals={"1": "Exact text", "3": "Three"})
    assert string_matches(tmpl, "Exact text", ext)
    assert not string_matches(tmpl, "code1x simple-all", ext)
    assert string_matches("$external:3$", "Three", ext)
    assert not string_matches("$external:3$", "3", ext)
    assert not string_matches("$external:9:abc$", "xABCx", ext)


def test_base64_quirk() -> None:
    # CompareUtilities.compareNodes: strings that differ are equal when both decode as
    # lenient Base64 (commons-codec skips characters outside the alphabet) to the same bytes
    assert unbase64("TWFu") == b"Man" and unbase64("TWE=") == b"Ma" and unbase64("TQ") == b"M"
    assert unbase64("T W#F u") == b"Man"
    assert ok({"v": "Display 2"}, {"v": "Display #2"})
    assert not ok({"v": "Display 2"}, {"v": "Display #2"}, STRICT)
    assert ok(
        {"v": "for CodeSystem http://x.org/a could"}, {"v": "for CodeSystem 'http://x.org/a' could"}
    )
    assert not ok({"v": "Display 2"}, {"v": "Display 3"})
    assert not ok({"v": "#"}, {"v": "%"})  # nothing decodes: not the same bytes


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
    # $optional$ makes array entries optional; an object property that carries it is still
    # required (CompareUtilities.allOptional looks at arrays only)
    exp = {"a": "1", "o": {"$optional$": True, "x": "y"}}
    assert not ok(exp, {"a": "1"})
    assert ok(exp, {"a": "1", "o": {"x": "y"}})
    assert not ok(exp, {"a": "1", "o": {"x": "z"}})


def test_missing_array_property_is_optional_unless_an_object_entry_is_required() -> None:
    # CompareUtilities.allOptional: an array of strings (e.g. "location": ["code"]) may be
    # absent; an array with an object lacking "$optional$" may not
    assert ok({"a": "1", "location": ["Coding.code"]}, {"a": "1"})
    assert ok({"a": "1", "l": []}, {"a": "1"})
    assert ok({"a": "1", "l": [{"$optional$": True, "x": "y"}]}, {"a": "1"})
    assert ok({"a": "1", "l": [{"$optional$": "tx.fhir.org", "x": "y"}]}, {"a": "1"})
    assert not ok({"a": "1", "l": [{"x": "y"}]}, {"a": "1"})
    assert not ok({"a": "1", "l": "text"}, {"a": "1"})
    # present, it is compared: an unexpected location fails
    assert not ok({"a": "1"}, {"a": "1", "location": ["Coding.code"]})


# -- arrays ---------------------------------------------------------------------------------


def test_arrays_are_compared_in_order() -> None:
    exp = {"p": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}
    assert ok(exp, {"p": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]})
    out = compare(exp, {"p": [{"name": "b", "v": 2}, {"name": "a", "v": 1}]})
    assert out.diff is not None and out.diff.path == ".p[0].name"
    assert not ok({"l": ["x", "y"]}, {"l": ["y", "x"]})


def test_array_extra_and_missing_entries() -> None:
    exp = {"p": [{"name": "a"}, {"name": "b"}]}
    out = compare(exp, {"p": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert out.diff is not None and "count differs" in out.diff.message
    out = compare(exp, {"p": [{"name": "b"}]})
    assert out.diff is not None and "count differs" in out.diff.message
    assert not ok({"l": ["x", "x"]}, {"l": ["x"]})
    assert not ok({"l": ["x"]}, {"l": ["x", "x"]})
    assert not ok({"l": ["x"]}, {"l": []})


def test_optional_entries_are_skipped_in_order() -> None:
    exp = {"p": [{"name": "a"}, {"$optional$": True, "name": "b"}, {"name": "c"}]}
    assert ok(exp, {"p": [{"name": "a"}, {"name": "c"}]})
    assert ok(exp, {"p": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert not ok(exp, {"p": [{"name": "a"}, {"name": "c"}, {"name": "b"}]})
    assert not ok(exp, {"p": [{"name": "a"}, {"name": "x"}, {"name": "c"}]})
    assert not ok(exp, {"p": [{"name": "c"}]})
    # an expected entry that does not match is passed over only when optional: the first
    # that matches takes the actual entry (greedy, in order)
    loose = {"p": [{"$optional$": True, "name": "n", "value": "$$"}, {"name": "n", "value": "x"}]}
    assert not ok(loose, {"p": [{"name": "n", "value": "x"}]})


def test_nested_arrays() -> None:
    exp = {
        "contains": [
            {
                "code": "a",
                "contains": [{"code": "a1"}, {"code": "a2", "designation": [{"value": "x"}]}],
            },
            {"code": "b"},
        ]
    }
    actual = {
        "contains": [
            {
                "code": "a",
                "contains": [{"code": "a1"}, {"code": "a2", "designation": [{"value": "x"}]}],
            },
            {"code": "b"},
        ]
    }
    assert ok(exp, actual)
    actual["contains"][0]["contains"][1]["designation"][0]["value"] = "z"
    out = compare(exp, actual)
    assert out.diff is not None and "designation" in out.diff.path


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


def test_count_arrays() -> None:
    exp = {"$count-arrays$": ["contains"], "contains": [{"code": "a"}, {"code": "b"}]}
    assert ok(exp, {"contains": [{"code": "x"}, {"code": "y"}]})
    assert not ok(exp, {"contains": [{"code": "a"}]})


def test_optional_properties_may_also_be_present_unexpected() -> None:
    exp = {"$optional-properties$": ["extension"], "a": "1"}
    assert ok(exp, {"a": "1", "extension": [{"url": "x"}]})
    assert not ok(exp, {"a": "1", "other": "x"})


def test_pattern_mode() -> None:
    rules = Rules(version="5.0.0", pattern=True)
    exp = {"rest": [{"resource": [{"type": "CodeSystem"}, {"type": "ValueSet"}]}]}
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
    # entries are looked for in order (the runner sorts the statement first)
    reversed_exp = {"rest": [{"resource": [{"type": "ValueSet"}, {"type": "CodeSystem"}]}]}
    assert not ok(reversed_exp, actual, rules)
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


def test_scrub_valueset() -> None:
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
            "extension": [{"url": "http://my.server/ext", "valueString": "compose's own: gone"}],
            "include": [
                {"extension": [{"url": "http://my.server/ext", "valueString": "kept in compose"}]}
            ],
        },
        "expansion": {
            "contains": [
                {
                    "code": "a",
                    "extension": [{"url": "http://my.server/ext", "valueString": "x"}],
                    "_display": {
                        "extension": [{"url": "http://my.server/ext", "valueString": "x"}]
                    },
                }
            ]
        },
    }
    out, refused = reference_form("expand", vs, 200)
    assert refused is None
    assert "text" not in out and "meta" not in out
    assert [e["url"] for e in out["extension"]] == [
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "local",
    ]
    assert "extension" not in out["compose"]
    assert out["compose"]["include"][0]["extension"][0]["valueString"] == "kept in compose"
    assert out["expansion"]["contains"][0] == {"code": "a"}
    assert vs["meta"], "a copy is scrubbed"


def test_scrub_operation_outcome_keeps_location() -> None:
    oo = {
        "resourceType": "OperationOutcome",
        "text": {"status": "generated", "div": "<div/>"},
        "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "only diagnostics"},
            {
                "severity": "error",
                "code": "code-invalid",
                "details": {"text": "bad"},
                "diagnostics": "server detail",
                "location": ["Coding.code"],
                "expression": ["Coding.code"],
            },
        ],
    }
    out, refused = reference_form("validate-code", oo, 400)
    assert refused is None
    assert out["issue"] == [
        {
            "severity": "error",
            "code": "code-invalid",
            "details": {"text": "bad"},
            "location": ["Coding.code"],
            "expression": ["Coding.code"],
        }
    ]
    # TxTester.validateCS only drops the text of an error
    out, _ = reference_form("cs-validate-code", oo, 400)
    assert out["issue"][0]["diagnostics"] == "only diagnostics" and "text" not in out


def test_what_the_client_refuses() -> None:
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "x"}]}
    assert reference_form("expand", warning, 400)[1] is not None
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "result", "valueBoolean": False}],
    }
    assert reference_form("validate-code", params, 400)[1] is not None
    assert reference_form("expand", params, 200)[1] is not None
    error = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
    assert reference_form("expand", error, 200) == (error, None)  # an error, though 200
    assert reference_form("expand", {"no": "type"}, 200)[1] is not None


def test_parameters_scrubbed_and_sorted() -> None:
    p = {
        "resourceType": "Parameters",
        "meta": {"versionId": "1"},
        "parameter": [
            {"name": "result", "valueBoolean": True},
            {"name": "message", "valueString": "Zeta; Alpha; Mu"},
            {"name": "diagnostics", "valueString": "dropped"},
            {
                "name": "issues",
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "warning", "code": "x", "details": {"text": "w"}},
                        {"severity": "error", "code": "y", "details": {"text": "b"}},
                        {"severity": "error", "code": "y", "details": {"text": "a"}},
                    ],
                },
            },
            {
                "name": "property",
                "part": [{"name": "value", "valueCode": "b"}, {"name": "code", "valueCode": "p"}],
            },
            {
                "name": "property",
                "part": [{"name": "value", "valueCode": "a"}, {"name": "code", "valueCode": "p"}],
            },
        ],
    }
    out, _ = reference_form("lookup", p, 200)
    assert "meta" not in out
    assert [x["name"] for x in out["parameter"]] == [
        "issues",
        "message",
        "property",
        "property",
        "result",
    ]
    assert out["parameter"][1]["valueString"] == "Alpha; Mu; Zeta"
    issues = out["parameter"][0]["resource"]["issue"]
    assert [i["details"]["text"] for i in issues] == ["a", "b", "w"]
    assert [x["part"][1]["valueCode"] for x in out["parameter"][2:4]] == ["a", "b"]
    assert [x["name"] for x in out["parameter"][2]["part"]] == ["code", "value"]


def test_contains_sorted_by_code_stably() -> None:
    vs = {
        "resourceType": "ValueSet",
        "expansion": {
            "contains": [
                {"code": "b", "version": "1"},
                {"code": "a", "version": "2"},
                {"code": "b", "version": "2"},
                {"code": "a", "version": "1"},
            ]
        },
    }
    out, _ = reference_form("expand", vs, 200)
    assert [(c["code"], c["version"]) for c in out["expansion"]["contains"]] == [
        ("a", "2"),
        ("a", "1"),
        ("b", "1"),
        ("b", "2"),
    ]
    assert jcmp("Z", "a") < 0 and jcmp("\uffff", "\U0001f600") > 0  # UTF-16 code units


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
        "compose": {
            "include": [
                {
                    "filter": [
                        {
                            "property": "concept",
                            "value": "x",
                            "_op": {"extension": [{"url": EXT_OP, "valueCode": "child-of"}]},
                        }
                    ]
                }
            ]
        },
    }
    out = response_to_r5(r4)
    assert out["expansion"]["property"] == [{"code": "definition", "uri": "http://x#definition"}]
    assert "extension" not in out["expansion"]
    assert out["expansion"]["contains"][0]["property"] == [
        {"code": "definition", "valueString": "My first code"}
    ]
    assert "extension" not in out["expansion"]["contains"][0]
    assert out["compose"]["include"][0]["filter"][0] == {
        "property": "concept",
        "value": "x",
        "op": "child-of",
    }


def test_requests_converted_to_r4() -> None:
    # TerminologyClientR4 converts every request with VersionConvertorFactory_40_50
    vs = {
        "resourceType": "ValueSet",
        "versionAlgorithmString": "semver",
        "compose": {
            "include": [
                {"filter": [{"property": "concept", "op": "child-of", "value": "a"}]},
                {"filter": [{"property": "concept", "op": "is-a", "value": "a"}]},
            ]
        },
    }
    cs = {"resourceType": "CodeSystem", "versionAlgorithmCoding": {"code": "semver"}}
    cm = {
        "resourceType": "ConceptMap",
        "sourceScopeUri": "http://x/vs1",
        "group": [
            {
                "source": "http://x/cs1|1.0",
                "target": "http://x/cs2",
                "element": [
                    {
                        "code": "a",
                        "target": [{"code": "b", "relationship": "source-is-narrower-than-target"}],
                    }
                ],
                "unmapped": {"mode": "use-source-code", "relationship": "related-to"},
            }
        ],
    }
    p = {
        "resourceType": "Parameters",
        "parameter": [{"name": "tx-resource", "resource": r} for r in (vs, cs, cm)],
    }
    out = [x["resource"] for x in request_to_r4(p)["parameter"]]
    assert "versionAlgorithmString" not in out[0]  # ValueSet40_50 does not convert it
    assert out[0]["compose"]["include"][0]["filter"][0] == {
        "property": "concept",
        "value": "a",
        "_op": {"extension": [{"url": EXT_OP, "valueCode": "child-of"}]},
    }
    assert out[0]["compose"]["include"][1]["filter"][0]["op"] == "is-a"
    assert out[1]["extension"] == [
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-CanonicalResource.versionAlgorithm",
            "valueCoding": {"code": "semver"},
        }
    ]
    group = out[2]["group"][0]
    assert out[2]["sourceUri"] == "http://x/vs1"
    assert (group["source"], group["sourceVersion"], group["target"]) == (
        "http://x/cs1",
        "1.0",
        "http://x/cs2",
    )
    assert group["element"][0]["target"][0] == {"code": "b", "equivalence": "wider"}
    assert group["unmapped"] == {"mode": "provided"}
    assert p["parameter"][0]["resource"]["compose"]["include"][0]["filter"][0]["op"] == "child-of"
