"""$expand behaviours of the HL7 terminology ecosystem suite, on small inline resources (R5)."""

from __future__ import annotations

from typing import Any

import orjson

SYS = "http://t/cs"
CS: dict[str, Any] = {
    "resourceType": "CodeSystem",
    "url": SYS,
    "version": "1.0.0",
    "language": "en",
    "status": "active",
    "content": "complete",
    "property": [
        {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"},
        {
            "code": "not-selectable",
            "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
            "type": "boolean",
        },
    ],
    "concept": [
        {
            "code": "a",
            "display": "A",
            "designation": [{"language": "de", "value": "A-de"}],
            "concept": [
                {"code": "a1", "display": "A1"},
                {
                    "code": "a2",
                    "display": "A2",
                    "property": [{"code": "status", "valueCode": "retired"}],
                },
            ],
        },
        {
            "code": "b",
            "display": "B",
            "property": [{"code": "not-selectable", "valueBoolean": True}],
        },
        {"code": "c", "display": "C"},
    ],
}
CS2 = {**CS, "version": "2.0.0", "concept": [{"code": "a", "display": "A two"}]}


def vs(*includes: dict[str, Any], url: str = "http://t/vs", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "url": url,
        "version": "1",
        "status": "active",
        "compose": {"include": list(includes)},
        **extra,
    }


ALL = vs({"system": SYS})


def call(client: Any, params: list[dict[str, Any]], *resources: dict[str, Any], **kw: Any) -> Any:
    body = {
        "resourceType": "Parameters",
        "parameter": [*params, *({"name": "tx-resource", "resource": r} for r in resources)],
    }
    return client.post(
        "/r5/ValueSet/$expand",
        data=orjson.dumps(body),
        content_type="application/fhir+json",
        **kw,
    )


def expand(client: Any, params: list[dict[str, Any]], *resources: dict[str, Any], **kw: Any) -> Any:
    r = call(client, params, *(resources or (CS, ALL)), **kw)
    assert r.status_code == 200, r.json
    return r.json


URL = {"name": "url", "valueUri": "http://t/vs"}


def pnames(body: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for p in body["expansion"]["parameter"]:
        out.setdefault(p["name"], []).append(next(v for k, v in p.items() if k != "name"))
    return out


def flat(contains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for c in contains for x in (c, *flat(c.get("contains", [])))]


def test_echoes_what_was_sent_and_no_offset_unless_paging(client: Any) -> None:
    body = expand(client, [URL, {"name": "excludeNested", "valueBoolean": True}])
    exp = body["expansion"]
    assert "offset" not in exp
    assert pnames(body) == {"excludeNested": [True], "used-codesystem": [f"{SYS}|1.0.0"]}
    assert all("version" not in c for c in exp["contains"])  # one version: not repeated
    assert "publisher" not in body and body["version"] == "1"
    paged = expand(
        client,
        [URL, {"name": "count", "valueInteger": 2}, {"name": "offset", "valueInteger": 0}],
    )["expansion"]
    assert paged["offset"] == 0 and len(paged["contains"]) == 2 and paged["total"] == 5


def test_hierarchy_by_default_for_code_system_resources(client: Any) -> None:
    nested = expand(client, [URL, {"name": "excludeNested", "valueBoolean": False}])
    top = nested["expansion"]["contains"]
    assert [c["code"] for c in top] == ["a", "b", "c"]
    assert [c["code"] for c in top[0]["contains"]] == ["a1", "a2"]
    assert nested["expansion"]["total"] == 5
    # unasked, a FHIR CodeSystem's tree is kept too (the reference server's default)
    assert expand(client, [URL])["expansion"]["contains"] == top
    flat_ = expand(client, [URL, {"name": "excludeNested", "valueBoolean": True}])
    assert len(flat_["expansion"]["contains"]) == 5
    # a text search over a whole code system is a ranked flat list ...
    search = expand(client, [URL, {"name": "filter", "valueString": "a"}])
    assert "contains" not in search["expansion"]["contains"][0]
    # ... but a filtered value set keeps the tree of what matches
    isa = vs({"system": SYS, "filter": [{"property": "concept", "op": "is-a", "value": "a"}]})
    body = expand(client, [URL, {"name": "filter", "valueString": "a"}], CS, isa)
    assert [c["code"] for c in body["expansion"]["contains"]] == ["a"]
    assert [c["code"] for c in body["expansion"]["contains"][0]["contains"]] == ["a1", "a2"]
    # paging is always flat
    paged = expand(client, [URL, {"name": "count", "valueInteger": 10}])
    assert len(paged["expansion"]["contains"]) == 5


def test_status_property_and_not_selectable_by_uri(client: Any) -> None:
    body = expand(client, [URL])
    by = {c["code"]: c for c in flat(body["expansion"]["contains"])}
    assert by["a2"]["property"] == [{"code": "status", "valueCode": "retired"}]
    assert by["a2"]["inactive"] is True
    assert by["b"]["abstract"] is True  # "not-selectable" declared with the notSelectable uri
    assert {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status"} in body[
        "expansion"
    ]["property"]
    filtered = vs(
        {"system": SYS, "filter": [{"property": "not-selectable", "op": "=", "value": "true"}]}
    )
    assert [c["code"] for c in expand(client, [URL], CS, filtered)["expansion"]["contains"]] == [
        "b"
    ]


def test_display_language_soft_hard_and_header(client: Any) -> None:
    soft = expand(
        client,
        [
            URL,
            {"name": "displayLanguage", "valueCode": "de"},
            {"name": "includeDesignations", "valueBoolean": True},
        ],
    )
    by = {c["code"]: c for c in flat(soft["expansion"]["contains"])}
    assert by["a"]["display"] == "A-de"
    assert (
        by["a"]["designation"][0]["value"] == "A" and by["a"]["designation"][0]["language"] == "en"
    )
    assert by["c"]["display"] == "C"  # no German: the default display
    hard = expand(client, [URL, {"name": "displayLanguage", "valueCode": "de,*; q=0"}])
    assert "display" not in {c["code"]: c for c in flat(hard["expansion"]["contains"])}["c"]
    header = expand(client, [URL], headers={"Accept-Language": "de"})
    assert pnames(header)["displayLanguage"] == ["de"]
    assert header["expansion"]["contains"][0]["display"] == "A-de"


def test_value_set_expansion_parameter_extension(client: Any) -> None:
    ext = {
        "url": "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter",
        "extension": [
            {"url": "name", "valueCode": "displayLanguage"},
            {"url": "value", "valueCode": "de"},
        ],
    }
    v = {**ALL, "compose": {**ALL["compose"], "extension": [ext]}}
    body = expand(client, [URL], CS, v)
    assert pnames(body)["displayLanguage"] == ["de"]


def test_version_rules(client: Any) -> None:
    force = expand(
        client,
        [URL, {"name": "force-system-version", "valueCanonical": f"{SYS}|1.0.x"}],
        CS,
        CS2,
        ALL,
    )
    assert pnames(force)["used-codesystem"] == [f"{SYS}|1.0.0"]
    assert pnames(force)["force-system-version"] == [f"{SYS}|1.0.x"]
    default = expand(
        client, [URL, {"name": "system-version", "valueCanonical": f"{SYS}|1.0.0"}], CS, CS2, ALL
    )
    assert pnames(default)["system-version"] == [f"{SYS}|1.0.0"]
    r = call(
        client,
        [URL, {"name": "check-system-version", "valueCanonical": f"{SYS}|1.0.x"}],
        CS,
        CS2,
        vs({"system": SYS, "version": "2.0.0"}),
    )
    assert r.status_code == 400
    issue = r.json["issue"][0]
    assert issue["code"] == "exception"
    assert issue["details"]["coding"][0]["code"] == "version-error"
    r = call(client, [URL], CS, CS2, vs({"system": SYS, "version": "3"}))
    assert r.status_code == 404
    assert r.json["issue"][0]["details"]["text"].endswith(
        "could not be found, so the value set cannot be expanded. Valid versions: 1.0.0 or 2.0.0"
    )


def test_two_versions_of_one_system_are_told_apart(client: Any) -> None:
    both = vs({"system": SYS, "version": "1.0.0"}, {"system": SYS, "version": "2.0.0"})
    body = expand(client, [URL], CS, CS2, both)
    pairs = {(c["code"], c["version"]) for c in body["expansion"]["contains"]}
    assert ("a", "1.0.0") in pairs and ("a", "2.0.0") in pairs


def test_used_valueset_and_default_valueset_version(client: Any) -> None:
    inner1 = vs({"system": SYS, "concept": [{"code": "a"}]}, url="http://t/inner")
    inner2 = {
        **vs({"system": SYS, "concept": [{"code": "c"}]}, url="http://t/inner"),
        "version": "2",
    }
    outer = vs({"valueSet": ["http://t/inner"]})
    body = expand(
        client,
        [URL, {"name": "default-valueset-version", "valueCanonical": "http://t/inner|1"}],
        CS,
        inner1,
        inner2,
        outer,
    )
    assert [c["code"] for c in body["expansion"]["contains"]] == ["a"]
    assert pnames(body)["used-valueset"] == ["http://t/inner|1"]


def test_warnings_and_concept_extensions(client: Any) -> None:
    draft = {**CS, "url": "http://t/draft", "status": "draft", "experimental": True}
    ext = {
        "url": "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "valueCode": "true",
    }
    v = vs({"system": "http://t/draft", "concept": [{"code": "a", "extension": [ext]}]})
    body = expand(client, [URL], draft, v)
    p = pnames(body)
    assert p["warning-draft"] == ["http://t/draft|1.0.0"]
    assert p["warning-experimental"] == ["http://t/draft|1.0.0"]
    assert body["expansion"]["contains"][0]["extension"] == [ext]


def test_supplements(client: Any) -> None:
    supp = {
        "resourceType": "CodeSystem",
        "url": "http://t/supp",
        "version": "0.1",
        "status": "active",
        "content": "supplement",
        "supplements": SYS,
        "concept": [{"code": "c", "designation": [{"language": "nl", "value": "C-nl"}]}],
    }
    use = {"name": "useSupplement", "valueCanonical": "http://t/supp"}
    body = expand(
        client, [URL, use, {"name": "includeDesignations", "valueBoolean": True}], CS, supp, ALL
    )
    assert pnames(body)["used-supplement"] == ["http://t/supp|0.1"]
    c = {x["code"]: x for x in flat(body["expansion"]["contains"])}["c"]
    assert c["designation"] == [{"language": "nl", "value": "C-nl"}]
    # the supplement applied to this request only
    plain = expand(
        client, [URL, {"name": "includeDesignations", "valueBoolean": True}], CS, supp, ALL
    )
    assert "designation" not in {x["code"]: x for x in flat(plain["expansion"]["contains"])}["c"]
    r = call(client, [URL, {"name": "useSupplement", "valueCanonical": "http://t/nope"}], CS, ALL)
    assert r.status_code == 404
    assert r.json["issue"][0]["details"]["text"] == "Required supplement not found: http://t/nope"


def test_request_resources_with_one_id_do_not_hide_each_other(client: Any) -> None:
    one = {**vs({"system": SYS, "concept": [{"code": "a"}]}, url="http://t/one"), "id": "same"}
    two = {**vs({"system": SYS, "concept": [{"code": "b"}]}, url="http://t/two"), "id": "same"}
    body = expand(client, [{"name": "url", "valueUri": "http://t/one"}], CS, one, two)
    assert [c["code"] for c in body["expansion"]["contains"]] == ["a"]


SD = "http://hl7.org/fhir/StructureDefinition/"
CP = "http://hl7.org/fhir/concept-properties#"
INCLUDE_DESIGNATIONS = {"name": "includeDesignations", "valueBoolean": True}
EXT_CS: dict[str, Any] = {
    "resourceType": "CodeSystem",
    "url": "http://t/ext",
    "status": "active",
    "content": "complete",
    "concept": [
        {
            "code": "x",
            "display": "X",
            "extension": [
                {"url": SD + "codesystem-conceptOrder", "valueInteger": 2},
                {"url": SD + "codesystem-label", "valueString": "x."},
                {"url": SD + "rendering-style", "valueString": "font-weight: bold"},
                {"url": "http://t/unknown", "valueString": "ignored"},
            ],
            "designation": [
                {
                    "language": "de",
                    "value": "X-de",
                    "extension": [{"url": SD + "coding-sctdescid", "valueId": "1"}],
                }
            ],
        },
        {
            "code": "y",
            "display": "Y",
            "extension": [
                {"url": SD + "codesystem-conceptOrder", "valueInteger": 1},
                {"url": SD + "structuredefinition-standards-status", "valueCode": "deprecated"},
            ],
        },
    ],
}


def test_concept_extensions_are_properties(client: Any) -> None:
    body = expand(
        client,
        [{"name": "url", "valueUri": "http://t/ext-vs"}, INCLUDE_DESIGNATIONS],
        EXT_CS,
        vs({"system": "http://t/ext"}, url="http://t/ext-vs"),
    )
    exp = body["expansion"]
    by = {c["code"]: c for c in exp["contains"]}
    assert by["x"]["property"] == [
        {"code": "order", "valueDecimal": 2},
        {"code": "label", "valueString": "x."},
    ]
    assert by["x"]["extension"] == [
        {"url": SD + "rendering-style", "valueString": "font-weight: bold"}
    ]
    assert by["x"]["designation"][0]["extension"] == [
        {"url": SD + "coding-sctdescid", "valueId": "1"}
    ]
    # the concept's standards status is its status (deprecated: not inactive)
    assert {"code": "status", "valueCode": "deprecated"} in by["y"]["property"]
    assert "inactive" not in by["y"]
    assert {(p["code"], p["uri"]) for p in exp["property"]} == {
        ("order", CP + "order"),
        ("label", CP + "label"),
        ("status", CP + "status"),
    }
    assert "extension" not in body  # the value set's own extensions: with includeDefinition only


def test_compose_concept_extensions_override_and_designations_add(client: Any) -> None:
    enum = vs(
        {
            "system": "http://t/ext",
            "concept": [
                {
                    "code": "x",
                    "extension": [
                        {"url": SD + "valueset-conceptOrder", "valueInteger": 0},
                        {"url": SD + "itemWeight", "valueDecimal": 1.5},
                        {"url": SD + "valueset-deprecated", "valueBoolean": True},
                        {"url": "http://t/unknown", "valueString": "ignored"},
                    ],
                    "designation": [
                        {
                            "language": "nl",
                            "value": "X-nl",
                            "extension": [{"url": "http://t/unknown", "valueString": "dropped"}],
                        }
                    ],
                }
            ],
        },
        url="http://t/ext-enum",
        extension=[{"url": "http://t/vs-ext", "valueString": "v"}],
    )
    params = [{"name": "url", "valueUri": "http://t/ext-enum"}, INCLUDE_DESIGNATIONS]
    body = expand(client, params, EXT_CS, enum)
    x = body["expansion"]["contains"][0]
    assert sorted(x["property"], key=lambda p: p["code"]) == [
        {"code": "label", "valueString": "x."},
        {"code": "order", "valueDecimal": 0},
        {"code": "weight", "valueDecimal": 1.5},
    ]
    assert {e["url"] for e in x["extension"]} == {
        SD + "rendering-style",
        SD + "valueset-deprecated",
    }
    assert {"language": "nl", "value": "X-nl"} in x["designation"]
    assert "extension" not in body
    defined = expand(
        client, [*params, {"name": "includeDefinition", "valueBoolean": True}], EXT_CS, enum
    )
    assert defined["extension"] == [{"url": "http://t/vs-ext", "valueString": "v"}]


def test_lookup_leaves_presentation_properties_out_unless_asked(client: Any) -> None:
    def lookup(*extra: dict[str, Any]) -> list[str]:
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "system", "valueUri": "http://t/ext"},
                {"name": "code", "valueCode": "x"},
                *extra,
                {"name": "tx-resource", "resource": EXT_CS},
            ],
        }
        r = client.post(
            "/r5/CodeSystem/$lookup", data=orjson.dumps(body), content_type="application/fhir+json"
        )
        assert r.status_code == 200, r.json
        return [p["part"][0]["valueCode"] for p in r.json["parameter"] if p["name"] == "property"]

    assert "order" not in lookup()
    assert lookup({"name": "property", "valueCode": "order"}) == ["order"]


