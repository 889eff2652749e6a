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
    # `location` (deprecated since R4 in favour of `expression`) is never written: the
    # reference runner fails an unexpected one and accepts a missing one
    assert all("location" not in i for i in issues(p))
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


def post(client: Any, path: str, *parameters: dict[str, Any]) -> Any:
    return client.post(
        path,
        data=orjson.dumps({"resourceType": "Parameters", "parameter": [*parameters]}),
        content_type="application/fhir+json",
    )


def tx(resource: dict[str, Any]) -> dict[str, Any]:
    return {"name": "tx-resource", "resource": resource}


def entry(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "validation",
        "resource": {"resourceType": "Parameters", "parameter": [*parameters]},
    }


def test_batch_validate_entries_override_shared_parameters(client: Any) -> None:
    r = post(
        client,
        "/fhir/ValueSet/$batch-validate-code",
        tx(cs("1.0.0", "A")),
        tx(valueset()),
        {"name": "url", "valueUri": VS},
        {"name": "lenient-display-validation", "valueBoolean": True},
        entry(coding(display="x"), {"name": "lenient-display-validation", "valueBoolean": False}),
        entry({"name": "codingX", "valueCoding": {"system": CS, "code": "a"}}),
        entry(coding("b", display="x")),
    )
    assert r.status_code == 200
    first, second, third = (p["resource"] for p in r.json["parameter"])
    p1, p3 = params(first), params(third)
    assert issues(p1)[0]["severity"] == "error"  # the entry's own setting wins
    assert issues(p3)[0]["severity"] == "warning"  # the shared one applies
    assert p3["result"] == [True]
    # an entry with nothing to validate is an OperationOutcome in its place
    assert second["resourceType"] == "OperationOutcome"
    assert second["issue"][0]["details"]["text"].startswith("Unable to find code to validate")


def test_default_valueset_version_for_versionless_import(client: Any) -> None:
    outer = {
        "resourceType": "ValueSet",
        "url": "http://t/vs/outer",
        "status": "active",
        "compose": {"include": [{"valueSet": [VS]}]},
    }
    body = (tx(valueset(vs_version="1")), tx(valueset("1.0.0", vs_version="2")), tx(outer))
    body += (tx(cs("1.0.0", "A")), tx(cs("1.2.0", "A2")))
    for pin, version in (("1", "1.2.0"), ("2", "1.0.0")):
        p = params(
            post(
                client,
                "/fhir/ValueSet/$validate-code",
                *body,
                {"name": "url", "valueUri": "http://t/vs/outer"},
                coding(),
                {"name": "default-valueset-version", "valueCanonical": f"{VS}|{pin}"},
            ).json
        )
        assert p["result"] == [True] and p["version"] == [version]
    p = params(
        post(
            client,
            "/fhir/ValueSet/$validate-code",
            *body,
            {"name": "url", "valueUri": "http://t/vs/outer"},
            coding(),
            {"name": "default-valueset-version", "valueCanonical": f"{VS}|9"},
        ).json
    )
    assert p["result"] == [False]
    assert issues(p)[0]["details"]["text"] == (
        f"A definition for the value Set '{VS}|9' could not be found"
    )


@pytest.mark.parametrize("lang, ok", [("-", False), ("de", True), ("de-CH, *; q=0", True)])
def test_display_language_must_be_a_language(client: Any, lang: str, ok: bool) -> None:
    r = run(
        client,
        "ValueSet/$validate-code",
        valueset(),
        coding(),
        {"name": "displayLanguage", "valueCode": lang},
    )
    assert (r.status_code == 200) is ok
    if not ok:
        (issue,) = r.json["issue"]
        assert r.status_code == 400 and issue["code"] == "processing"
        assert issue["details"]["coding"][0]["code"] == "invalid-display"


def test_filter_without_value_and_circular_import_are_errors(client: Any) -> None:
    broken = valueset()
    broken["compose"]["include"][0]["filter"] = [{"property": "concept", "op": "is-a"}]
    r = run(client, "ValueSet/$validate-code", broken, coding())
    assert r.status_code == 400
    assert r.json["issue"][0]["details"]["coding"][0]["code"] == "vs-invalid"
    circle = {
        "resourceType": "ValueSet",
        "url": VS,
        "version": "1",
        "status": "active",
        "compose": {"include": [{"valueSet": [VS]}]},
    }
    r = run(client, "ValueSet/$validate-code", circle, coding())
    assert r.status_code == 400
    (issue,) = r.json["issue"]
    assert issue["code"] == "processing"
    assert issue["details"]["coding"][0]["code"] == "vs-invalid"


