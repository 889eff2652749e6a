"""Checks of the generated M99 editorial content, CPT fragment and ConceptMap.

Standard library (tomllib, json) and pytest only; nothing from `fhirterm` is
imported, so these tests judge the content files as the server will read them.
The outputs are made by `python editorial/build.py` (see editorial/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "editorial" / "build.py"
EDITORIAL = ROOT / "codesystems" / "editorial" / "icd10cm-m99.toml"
CPT = ROOT / "codesystems" / "cpt.json"
CONCEPTMAP = ROOT / "codesystems" / "conceptmap-icd10cm-cpt.json"

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_URL = "http://www.ama-assn.org/go/cpt"
LINK_SOURCE = "http://fhirterm.org/fhir/StructureDefinition/link-source"
SECTIONS = ["definition", "documentation-tip", "coding-pitfall", "clinical-context", "faq"]
SECTION_KEYS = {
    "definition": {"provenance", "sources", "text"},
    "documentation-tip": {"provenance", "sources", "items"},
    "coding-pitfall": {"provenance", "sources", "items"},
    "clinical-context": {"provenance", "sources", "text"},
    "faq": {"provenance", "sources", "items"},
}
CONCEPT_KEYS = {"code", "verified", "region", "sources", *SECTIONS}
REGIONS = {
    "Head",
    "Spine",
    "Pelvis",
    "Lower extremity",
    "Upper extremity",
    "Rib cage",
    "Abdomen",
    "Unspecified",
}
REGION_BY_CHAR = {
    "0": "Head",
    "1": "Spine",
    "2": "Spine",
    "3": "Spine",
    "4": "Spine",
    "5": "Pelvis",
    "6": "Lower extremity",
    "7": "Upper extremity",
    "8": "Rib cage",
    "9": "Abdomen",
}
BILLABLE_M99 = [f"M99.{lc}{r}" for lc in "012345678" for r in "0123456789"] + ["M99.9"]
CODE_PATTERN = re.compile(r"\b[A-Z][0-9][0-9A-Z](?:\.[0-9A-Za-z]{1,4})?\b")
M99_PATTERN = re.compile(r"\bM99(?:\.[0-9]{1,2})?\b")

# What the reference page for M99.44 shows (seed 000_68ce2b88433da150).
M99_44_QUESTIONS = [
    "What distinguishes M99.44 from M99.34?",
    "Can M99.44 be used as a primary diagnosis for surgical decompression?",
    "Is M99.44 valid for chiropractic and OMT billing?",
    "What is the difference between M99.44 and M99.74?",
    "Does M99.44 require a 7th character?",
    "Should I code M99.44 alongside a lumbar stenosis code if both levels are affected?",
    "What imaging supports M99.44 in an audit?",
]
M99_44_SOURCE_URLS = [
    "https://www.cdc.gov/nchs/icd/icd-10-cm/files.html",
    "https://www.icd10data.com/ICD10CM/Codes/M00-M99/M99-M99/M99-/M99.4",
    "https://www.cms.gov/medicare/coding/icd10/downloads/icd10clinicalconceptsorthopedics1.pdf",
    "https://www.cms.gov/Medicare/Coding/ICD10/Downloads/2019-ICD10-Coding-Guidelines-.pdf",
    "https://vsac.nlm.nih.gov/context/cs/codesystem/ICD10CM/version/2020/code/M99.44/info",
]


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def editorial() -> dict:
    with EDITORIAL.open("rb") as handle:
        return tomllib.load(handle)


@pytest.fixture(scope="module")
def concepts(editorial) -> dict:
    return {c["code"]: c for c in editorial["concept"]}


@pytest.fixture(scope="module")
def conceptmap() -> dict:
    return json.loads(CONCEPTMAP.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def elements(conceptmap) -> dict:
    return {e["code"]: e for e in conceptmap["group"][0]["element"]}


@pytest.fixture(scope="module")
def cpt() -> dict:
    return json.loads(CPT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tabular() -> dict:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    paths = (
        [
            Path(p) / "data" / "icd10c-tabular-April-1-2026.xml"
            for p in (spec.submodule_search_locations or [])
        ]
        if spec
        else []
    )
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        pytest.skip("ICD-10-CM April 1 2026 tabular XML (simple-icd-10-cm) not installed")
    root = ET.parse(path).getroot()
    codes = {
        d.findtext("name"): {"title": d.findtext("desc"), "billable": d.find("diag") is None}
        for d in root.iter("diag")
    }
    for section in root.iter("section"):
        codes.setdefault(section.get("id"), {"title": section.findtext("desc"), "billable": False})
    return codes


def run_build(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "editorial" / "build.py"), *args],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )


def copy_project(tmp_path: Path) -> Path:
    for name in ("editorial", "codesystems"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def section_texts(concept: dict) -> list[str]:
    out = []
    for section in SECTIONS:
        body = concept[section]
        out.append(body["provenance"])
        if "text" in body:
            out.append(body["text"])
        for item in body.get("items", []):
            out.extend(item.values() if isinstance(item, dict) else [item])
    return out


def paragraphs(text: str) -> list[str]:
    return [p for p in text.strip().split("\n\n") if p.strip()]


# ---------------------------------------------------------- the pipeline


def test_committed_outputs_are_up_to_date():
    result = run_build(ROOT, "--check")
    assert result.returncode == 0, result.stderr


def test_check_detects_a_stale_output(tmp_path):
    root = copy_project(tmp_path)
    path = root / "codesystems" / "cpt.json"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Manual therapy", "Manual therapies"),
        encoding="utf-8",
    )
    result = run_build(root, "--check")
    assert result.returncode == 1
    assert "cpt.json" in result.stderr


def test_a_changed_fact_changes_the_outputs(tmp_path):
    root = copy_project(tmp_path)
    regions = root / "editorial" / "facts" / "regions.toml"
    text = regions.read_text(encoding="utf-8")
    assert 'laminectomy = "63011"' in text
    regions.write_text(text.replace('laminectomy = "63011"\n', ""), encoding="utf-8")
    assert run_build(root, "--check").returncode == 1
    assert run_build(root).returncode == 0
    cmap = json.loads((root / "codesystems" / "conceptmap-icd10cm-cpt.json").read_text("utf-8"))
    m99_34 = next(e for e in cmap["group"][0]["element"] if e["code"] == "M99.34")
    assert "63011" not in {t["code"] for t in m99_34["target"]}
    fragment = json.loads((root / "codesystems" / "cpt.json").read_text("utf-8"))
    assert "63011" not in {c["code"] for c in fragment["concept"]}


def test_rebuild_is_byte_identical(tmp_path):
    root = copy_project(tmp_path)
    for out in ("editorial/icd10cm-m99.toml", "cpt.json", "conceptmap-icd10cm-cpt.json"):
        (root / "codesystems" / out).unlink()
    assert run_build(root).returncode == 0
    first = {
        p: (root / "codesystems" / p).read_bytes()
        for p in ("editorial/icd10cm-m99.toml", "cpt.json", "conceptmap-icd10cm-cpt.json")
    }
    assert run_build(root).returncode == 0
    for p, data in first.items():
        assert (root / "codesystems" / p).read_bytes() == data, p
        assert (ROOT / "codesystems" / p).read_bytes() == data, p


# ------------------------------------------------------ editorial content


def test_file_header_and_keys(editorial):
    assert editorial["format"] == "fhirterm-editorial/1"
    assert editorial["system"] == ICD10CM
    assert set(editorial) <= {"format", "system", "version", "sources", "concept"}
    for concept in editorial["concept"]:
        assert set(concept) <= CONCEPT_KEYS, concept["code"]
        for section in SECTIONS:
            assert set(concept[section]) <= SECTION_KEYS[section], (concept["code"], section)


def test_all_91_billable_codes_once(editorial):
    codes = [c["code"] for c in editorial["concept"]]
    assert len(codes) == len(set(codes))
    assert sorted(codes) == sorted(BILLABLE_M99)
    assert len(codes) == 91


def test_codes_are_billable_icd10cm(tabular):
    for code in BILLABLE_M99:
        assert code in tabular and tabular[code]["billable"], code
    assert not tabular["M99.4"]["billable"]


@pytest.mark.parametrize("code", BILLABLE_M99)
def test_every_code_is_complete(concepts, elements, code):
    c = concepts[code]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(c["verified"]))
    assert str(c["verified"]) == "2026-05-08"
    assert c["region"] in REGIONS
    expected_region = "Unspecified" if code == "M99.9" else REGION_BY_CHAR[code[-1]]
    assert c["region"] == expected_region
    assert len(c["sources"]) >= 2
    for section in SECTIONS:
        body = c[section]
        assert body["provenance"].strip(), section
        assert body["sources"], section
        assert set(body["sources"]) <= set(c["sources"]), section
    official = elements[code]["display"]
    assert len(c["definition"]["text"]) > len(official)
    assert len(c["documentation-tip"]["items"]) >= 3
    assert all(t.strip() for t in c["documentation-tip"]["items"])
    assert len(c["coding-pitfall"]["items"]) >= 2
    assert len(paragraphs(c["clinical-context"]["text"])) >= 2
    faq = c["faq"]["items"]
    assert len(faq) >= 3
    assert all(item["question"].strip().endswith("?") and item["answer"].strip() for item in faq)
    assert len({item["question"] for item in faq}) == len(faq)


@pytest.mark.parametrize("code", BILLABLE_M99)
def test_pitfalls_name_confusable_neighbours(concepts, code):
    named = set()
    for item in concepts[code]["coding-pitfall"]["items"]:
        named |= set(M99_PATTERN.findall(item))
    named.discard(code)
    assert len(named) >= 2, named
    if code != "M99.9":
        lesion, region = code[4], code[5]
        parent = f"M99.{lesion}"
        assert parent in named, "the non-billable parent is named"
        other_mechanism = {f"M99.{lc}{region}" for lc in "012345678" if lc != lesion}
        assert named & other_mechanism, "a same-region code with another lesion type is named"


@pytest.mark.parametrize(
    "lesion,counterparts",
    [("2", "6"), ("3", "6"), ("4", "7"), ("5", "7"), ("6", "23"), ("7", "45")],
)
def test_canal_and_foramina_codes_name_each_other(concepts, lesion, counterparts):
    for region in "0123456789":
        code = f"M99.{lesion}{region}"
        text = " ".join(concepts[code]["coding-pitfall"]["items"])
        for other in counterparts:
            assert f"M99.{other}{region}" in text, code


def test_texts_cite_only_existing_icd10cm_codes(concepts, tabular):
    for code, concept in concepts.items():
        for text in section_texts(concept):
            for cited in CODE_PATTERN.findall(text):
                assert cited in tabular, f"{code} cites {cited}"


def test_sources_declared_with_https_addresses(editorial):
    declared = editorial["sources"]
    for sid, source in declared.items():
        assert source["title"].strip(), sid
        assert source["url"].startswith("https://"), sid
        assert set(source) == {"title", "url"}, sid
    cited = set()
    for concept in editorial["concept"]:
        cited |= set(concept["sources"])
        for section in SECTIONS:
            cited |= set(concept[section]["sources"])
    assert cited <= set(declared), cited - set(declared)
    assert set(declared) <= cited, "declared but never cited"


def test_provenance_counts_match_sources(concepts):
    for code, concept in concepts.items():
        for section in SECTIONS:
            match = re.search(r"(\d+) cited reference", concept[section]["provenance"])
            if match:
                assert int(match.group(1)) == len(concept[section]["sources"]), (code, section)


# ------------------------------------------------------------------ M99.44


def test_m99_44_matches_the_reference_page(editorial, concepts):
    c = concepts["M99.44"]
    assert c["region"] == "Spine"
    assert str(c["verified"]) == "2026-05-08"
    assert len(c["documentation-tip"]["items"]) == 5
    assert len(c["coding-pitfall"]["items"]) == 4
    assert len(paragraphs(c["clinical-context"]["text"])) == 3
    assert [i["question"] for i in c["faq"]["items"]] == M99_44_QUESTIONS
    assert all(len(i["answer"]) > 80 for i in c["faq"]["items"])
    assert len(c["sources"]) == 5
    assert [editorial["sources"][s]["url"] for s in c["sources"]] == M99_44_SOURCE_URLS
    for section in SECTIONS:
        assert set(c[section]["sources"]) <= set(c["sources"]), section


def test_m99_44_pitfalls_name_the_seed_confusions(concepts):
    items = concepts["M99.44"]["coding-pitfall"]["items"]
    assert any("M99.34" in i for i in items)
    assert any("M99.74" in i for i in items)
    assert any(re.search(r"\bM99\.4\b", i) for i in items)
    assert any("M47.816" in i and "M51.17" in i for i in items)


def test_m99_44_is_hand_written_not_generated(concepts):
    generated_opening = "Narrowing (stenosis) of the neural canal, the channel formed"
    assert not concepts["M99.44"]["definition"]["text"].startswith(generated_opening)
    assert concepts["M99.34"]["definition"]["text"].startswith(generated_opening)


# --------------------------------------------------------------- ConceptMap


def test_conceptmap_header(conceptmap):
    assert conceptmap["resourceType"] == "ConceptMap"
    assert conceptmap["id"] == "icd10cm-to-cpt"
    assert conceptmap["url"] == "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"
    assert conceptmap["status"] == "active"
    assert conceptmap["sourceUri"] == ICD10CM + "?fhir_vs"
    assert conceptmap["targetUri"] == CPT_URL + "?fhir_vs"
    assert len(conceptmap["group"]) == 1
    group = conceptmap["group"][0]
    assert group["source"] == ICD10CM
    assert group["sourceVersion"] == "2026"
    assert group["target"] == CPT_URL


def test_conceptmap_has_one_element_per_billable_code(conceptmap, tabular):
    element_list = conceptmap["group"][0]["element"]
    assert len(element_list) == 91
    assert sorted(e["code"] for e in element_list) == sorted(BILLABLE_M99)
    for element in element_list:
        assert element["display"] == tabular[element["code"]]["title"]


def test_conceptmap_targets_are_explained_and_sourced(conceptmap, editorial):
    urls = {s["url"] for s in editorial["sources"].values()}
    for element in conceptmap["group"][0]["element"]:
        assert element["target"], element["code"]
        codes = [t["code"] for t in element["target"]]
        assert len(codes) == len(set(codes)), element["code"]
        for target in element["target"]:
            assert target["equivalence"] == "relatedto"
            assert target["display"].strip()
            assert len(target["comment"]) > 40
            links = [x for x in target["extension"] if x["url"] == LINK_SOURCE]
            assert len(links) == 1
            assert links[0]["valueUri"].startswith("https://")
            assert links[0]["valueUri"] in urls


def test_conceptmap_comments_say_why(elements):
    for code, element in elements.items():
        for target in element["target"]:
            comment = target["comment"]
            if target["code"].startswith("989"):
                assert "region" in comment, (code, target["code"])
    m99_44 = {t["code"]: t["comment"] for t in elements["M99.44"]["target"]}
    assert "body regions" in m99_44["98925"]
    assert "spinal regions" in m99_44["98940"]
    assert "Decompression" in m99_44["63011"]


def test_m99_44_has_seven_related_procedures(elements):
    targets = [t["code"] for t in elements["M99.44"]["target"]]
    assert len(targets) == 7
    assert {"98925", "98940", "72148", "62323", "64483", "63011"} <= set(targets)


def test_region_specific_procedures_follow_the_region(elements):
    lumbar = {t["code"] for t in elements["M99.43"]["target"]}
    cervical = {t["code"] for t in elements["M99.41"]["target"]}
    assert {"72148", "62323", "63005"} <= lumbar and not lumbar & {"72141", "63001"}
    assert {"72141", "62321", "63001"} <= cervical and not cervical & {"72148", "63005"}
    leg = {t["code"] for t in elements["M99.46"]["target"]}
    assert "98943" in leg and "98940" not in leg


# ------------------------------------------------------------ CPT fragment


def test_cpt_fragment_header(cpt):
    assert cpt["resourceType"] == "CodeSystem"
    assert cpt["id"] == "cpt"
    assert cpt["url"] == CPT_URL
    assert cpt["name"] == "CPT"
    assert cpt["status"] == "active"
    assert cpt["content"] == "fragment"
    assert cpt["caseSensitive"] is True
    assert cpt["version"]
    assert "American Medical Association" in cpt["copyright"]
    assert "registered trademark" in cpt["copyright"]


def test_cpt_fragment_holds_exactly_the_codes_used(cpt, conceptmap):
    fragment = {c["code"]: c["display"] for c in cpt["concept"]}
    used = {}
    for element in conceptmap["group"][0]["element"]:
        for target in element["target"]:
            used[target["code"]] = target["display"]
    assert set(fragment) == set(used)
    for code, display in used.items():
        assert fragment[code] == display, code
        assert re.fullmatch(r"\d{5}", code)


def test_cpt_descriptions_are_short(cpt):
    for concept in cpt["concept"]:
        assert 0 < len(concept["display"]) <= 90, concept["code"]
        assert set(concept) == {"code", "display"}
