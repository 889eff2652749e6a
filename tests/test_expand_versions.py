"""$expand of value sets that draw on several versions of one code system (versionsMatch,
version-scoped excludes), the whole-code-system listing limit, and the FHIR core content."""

from __future__ import annotations

from typing import Any

import orjson

from fhirterm.web import create_app

from .conftest import small_settings

SYS = "http://t/overload"
EXP = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def code_system(version: str, concepts: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": SYS,
        "version": version,
        "status": "active",
        "content": "complete",
        "concept": [{"code": c, "display": d} for c, d in concepts],
    }


V1 = code_system("1.0.0", [("code1", "Display 1"), ("code2", "Display 2"), ("code3", "Display 3")])
V2 = code_system("2.0.0", [("code1", "Display 1"), ("code2", "Display #2"), ("code4", "Display 4")])


def value_set(
    include: list[dict[str, Any]],
    exclude: list[dict[str, Any]] | None = None,
    versions_match: Any = None,
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": include}
    if exclude:
        compose["exclude"] = exclude
    if versions_match is not None:
        compose["extension"] = [
            {
                "url": EXP,
                "extension": [
                    {"url": "name", "valueCode": "versionsMatch"},
                    {"url": "value", "valueString": versions_match},
                ],
            }
        ]
    return {
        "resourceType": "ValueSet",
        "url": "http://t/vs",
        "version": "1",
        "status": "active",
        "compose": compose,
    }


def v(version: str, *codes: str) -> dict[str, Any]:
    part: dict[str, Any] = {"system": SYS, "version": version}
    if codes:
        part["concept"] = [{"code": c} for c in codes]
    return part


def post(client: Any, vs: dict[str, Any], *resources: dict[str, Any], **params: Any) -> Any:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valueSet", "resource": vs},
            *(
                {"name": k, "valueInteger" if isinstance(x, int) else "valueString": x}
                for k, x in params.items()
            ),
            *({"name": "tx-resource", "resource": r} for r in resources or (V1, V2)),
        ],
    }
    return client.post(
        "/r5/ValueSet/$expand", data=orjson.dumps(body), content_type="application/fhir+json"
    )


def entries(r: Any) -> list[tuple[str | None, str, str]]:
    assert r.status_code == 200, r.json
    return sorted(
        (c.get("version"), c["code"], c["display"]) for c in r.json["expansion"]["contains"]
    )


def params(r: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for p in r.json["expansion"].get("parameter", []):
        out.setdefault(p["name"], []).append(next(x for k, x in p.items() if k != "name"))
    return out


def test_two_versions_list_each_version_separately(client: Any) -> None:
    r = post(client, value_set([v("1.0.0"), v("2.0.0")]))
    assert entries(r) == [
        ("1.0.0", "code1", "Display 1"),
        ("1.0.0", "code2", "Display 2"),
        ("1.0.0", "code3", "Display 3"),
        ("2.0.0", "code1", "Display 1"),
        ("2.0.0", "code2", "Display #2"),
        ("2.0.0", "code4", "Display 4"),
    ]
    assert "versionsMatch" not in params(r)


def test_versions_match_lists_each_code_once_from_the_newest_version(client: Any) -> None:
    r = post(client, value_set([v("1.0.0"), v("2.0.0")], versions_match="true"))
    assert entries(r) == [
        ("1.0.0", "code3", "Display 3"),
        ("2.0.0", "code1", "Display 1"),
        ("2.0.0", "code2", "Display #2"),
        ("2.0.0", "code4", "Display 4"),
    ]
    assert r.json["expansion"]["total"] == 4
    assert params(r)["versionsMatch"] == [True]


def test_excluding_one_version_from_another_matches_codes_across_versions(client: Any) -> None:
    # no versionsMatch stated: including one version and excluding another is a diff by code
    r = post(client, value_set([v("2.0.0")], [v("1.0.0")]))
    assert entries(r) == [("2.0.0", "code4", "Display 4")]
    assert params(r)["versionsMatch"] == [True]
    assert params(r)["used-codesystem"] == [f"{SYS}|2.0.0", f"{SYS}|1.0.0"]


def test_versions_match_false_keeps_an_exclude_to_its_version(client: Any) -> None:
    r = post(client, value_set([v("2.0.0")], [v("1.0.0")], versions_match="false"))
    assert [code for _, code, _ in entries(r)] == ["code1", "code2", "code4"]
    assert "versionsMatch" not in params(r)


def test_an_exclude_of_one_version_leaves_the_other_versions_code(client: Any) -> None:
    r = post(client, value_set([v("1.0.0"), v("2.0.0")], [v("1.0.0", "code2")]))
    assert ("1.0.0", "code2", "Display 2") not in entries(r)
    assert ("2.0.0", "code2", "Display #2") in entries(r)
    assert r.json["expansion"]["total"] == 5


def test_an_exclude_without_a_version_applies_to_every_version(client: Any) -> None:
    unversioned = {"system": SYS, "concept": [{"code": "code1"}]}
    r = post(client, value_set([v("1.0.0"), v("2.0.0")], [unversioned]))
    assert [(version, code) for version, code, _ in entries(r)] == [
        ("1.0.0", "code2"),
        ("1.0.0", "code3"),
        ("2.0.0", "code2"),
        ("2.0.0", "code4"),
    ]


def test_a_text_filter_searches_each_version(client: Any) -> None:
    r = post(client, value_set([v("1.0.0"), v("2.0.0")]), filter="display")
    assert r.json["expansion"]["total"] == 6
    r = post(client, value_set([v("1.0.0"), v("2.0.0")], versions_match="true"), filter="display")
    assert entries(r) == [
        ("1.0.0", "code3", "Display 3"),
        ("2.0.0", "code1", "Display 1"),
        ("2.0.0", "code2", "Display #2"),
        ("2.0.0", "code4", "Display 4"),
    ]


def big_code_system(n: int) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": "http://t/big",
        "status": "active",
        "content": "complete",
        "concept": [{"code": f"c{i}", "display": f"Code {i}"} for i in range(n)],
    }


