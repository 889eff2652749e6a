"""CPT links: $translate forward and reverse, related-cpt in $lookup, the M99 family, import-cpt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirterm.config import Settings
from fhirterm.errors import ContentError
from fhirterm.loading import load_registry

from .conftest import ICD, REPO
from .fhir_models import params, parse_r4, properties

pytestmark = pytest.mark.full
CPT = "http://www.ama-assn.org/go/cpt"
MAP = "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"


def matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in body["parameter"]:
        if p["name"] == "match":
            out.append(
                {
                    q["name"]: next(v for k, v in q.items() if k.startswith("value"))
                    for q in p["part"]
                }
            )
    return out


def test_translate_forward(full_client: Any) -> None:
    r = full_client.get(f"/fhir/ConceptMap/$translate?url={MAP}&system={ICD}&code=M99.44")
    parse_r4(r.json)
    assert params(r.json)["result"] == [True]
    ms = matches(r.json)
    assert sorted(m["concept"]["code"] for m in ms) == sorted(
        ["98925", "98940", "72148", "62323", "64483", "63011", "97140"]
    )
    assert all(m["equivalence"] == "relatedto" and m["comment"] and m["source"] == MAP for m in ms)
    assert all(m["concept"]["system"] == CPT for m in ms)


def test_translate_instance_post_and_no_match(full_client: Any) -> None:
    r = full_client.post(
        "/fhir/ConceptMap/icd10cm-to-cpt/$translate",
        data=orjson.dumps(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "coding", "valueCoding": {"system": ICD, "code": "M99.01"}},
                    {"name": "targetsystem", "valueUri": CPT},
                ],
            }
        ),
        content_type="application/fhir+json",
    )
    assert params(r.json)["result"] == [True] and matches(r.json)
    r = full_client.get(f"/fhir/ConceptMap/$translate?url={MAP}&system={ICD}&code=A00.0")
    assert params(r.json)["result"] == [False] and "No translation" in params(r.json)["message"][0]
    assert (
        full_client.get(
            f"/fhir/ConceptMap/$translate?url=http://nope&system={ICD}&code=M99.44"
        ).status_code
        == 404
    )
    assert full_client.get(f"/fhir/ConceptMap/$translate?url={MAP}&system={ICD}").status_code == 400


def test_translate_reverse(full_client: Any) -> None:
    r = full_client.get(f"/fhir/ConceptMap/$translate?system={CPT}&code=63011&reverse=true")
    got = sorted(m["concept"]["code"] for m in matches(r.json))
    assert "M99.44" in got and all(c.startswith("M99.") and c[-1] == "4" for c in got)
    assert all(m["concept"]["system"] == ICD for m in matches(r.json))


def test_concept_map_read_and_search(full_client: Any) -> None:
    assert full_client.get("/fhir/ConceptMap/icd10cm-to-cpt").json["url"] == MAP
    r = full_client.get(f"/fhir/ConceptMap?url={MAP}")
    parse_r4(r.json)
    assert r.json["total"] == 1


def test_related_cpt_in_lookup(full_client: Any) -> None:
    r = full_client.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44")
    rel = properties(r.json)["related-cpt"]
    assert len(rel) == 7
    assert all(x["value"]["system"] == CPT and x["value"]["display"] for x in rel)
    # the CPT fragment itself is served, with the AMA named in its copyright
    cpt = full_client.get("/fhir/CodeSystem?url=" + CPT).json["entry"][0]["resource"]
    assert cpt["content"] == "fragment" and "American Medical Association" in cpt["copyright"]


def test_every_billable_m99_code_is_complete(full_client: Any, full_registry: Any) -> None:
    cs = full_registry.code_system(ICD)
    billable = [c for c in cs.concepts if c.startswith("M99") and not cs.concepts[c].children]
    assert len(billable) == 91
    for code in billable:
        r = full_client.get(f"/fhir/CodeSystem/$lookup?system={ICD}&code={code}")
        p, props = params(r.json), properties(r.json)
        assert len(p["definition"][0]) > len(p["display"][0]), code
        assert props["region"], code
        assert len(props["documentation-tip"]) >= 3, code
        assert len(props["coding-pitfall"]) >= 2, code
        assert props["clinical-context"], code
        assert len(props["faq"]) >= 3, code
        assert len(props["source"]) >= 2 and all(
            dict(s["sub"])["url"].startswith("http") for s in props["source"]
        )
        assert props["verified"], code
        assert {x["value"] for x in props["provenance"]} >= {
            "definition",
            "documentation-tip",
            "coding-pitfall",
            "clinical-context",
            "faq",
        }, code
        assert props["related-cpt"], code


def test_citation_of_a_made_up_code_fails_the_load(tmp_path: Path) -> None:
    content = tmp_path / "codesystems"
    shutil.copytree(REPO / "codesystems", content)
    f = content / "editorial" / "icd10cm-m99.toml"
    text = f.read_text()
    assert "foramina is M99.74 (" in text
    f.write_text(text.replace("foramina is M99.74 (", "foramina is M99.99 (", 1))
    with pytest.raises(ContentError) as e:
        load_registry(Settings(content_dir=content, cache_dir=None))
    assert "'M99.99'" in e.value.message and e.value.source.endswith("icd10cm-m99.toml")


def test_import_cpt_descriptors(tmp_path: Path) -> None:
    from fhirterm.cli import main

    csv = tmp_path / "cpt.csv"
    csv.write_text(
        "code,description\n98925,LICENSED DESCRIPTOR ONE\n99999,LICENSED EXTRA\nnot a code,x\n"
    )
    out = tmp_path / "cpt.json"
    assert (
        main(
            [
                "import-cpt",
                str(csv),
                "--base",
                str(REPO / "codesystems" / "cpt.json"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cs = json.loads(out.read_text())
    displays = {c["code"]: c["display"] for c in cs["concept"]}
    assert displays["98925"] == "LICENSED DESCRIPTOR ONE" and "99999" not in displays
    ama = tmp_path / "LONGULT.txt"
    ama.write_text("98925   LICENSED FIXED LAYOUT\n99999 ANOTHER\n")
    assert (
        main(
            [
                "import-cpt",
                str(ama),
                "--base",
                str(REPO / "codesystems" / "cpt.json"),
                "--out",
                str(out),
                "--all",
            ]
        )
        == 0
    )
    displays = {c["code"]: c["display"] for c in json.loads(out.read_text())["concept"]}
    assert displays["98925"] == "LICENSED FIXED LAYOUT" and displays["99999"] == "ANOTHER"
    empty = tmp_path / "empty.txt"
    empty.write_text("nothing here\n")
    assert (
        main(
            [
                "import-cpt",
                str(empty),
                "--base",
                str(REPO / "codesystems" / "cpt.json"),
                "--out",
                str(out),
            ]
        )
        == 1
    )