def test_withdrawn_imported_value_set_is_reported(client: Any) -> None:
    withdrawn = valueset(vs_version="1")
    withdrawn["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status",
            "valueCode": "withdrawn",
        }
    ]
    outer = {
        "resourceType": "ValueSet",
        "url": "http://t/vs/outer",
        "status": "active",
        "compose": {"include": [{"valueSet": [VS]}]},
    }
    p = params(
        post(
            client,
            "/fhir/ValueSet/$validate-code",
            tx(cs("1.0.0", "A")),
            tx(withdrawn),
            tx(outer),
            {"name": "url", "valueUri": "http://t/vs/outer"},
            coding(),
        ).json
    )
    assert p["result"] == [True]
    (issue,) = issues(p)
    assert issue["severity"] == "information" and issue["code"] == "business-rule"
    assert issue["details"]["text"] == f"Reference to withdrawn ValueSet {VS}|1"


def test_wrong_display_offers_displays_not_other_designations(client: Any) -> None:
    code_system = cs("1.0.0", "A")
    code_system["concept"][0]["designation"] = [
        {"use": {"system": "http://t/uses", "code": "archaic"}, "value": "Olde A"},
        {"language": "de", "value": "A auf Deutsch"},
    ]
    body = (tx(code_system), tx(valueset()), {"name": "url", "valueUri": VS})
    p = params(post(client, "/fhir/ValueSet/$validate-code", *body, coding(display="x")).json)
    assert issues(p)[0]["details"]["text"] == (
        f"Wrong Display Name 'x' for {CS}#a. Valid display is one of 2 choices: "
        "'A' or 'A auf Deutsch' (de) (for the language(s) '--')"
    )
    # a designation of another use still matches
    p = params(post(client, "/fhir/ValueSet/$validate-code", *body, coding(display="Olde A")).json)
    assert p["result"] == [True] and not issues(p)


def test_lookup_inactive_property_of_fhir_code_systems(client: Any) -> None:
    # a FHIR CodeSystem states each concept's status: $lookup always says it (as the
    # tx-ecosystem lookups expect, property parameter or not)
    def props(*extra: dict[str, Any]) -> list[str]:
        r = post(
            client,
            "/fhir/CodeSystem/$lookup",
            tx(cs("1.0.0", "A")),
            {"name": "system", "valueUri": CS},
            {"name": "code", "valueCode": "a"},
            *extra,
        )
        return [p["part"][0]["valueCode"] for p in r.json["parameter"] if p["name"] == "property"]

    assert "inactive" in props()
    assert "inactive" in props({"name": "property", "valueCode": "*"})
    assert "inactive" in props({"name": "property", "valueCode": "inactive"})


def test_r5_translate_reports_the_link_with_map_version(client: Any) -> None:
    cmap = {
        "resourceType": "ConceptMap",
        "url": "http://t/cm",
        "version": "0.1.0",
        "status": "active",
        "group": [
            {
                "source": "http://t/src",
                "target": "http://t/tgt",
                "element": [
                    {
                        "code": "s1",
                        "target": [
                            {"code": "t1", "relationship": "source-is-narrower-than-target"}
                        ],
                    }
                ],
            }
        ],
    }

    def match(*parameters: dict[str, Any]) -> dict[str, Any]:
        r = post(client, "/r5/ConceptMap/$translate", tx(cmap), *parameters)
        (m,) = (p for p in r.json["parameter"] if p["name"] == "match")
        return {
            p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in m["part"]
        }

    fwd = match(
        {"name": "sourceSystem", "valueUri": "http://t/src"},
        {"name": "sourceCode", "valueCode": "s1"},
    )
    assert fwd["concept"] == {"system": "http://t/tgt", "code": "t1"}
    assert fwd["relationship"] == "source-is-narrower-than-target"
    assert fwd["originMap"] == "http://t/cm|0.1.0"
    rev = match(
        {"name": "targetSystem", "valueUri": "http://t/tgt"},
        {"name": "targetCode", "valueCode": "t1"},
    )
    # in reverse the link is still reported as the map states it
    assert rev["concept"] == {"system": "http://t/tgt", "code": "t1"}
    assert rev["source"] == {"system": "http://t/src", "code": "s1"}
    assert rev["relationship"] == "source-is-narrower-than-target"