def test_an_unpaged_expansion_is_limited_to_1000_codes_by_default(client: Any) -> None:
    big = big_code_system(1001)
    whole = value_set([{"system": "http://t/big"}])
    r = post(client, whole, big)
    assert r.status_code == 422 and r.json["issue"][0]["code"] == "too-costly"
    assert "expression" not in r.json["issue"][0]
    assert "(>1000)" in r.json["issue"][0]["details"]["text"]
    # paged, or narrowed by a text filter: fine
    assert post(client, whole, big, count=50, offset=50).status_code == 200
    assert post(client, whole, big, filter="code 99").status_code == 200
    selected = value_set(
        [
            {
                "system": "http://t/big",
                "filter": [{"property": "code", "op": "regex", "value": "c.*"}],
            }
        ]
    )
    assert post(client, selected, big).status_code == 422  # 1001 selected: too many too
    assert post(client, selected, big, count=1000).json["expansion"]["total"] == 1001
    assert post(client, whole, big_code_system(1000)).status_code == 200
    # an exclude may bring a large code system under the limit
    minus_one = value_set(
        [{"system": "http://t/big"}],
        exclude=[{"system": "http://t/big", "concept": [{"code": "c0"}]}],
    )
    r = post(client, minus_one, big)
    assert r.status_code == 200 and r.json["expansion"]["total"] == 1000


def test_the_limit_follows_the_configured_limit(small_registry: Any) -> None:
    app = create_app(small_settings(expansion_limit=20_000), small_registry)
    r = post(app.test_client(), value_set([{"system": "http://t/big"}]), big_code_system(1500))
    assert r.status_code == 200 and r.json["expansion"]["total"] == 1500


def test_fhir_core_administrative_gender_is_served(full_client: Any) -> None:
    client = full_client
    r = client.get("/r5/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender")
    assert entries(r) == [
        (None, "female", "Female"),
        (None, "male", "Male"),
        (None, "other", "Other"),
        (None, "unknown", "Unknown"),
    ]
    assert params(r)["used-codesystem"] == ["http://hl7.org/fhir/administrative-gender|5.0.0"]
    r = client.get(
        "/r5/CodeSystem/$lookup?system=http://hl7.org/fhir/publication-status&code=active"
    )
    assert r.status_code == 200
    assert {p["name"]: p.get("valueString") for p in r.json["parameter"]}["display"] == "Active"


def listed(r: Any) -> list[tuple[str | None, str]]:
    """(version, code) in the order the expansion lists them, as the reference runner's
    ContainsSorter leaves them: sorted by code only, a stable sort."""
    assert r.status_code == 200, r.json
    return sorted(
        ((c.get("version"), c["code"]) for c in r.json["expansion"]["contains"]), key=lambda e: e[1]
    )


def test_a_code_in_several_stated_versions_is_listed_newest_version_first(client: Any) -> None:
    # whatever order the compose names the versions in
    for include in ([v("1.0.0"), v("2.0.0")], [v("2.0.0"), v("1.0.0")]):
        assert listed(post(client, value_set(include))) == [
            ("2.0.0", "code1"),
            ("1.0.0", "code1"),
            ("2.0.0", "code2"),
            ("1.0.0", "code2"),
            ("1.0.0", "code3"),
            ("2.0.0", "code4"),
        ]


def test_includes_naming_a_version_come_before_those_naming_none(client: Any) -> None:
    unversioned = {"system": SYS}  # the newest version, 2.0.0
    for include in ([v("1.0.0"), unversioned], [unversioned, v("1.0.0")]):
        assert listed(post(client, value_set(include))) == [
            ("1.0.0", "code1"),
            ("2.0.0", "code1"),
            ("1.0.0", "code2"),
            ("2.0.0", "code2"),
            ("1.0.0", "code3"),
            ("2.0.0", "code4"),
        ]
