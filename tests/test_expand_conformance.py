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


def test_hierarchy_only_when_exclude_nested_is_false(client: Any) -> None:
    nested = expand(client, [URL, {"name": "excludeNested", "valueBoolean": False}])
    top = nested["expansion"]["contains"]
    assert [c["code"] for c in top] == ["a", "b", "c"]
    assert [c["code"] for c in top[0]["contains"]] == ["a1", "a2"]
    assert nested["expansion"]["total"] == 5
    assert len(expand(client, [URL])["expansion"]["contains"]) == 5  # flat by default


def test_status_property_and_not_selectable_by_uri(client: Any) -> None:
    body = expand(client, [URL])
    by = {c["code"]: c for c in body["expansion"]["contains"]}
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
    by = {c["code"]: c for c in soft["expansion"]["contains"]}
    assert by["a"]["display"] == "A-de"
    assert (
        by["a"]["designation"][0]["value"] == "A" and by["a"]["designation"][0]["language"] == "en"
    )
    assert by["c"]["display"] == "C"  # no German: the default display
    hard = expand(client, [URL, {"name": "displayLanguage", "valueCode": "de,*; q=0"}])
    assert "display" not in {c["code"]: c for c in hard["expansion"]["contains"]}["c"]
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
    c = {x["code"]: x for x in body["expansion"]["contains"]}["c"]
    assert c["designation"] == [{"language": "nl", "value": "C-nl"}]
    # the supplement applied to this request only
    plain = expand(
        client, [URL, {"name": "includeDesignations", "valueBoolean": True}], CS, supp, ALL
    )
    assert "designation" not in {x["code"]: x for x in plain["expansion"]["contains"]}["c"]
    r = call(client, [URL, {"name": "useSupplement", "valueCanonical": "http://t/nope"}], CS, ALL)
    assert r.status_code == 404
    assert r.json["issue"][0]["details"]["text"] == "Required supplement not found: http://t/nope"


def test_request_resources_with_one_id_do_not_hide_each_other(client: Any) -> None:
    one = {**vs({"system": SYS, "concept": [{"code": "a"}]}, url="http://t/one"), "id": "same"}
    two = {**vs({"system": SYS, "concept": [{"code": "b"}]}, url="http://t/two"), "id": "same"}
    body = expand(client, [{"name": "url", "valueUri": "http://t/one"}], CS, one, two)
    assert [c["code"] for c in body["expansion"]["contains"]] == ["a"]
