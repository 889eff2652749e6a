"""The full April 2026 release with the repository's editorial content, through HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ICD
from .fhir_models import params, parse_r4, properties

pytestmark = pytest.mark.full
LOOKUP = f"/fhir/CodeSystem/$lookup?system={ICD}"


def test_m99_44_carries_the_seed_page(full_client: Any) -> None:
    """Everything on the seed page for M99.44 is reachable through $lookup."""
    r = full_client.get(f"{LOOKUP}&code=M99.44")
    assert r.status_code == 200
    parse_r4(r.json)
    p, props = params(r.json), properties(r.json)
    assert p["display"] == ["Connective tissue stenosis of neural canal of sacral region"]
    assert len(p["definition"][0]) > len(p["display"][0])
    assert props["billable"][0]["value"] is True
    assert props["chapter"][0]["value"] == "13"
    assert [x["value"] for x in props["region"]] == ["Spine"]
    assert len(props["documentation-tip"]) == 5
    assert len(props["coding-pitfall"]) == 4
    assert len(props["clinical-context"]) == 1
    assert len([x for x in props["clinical-context"][0]["value"].split("\n\n") if x.strip()]) == 3
    faq = props["faq"]
    assert len(faq) == 7 and all({c for c, _ in f["sub"]} == {"question", "answer"} for f in faq)
    sources = props["source"]
    assert len(sources) == 5
    urls = [dict(s["sub"])["url"] for s in sources]
    assert all(u.startswith("https://") for u in urls)
    assert (
        "https://vsac.nlm.nih.gov/context/cs/codesystem/ICD10CM/version/2020/code/M99.44/info"
        in urls
    )
    assert props["verified"][0]["value"] == "2026-05-08"
    sections = {x["value"] for x in props["provenance"]}
    assert {"documentation-tip", "coding-pitfall", "clinical-context", "faq"} <= sections
    siblings = [x["value"] for x in props["sibling"]]
    assert siblings == [
        "M99.40",
        "M99.41",
        "M99.42",
        "M99.43",
        "M99.45",
        "M99.46",
        "M99.47",
        "M99.48",
        "M99.49",
    ]


def test_header_validation_names_billable_codes(full_client: Any) -> None:
    r = full_client.get(f"/fhir/CodeSystem/$validate-code?url={ICD}&code=M99.4")
    p = params(r.json)
    assert p["result"] == [True]
    assert (
        "10 billable descendants: M99.40, M99.41, M99.42, M99.43, M99.44 and 5 more"
        in p["message"][0]
    )


@pytest.mark.parametrize("code", ["13", "M99-M99", "m99.44", "M9944", "M99.44 "])
def test_non_codes_are_false(full_client: Any, code: str) -> None:
    r = full_client.get(f"/fhir/CodeSystem/$validate-code?url={ICD}&code={code}")
    assert params(r.json)["result"] == [False]


def test_seventh_character_code_lookup(full_client: Any) -> None:
    r = full_client.get(f"{LOOKUP}&code=S72.001A")
    p, props = params(r.json), properties(r.json)
    assert p["display"] == [
        "Fracture of unspecified part of neck of right femur, initial encounter for closed fracture"
    ]
    assert [x["value"] for x in props["parent"]] == ["S72.001"]
    assert props["block"][0]["value"] == "S70-S79"


def test_code_system_read_leaves_out_concepts(full_client: Any) -> None:
    r = full_client.get("/fhir/CodeSystem/icd10cm")
    assert r.status_code == 200
    assert "concept" not in r.json and r.json["count"] == 98_186
    assert r.json["meta"]["tag"][0]["code"] == "SUBSETTED"
    parse_r4(r.json)


@pytest.mark.parametrize("typed", ["m99.44", "M9944", "M99.44 ", "m9944"])
def test_suggestions_on_the_full_release(full_client: Any, typed: str) -> None:
    r = full_client.get(f"{LOOKUP}&code={typed}")
    assert r.status_code == 404
    assert "did you mean 'M99.44'" in r.json["issue"][0]["details"]["text"]