def _lang_cs() -> dict[str, Any]:
    code_system = cs("1.0.0", "A")
    code_system["language"] = "en"
    code_system["concept"][0]["designation"] = [{"language": "de", "value": "A de"}]
    return code_system


@pytest.mark.parametrize(
    "language, vs_change, result",
    [
        ("it,de", {}, True),  # a displayLanguage may list several languages
        (None, {}, True),  # no language asked: any display is valid
        (None, {"language": "en"}, False),  # the value set's language applies
        (
            None,
            {
                "compose": {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter",
                            "extension": [
                                {"url": "name", "valueCode": "displayLanguage"},
                                {"url": "value", "valueCode": "en"},
                            ],
                        }
                    ],
                    "include": [{"system": CS}],
                }
            },
            False,
        ),
    ],
)
def test_display_languages(
    client: Any, language: str | None, vs_change: dict[str, Any], result: bool
) -> None:
    vset = {**valueset(), **vs_change}
    extra = [{"name": "displayLanguage", "valueCode": language}] if language else []
    p = params(
        post(
            client,
            "/fhir/ValueSet/$validate-code",
            tx(_lang_cs()),
            tx(vset),
            {"name": "url", "valueUri": VS},
            coding(display="A de"),
            *extra,
        ).json
    )
    assert p["result"] == [result]


SUPP = "http://t/cs/supp"


def supplement() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": "supp",
        "url": SUPP,
        "version": "0.1",
        "status": "active",
        "content": "supplement",
        "supplements": CS,
        "concept": [{"code": "a", "designation": [{"language": "nl", "value": "A in het NL"}]}],
    }


def test_use_supplement_designation_counts_as_display(client: Any) -> None:
    body = (tx(cs("1.0.0", "A")), tx(supplement()), tx(valueset()), {"name": "url", "valueUri": VS})
    wrong = post(client, "/fhir/ValueSet/$validate-code", *body, coding(display="A in het NL"))
    assert params(wrong.json)["result"] == [False]
    use = {"name": "useSupplement", "valueCanonical": SUPP}
    for op in ("ValueSet", "CodeSystem"):
        extra = body[2:] if op == "ValueSet" else ()
        r = post(
            client,
            f"/fhir/{op}/$validate-code",
            *body[:2],
            *extra,
            coding(display="A in het NL"),
            use,
        )
        p = params(r.json)
        assert p["result"] == [True] and not issues(p), op


def test_missing_supplement_is_not_found(client: Any) -> None:
    use = {"name": "useSupplement", "valueCanonical": SUPP + "-x"}
    body = (tx(cs("1.0.0", "A")), tx(valueset()), {"name": "url", "valueUri": VS})
    r = post(client, "/fhir/ValueSet/$validate-code", *body, coding(), use)
    assert r.status_code == 404
    assert r.json["issue"][0]["code"] == "not-found"
    assert "Required supplement not found" in r.json["issue"][0]["details"]["text"]
    r = post(
        client,
        "/fhir/CodeSystem/$lookup",
        tx(cs("1.0.0", "A")),
        {"name": "system", "valueUri": CS},
        {"name": "code", "valueCode": "a"},
        use,
    )
    assert r.status_code == 404


def test_lookup_with_supplement_names_its_source(client: Any) -> None:
    r = post(
        client,
        "/fhir/CodeSystem/$lookup",
        tx(cs("1.0.0", "A")),
        tx(supplement()),
        {"name": "system", "valueUri": CS},
        {"name": "code", "valueCode": "a"},
        {"name": "useSupplement", "valueCanonical": SUPP},
    )
    out = r.json["parameter"]
    assert {"name": "used-supplement", "valueCanonical": f"{SUPP}|0.1"} in out
    assert {"name": "code", "valueCode": "a"} in out and {"name": "system", "valueUri": CS} in out
    nl = [p["part"] for p in out if p["name"] == "designation"]
    assert [
        {"name": "language", "valueCode": "nl"},
        {"name": "source", "valueCanonical": f"{SUPP}|0.1"},
        {"name": "value", "valueString": "A in het NL"},
    ] in nl


def test_supplement_as_coding_system_is_invalid_not_an_error(client: Any) -> None:
    r = post(
        client,
        "/fhir/CodeSystem/$validate-code",
        tx(cs("1.0.0", "A")),
        tx(supplement()),
        {"name": "coding", "valueCoding": {"system": SUPP, "code": "a"}},
    )
    p = params(r.json)
    assert r.status_code == 200 and p["result"] == [False]
    assert issues(p)[0]["details"]["coding"][0]["code"] == "invalid-data"
    assert issues(p)[0]["expression"] == ["Coding.system"]