def test_contained_value_set_import(client: Any) -> None:
    outer = {
        "resourceType": "ValueSet",
        "status": "active",
        "contained": [
            {
                "resourceType": "ValueSet",
                "id": "inner",
                "url": "http://t/inner-contained",
                "status": "active",
                "compose": {"include": [{"system": SYS, "concept": [{"code": "c"}]}]},
            }
        ],
        "compose": {"include": [{"valueSet": ["#inner"]}]},
    }
    r = call(client, [{"name": "valueSet", "resource": outer}], CS)
    assert r.status_code == 200, r.json
    assert [c["code"] for c in r.json["expansion"]["contains"]] == ["c"]
    assert "used-valueset" not in pnames(r.json)  # a contained value set is no canonical one
    missing = {**outer, "compose": {"include": [{"valueSet": ["#nope"]}]}}
    assert call(client, [{"name": "valueSet", "resource": missing}], CS).status_code == 404


def test_fragment_code_system_makes_an_unclosed_expansion(client: Any) -> None:
    frag = {**CS, "url": "http://t/frag", "content": "fragment"}
    body = expand(client, [URL], frag, vs({"system": "http://t/frag"}))
    assert pnames(body)["used-fragment"] == ["http://t/frag|1.0.0"]
    ext = {e["url"]: e for e in body["expansion"]["extension"]}
    assert ext[SD + "valueset-unclosed"]["valueBoolean"] is True
    assert "http://t/frag" in ext[SD + "valueset-unclosed-reason"]["valueString"]
    assert "extension" not in expand(client, [URL])["expansion"]


