"""$validate-code as the HL7 terminology ecosystem expects it: version rules, issue paths,
unknown systems and versions, displays (small inline resources via tx-resource)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from .fhir_models import params

CS = "http://t/cs/v"
VS = "http://t/vs/v"


def cs(version: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": f"v-{version}",
        "url": CS,
        "version": version,
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "concept": [{"code": "a", "display": display}, {"code": "b", "display": "B"}],
    }


def valueset(version: str | None = None, vs_version: str = "1") -> dict[str, Any]:
    inc: dict[str, Any] = {"system": CS}
    if version:
        inc["version"] = version
    return {
        "resourceType": "ValueSet",
        "id": f"vs-{vs_version}",
        "url": VS,
        "version": vs_version,
        "status": "active",
        "compose": {"include": [inc]},
    }


def run(client: Any, op: str, vset: dict[str, Any] | None, *parameters: dict[str, Any]) -> Any:
    body = [*parameters]
    body += [{"name": "tx-resource", "resource": cs(v, f"A {v}")} for v in ("1.0.0", "1.2.0")]
    if vset is not None:
        body += [{"name": "url", "valueUri": VS}, {"name": "tx-resource", "resource": vset}]
    return client.post(
        f"/fhir/{op}",
        data=orjson.dumps({"resourceType": "Parameters", "parameter": body}),
        content_type="application/fhir+json",
    )


def coding(code: str = "a", version: str | None = None, display: str | None = None) -> dict:
    c: dict[str, Any] = {"system": CS, "code": code}
    if version:
        c["version"] = version
    if display:
        c["display"] = display
    return {"name": "coding", "valueCoding": c}


def issues(p: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return p["issues"][0]["issue"] if "issues" in p else []


def test_latest_version_by_default(client: Any) -> None:
    p = params(run(client, "ValueSet/$validate-code", valueset(), coding()).json)
    assert p["result"] == [True] and p["version"] == ["1.2.0"] and p["display"] == ["A 1.2.0"]
    assert p["code"] == ["a"] and p["system"] == [CS]


@pytest.mark.parametrize(
    "name, pinned, coding_version, want_version, result",
    [
        ("system-version", None, None, "1.0.0", True),  # default applies to a versionless include
        ("system-version", "1.2.0", None, "1.2.0", True),  # ... but not over a pinned one
        ("force-system-version", "1.2.0", None, "1.0.0", True),  # force overrides the include
        ("check-system-version", "1.x", None, "1.2.0", False),  # 1.2.0 is not 1.0.x
        ("check-system-version", None, None, "1.0.0", True),  # check chooses where none is named
    ],
)
def test_version_rules(
    client: Any,
    name: str,
    pinned: str | None,
    coding_version: str | None,
    want_version: str,
    result: bool,
) -> None:
    rule = f"{CS}|1.0.0" if name == "system-version" else f"{CS}|1.0.x"
    r = run(
        client,
        "ValueSet/$validate-code",
        valueset(pinned),
        coding(version=coding_version),
        {"name": name, "valueCanonical": rule},
    )
    p = params(r.json)
    assert p["result"] == [result], p
    assert p["version"] == [want_version]
    if not result:
        (issue,) = issues(p)
        assert issue["details"]["coding"][0]["code"] == "version-error"
        assert issue["expression"] == ["Coding.version"]


def test_wildcard_include_takes_coding_version(client: Any) -> None:
    p = params(
        run(client, "ValueSet/$validate-code", valueset("1.x.x"), coding(version="1.0.0")).json
    )
    assert p["result"] == [True] and p["version"] == ["1.0.0"] and "issues" not in p


def test_coding_version_differs_from_include(client: Any) -> None:
    p = params(
        run(client, "ValueSet/$validate-code", valueset("1.2.0"), coding(version="1.0.0")).json
    )
    assert p["result"] == [False]
    (issue,) = issues(p)
    assert issue["expression"] == ["Coding.version"]
    assert issue["details"]["coding"][0]["code"] == "vs-invalid"
    assert (
        "version '1.2.0' in the ValueSet include is different to the one in the value ('1.0.0')"
        in (issue["details"]["text"])
    )


def test_unknown_coding_version(client: Any) -> None:
    p = params(run(client, "ValueSet/$validate-code", valueset(), coding(version="9")).json)
    assert p["result"] == [False]
    texts = {i["details"]["text"] for i in issues(p)}
    assert (
        f"A definition for CodeSystem '{CS}' version '9' could not be found, so the code cannot be "
        "validated. Valid versions: 1.0.0 or 1.2.0" in texts
    )
    assert p["x-caused-by-unknown-system"] == [f"{CS}|9"]


def test_issue_paths_by_input_form(client: Any) -> None:
    vs = valueset()
    p = params(run(client, "ValueSet/$validate-code", vs, coding("zz")).json)
    assert {tuple(i["expression"]) for i in issues(p)} == {("Coding.code",)}
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            vs,
            {"name": "code", "valueCode": "zz"},
            {"name": "system", "valueUri": CS},
        ).json
    )
    assert {tuple(i["expression"]) for i in issues(p)} == {("code",)}
    assert p["code"] == ["zz"]
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            vs,
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {"coding": [{"system": CS, "code": "zz"}]},
            },
        ).json
    )
    got = {(i["severity"], tuple(i.get("expression", ()))) for i in issues(p)}
    assert ("error", ("CodeableConcept.coding[0].code",)) in got  # unknown code
    assert ("error", ()) in got  # no valid coding in the value set
    assert p["message"][0].startswith(f"No valid coding was found for the value set '{VS}|1'")


def test_codeable_concept_reports_code(client: Any) -> None:
    cc = {"coding": [{"system": CS, "code": "a"}], "text": "t"}
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            valueset(),
            {"name": "codeableConcept", "valueCodeableConcept": cc},
        ).json
    )
    assert p["result"] == [True] and p["code"] == ["a"]
    assert p["codeableConcept"][0]["text"] == "t"


def test_unknown_value_set_version_is_404(client: Any) -> None:
    r = run(
        client,
        "ValueSet/$validate-code",
        valueset(),
        coding(),
        {"name": "valueSetVersion", "valueString": "9"},
    )
    assert r.status_code == 404
    assert r.json["issue"][0]["details"]["text"] == (
        f"A definition for the value Set '{VS}|9' could not be found"
    )


def test_wrong_display_lenient_is_warning(client: Any) -> None:
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            valueset(),
            coding(display="Nope"),
            {"name": "lenient-display-validation", "valueBoolean": True},
        ).json
    )
    assert p["result"] == [True]
    (issue,) = issues(p)
    assert issue["severity"] == "warning" and issue["expression"] == ["Coding.display"]
    assert issue["details"]["text"] == (
        f"Wrong Display Name 'Nope' for {CS}#a. Valid display is 'A 1.2.0' (for the language(s) '--')"
    )


def test_code_system_validate_unknown_version(client: Any) -> None:
    r = run(
        client,
        "CodeSystem/$validate-code",
        None,
        {"name": "url", "valueUri": CS},
        {"name": "code", "valueCode": "a"},
        {"name": "version", "valueString": "3"},
    )
    p = params(r.json)
    assert p["result"] == [False] and p["x-unknown-system"] == [f"{CS}|3"]
    assert issues(p)[0]["expression"] == ["system"]