def test_supplement_does_not_copy_the_code_system() -> None:
    from fhirterm.index import CodeSystemIndex, ConceptDict
    from fhirterm.model import CodeSystemInfo, Concept, Designation
    from fhirterm.operations.supplements import Supplemented, _merge

    class NoIteration(ConceptDict):
        def __iter__(self) -> Any:
            raise AssertionError("the base concepts were iterated")

        def values(self) -> Any:
            raise AssertionError("the base concepts were iterated")

        def items(self) -> Any:
            raise AssertionError("the base concepts were iterated")

    base = CodeSystemIndex(
        info=CodeSystemInfo(url=CS, version="1", id="v"),
        concepts=NoIteration(a=Concept(code="a", display="A"), b=Concept(code="b", display="B")),
    )
    supp = CodeSystemIndex(
        info=CodeSystemInfo(url=SUPP, version="0.1", id="s", content="supplement"),
        concepts=ConceptDict(a=Concept(code="a", designations=(Designation("x", "nl"),))),
    )
    merged = _merge(base, supp)
    assert isinstance(merged.concepts, Supplemented)
    assert merged.concepts["b"] is base.concepts["b"]
    assert [d.value for d in merged.concepts["a"].designations] == ["x"]
    assert base.concepts["a"].designations == ()


def two_versions() -> dict[str, Any]:
    vs = valueset()
    vs["compose"]["include"] = [
        {"system": CS, "version": "1.0.0"},
        {"system": CS, "version": "1.2.0"},
    ]
    return vs


def test_coding_version_picks_that_include(client: Any) -> None:
    p = params(run(client, "ValueSet/$validate-code", two_versions(), coding(version="1.0.0")).json)
    assert p["result"] == [True] and p["version"] == ["1.0.0"] and not issues(p)


def test_display_picks_the_version_it_belongs_to(client: Any) -> None:
    p = params(
        run(client, "ValueSet/$validate-code", two_versions(), coding(display="A 1.0.0")).json
    )
    assert p["result"] == [True] and p["version"] == ["1.0.0"] and p["display"] == ["A 1.0.0"]
    p = params(run(client, "ValueSet/$validate-code", two_versions(), coding(display="nope")).json)
    assert p["result"] == [False] and p["version"] == ["1.2.0"]


def only_b() -> dict[str, Any]:
    vs = valueset()
    vs["compose"]["include"] = [{"system": CS, "concept": [{"code": "b"}]}]
    return vs


def test_code_outside_the_value_set_reports_version_except_for_codeable_concept(
    client: Any,
) -> None:
    # "a" is in the code system but not in the value set: a code or coding names the
    # code system version it was found in, a codeable concept (no one coding) does not
    p = params(run(client, "ValueSet/$validate-code", only_b(), coding("a")).json)
    assert p["result"] == [False] and p["version"] == ["1.2.0"]
    cc = {"coding": [{"system": CS, "code": "a"}, {"system": CS, "code": "zz"}]}
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            only_b(),
            {"name": "codeableConcept", "valueCodeableConcept": cc},
        ).json
    )
    assert p["result"] == [False] and "version" not in p
    got = {(i["severity"], tuple(i.get("expression", ()))) for i in issues(p)}
    assert ("information", ("CodeableConcept.coding[0].code",)) in got  # a: not in the vs
    assert ("information", ("CodeableConcept.coding[1].code",)) in got  # zz: not in the vs
    assert ("error", ("CodeableConcept.coding[1].code",)) in got  # zz: unknown code
    assert ("error", ()) in got  # no valid coding


def test_system_that_cannot_be_inferred_names_the_systems_searched(client: Any) -> None:
    p = params(
        run(
            client,
            "ValueSet/$validate-code",
            valueset(),
            {"name": "code", "valueCode": "zz"},
            {"name": "inferSystem", "valueBoolean": True},
        ).json
    )
    assert p["result"] == [False]
    infer = [i for i in issues(p) if i["details"]["coding"][0]["code"] == "cannot-infer"]
    assert len(infer) == 1 and infer[0]["expression"] == ["code"]
    text = infer[0]["details"]["text"]
    assert text.startswith(
        f"The System URI could not be determined for the code 'zz' in the ValueSet '{VS}|1'"
    )
    assert text.endswith(f"no matches in [{CS}]") and text in p["message"][0]