def test_filter_without_value_and_import_cycle_errors(client: Any) -> None:
    broken = vs({"system": SYS, "filter": [{"property": "concept", "op": "is-a"}]})
    r = call(client, [URL], CS, broken)
    issue = r.json["issue"][0]
    assert r.status_code == 400 and issue["code"] == "invalid"
    assert issue["details"]["text"] == (
        f"The system {SYS} filter with property = concept, op = is-a has no value"
    )
    assert issue["expression"] == ["ValueSet.compose.include[0].filter[0]"]
    a = vs({"system": SYS}, url="http://t/a")
    a["compose"]["exclude"] = [{"valueSet": ["http://t/b"]}]
    b = vs({"valueSet": ["http://t/a"]}, url="http://t/b")
    r = call(client, [{"name": "url", "valueUri": "http://t/a"}], CS, a, b)
    issue = r.json["issue"][0]
    assert r.status_code == 400 and issue["code"] == "processing"
    assert issue["details"]["coding"][0]["code"] == "vs-invalid"
    assert "http://t/a" in issue["details"]["text"]


def test_language_list_echo_and_exact_designation_language(client: Any) -> None:
    body = expand(client, [URL, {"name": "displayLanguage", "valueCode": "de,*; q=0"}])
    assert pnames(body)["displayLanguage"] == ["de, *; q=0"]
    assert pnames(expand(client, [URL, {"name": "displayLanguage", "valueCode": "de,*"}]))[
        "displayLanguage"
    ] == ["de,*"]
    ch = {
        **CS,
        "concept": [
            {
                "code": "a",
                "display": "A",
                "designation": [
                    {"language": "de-CH", "value": "A-ch"},
                    {"language": "de", "value": "A-de"},
                ],
            }
        ],
    }
    only_de = expand(
        client, [URL, {"name": "designation", "valueString": "urn:ietf:bcp:47|de"}], ch, ALL
    )
    assert only_de["expansion"]["contains"][0]["designation"] == [
        {"language": "de", "value": "A-de"}
    ]


def test_versions_operation_and_capabilities(client: Any) -> None:
    for base, version in (("/r5", "5.0.0"), ("/fhir", "4.0.1"), ("/r4", "4.0.1")):
        r = client.get(f"{base}/$versions")
        assert r.status_code == 200
        assert r.json == {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "version", "valueCode": version},
                {"name": "default", "valueCode": version},
            ],
        }
    assert client.get("/r5/$versions?x=1").status_code == 400
    cs = client.get("/r5/metadata").json
    assert cs["software"]["releaseDate"] and cs["version"]
    assert {
        "name": "versions",
        "definition": ("http://hl7.org/fhir/OperationDefinition/CapabilityStatement-versions"),
    } in cs["rest"][0]["operation"]
    features = {e["extension"][0]["valueCanonical"]: e["extension"][1] for e in cs["extension"]}
    assert features["http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version"]["valueCode"]
    tc = client.get("/r5/metadata?mode=terminology").json
    names = {p["name"] for p in tc["expansion"]["parameter"]}
    assert {"activeOnly", "count", "offset", "tx-resource", "system-version"} <= names
    assert tc["version"] and tc["title"]
