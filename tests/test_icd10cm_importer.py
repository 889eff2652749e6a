"""The ICD-10-CM importer, on a hand-made release and on the full April 2026 release."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fhirterm.errors import ContentError
from fhirterm.index import CodeSystemIndex
from fhirterm.providers import icd10cm
from fhirterm.registry import Registry

from .conftest import ICD, SMALL_XML


@pytest.fixture(scope="module")
def small() -> CodeSystemIndex:
    return icd10cm.load(str(SMALL_XML))


def props(ix: CodeSystemIndex, code: str, name: str) -> list[object]:
    return [p.value for p in ix.concepts[code].properties if p.code == name]


def test_small_counts(small: CodeSystemIndex) -> None:
    billable = [c for c in small.concepts.values() if not c.children]
    assert len(small.concepts) == 27
    assert small.info.extra["seventh_character_codes"] == 9
    assert len(billable) == 15
    assert small.info.version == "2099"
    assert small.info.url == ICD


def test_seventh_character_padding_and_display(small: CodeSystemIndex) -> None:
    # T07 has no 4th-6th characters: padded with X to six, then the 7th.
    t = small.concepts["T07.XXXA"]
    assert t.display == "Unspecified multiple injuries, initial encounter"
    assert t.parents == ("T07",)
    assert small.concepts["T07"].abstract
    assert small.concepts["T07"].children == ("T07.XXXA", "T07.XXXD", "T07.XXXS")
    # a label followed by an inclusion note in the XML: only the label counts
    assert (
        small.concepts["S06.0X1S"].display
        == "Concussion with loss of consciousness of 30 minutes or less, sequela"
    )


def test_seventh_character_restriction_note(small: CodeSystemIndex) -> None:
    # "7th characters D and S do not apply ... with 6th character 7"
    assert "S06.0X7A" in small.concepts
    assert "S06.0X7D" not in small.concepts
    assert "S06.0X7S" not in small.concepts
    assert {"S06.0X1A", "S06.0X1D", "S06.0X1S"} <= set(small.concepts)


def test_subcategory_overrides_seventh_characters(small: CodeSystemIndex) -> None:
    assert small.concepts["S06.9"].children == ("S06.9XXA", "S06.9XXS")
    assert "S06.9XXD" not in small.concepts
    assert props(small, "S06.9", "seventh-character") == ["A", "S"]


def test_headers_and_billable(small: CodeSystemIndex) -> None:
    assert props(small, "M99.4", "billable") == [False]
    assert props(small, "M99.4", "notSelectable") == [True]
    assert props(small, "M99.44", "billable") == [True]
    assert not small.concepts["M99.44"].abstract


def test_chapter_and_block_are_groupings_not_codes(small: CodeSystemIndex) -> None:
    assert "13" not in small.concepts and "M99-M99" not in small.concepts
    assert small.groupings["13"].kind == "chapter"
    # a block whose XML id equals its only category keeps the kinds apart
    assert small.groupings["M99-M99"].kind == "block"
    c = small.concepts["M99.44"]
    chapter = next(p for p in c.properties if p.code == "chapter")
    block = next(p for p in c.properties if p.code == "block")
    assert (chapter.value, block.value) == ("13", "M99-M99")
    assert block.description == "Biomechanical lesions, not elsewhere classified"
    assert (
        next(p for p in small.concepts["T07.XXXA"].properties if p.code == "block").value
        == "T07-T07"
    )


def test_notes_with_machine_readable_references(small: CodeSystemIndex) -> None:
    ex2 = [p for p in small.concepts["M99.4"].properties if p.code == "excludes2"]
    assert [p.value for p in ex2] == ["spondylolisthesis (M43.1-)", "other dorsopathies (M40-M43)"]
    assert [(s.code, s.value) for s in ex2[0].sub] == [("reference", "M43.1")]
    assert [(s.code, s.value) for s in ex2[1].sub] == [("reference-range", "M40-M43")]
    also = next(p for p in small.concepts["S06"].properties if p.code == "code-also")
    assert [(s.code, s.value) for s in also.sub] == [("reference", "S02")]
    assert props(small, "M99", "note") == [
        "This category should not be used if the condition can be classified elsewhere."
    ]


def test_inclusion_terms_are_designations(small: CodeSystemIndex) -> None:
    c = small.concepts["M99.4"]
    assert props(small, "M99.4", "inclusion-term") == ["Ligamentous canal narrowing"]
    assert [d.value for d in c.designations] == ["Ligamentous canal narrowing"]


def test_zip_and_version_override(tmp_path: Path) -> None:
    z = tmp_path / "icd10cm-table-index-April-1-2099.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(SMALL_XML, "icd10cm-tabular-April-1-2099.xml")
    ix = icd10cm.load(f"{z}#2099-april")
    assert ix.info.version == "2099-april"
    assert ix.info.date == "2099-04-01"
    assert len(ix.concepts) == 27


@pytest.mark.parametrize(
    "content, field",
    [
        ("<notxml", "xml"),
        ("<?xml version='1.0'?><other/>", "root"),
        ("<?xml version='1.0'?><ICD10CM.tabular></ICD10CM.tabular>", "version"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, content: str, field: str) -> None:
    p = tmp_path / "bad.xml"
    p.write_text(content)
    with pytest.raises(ContentError) as e:
        icd10cm.load(str(p))
    assert e.value.field == field and str(p) in str(e.value)


@pytest.mark.full
def test_full_release_counts(full_registry: Registry) -> None:
    ix = full_registry.code_system(ICD)
    codes = ix.concepts
    billable = sum(1 for c in codes.values() if not c.children)
    assert ix.info.version == "2026"
    assert len(codes) == 98_186
    assert billable == 74_719
    assert len(codes) - billable == 23_467
    assert ix.info.extra["seventh_character_codes"] == 51_305
    assert sum(1 for g in ix.groupings.values() if g.kind == "chapter") == 22
    assert sum(1 for g in ix.groupings.values() if g.kind == "block") == 297


@pytest.mark.full
def test_full_release_specific_codes(full_registry: Registry) -> None:
    ix = full_registry.code_system(ICD)
    assert ix.concepts["T07.XXXA"].display == "Unspecified multiple injuries, initial encounter"
    assert ix.concepts["T07"].abstract
    assert not ix.concepts["H54.0X33"].children  # a plain 7-character code in the XML
    # S06: 7th characters D and S do not apply with 6th character 7 or 8
    s06 = [c for c in ix.concepts if c.startswith("S06.") and len(c) == 8]
    assert not [c for c in s06 if c[6] in "78" and c[7] in "DS"]
    assert any(c[6] in "78" and c[7] == "A" for c in s06)
    assert (
        ix.concepts["M99.44"].display
        == "Connective tissue stenosis of neural canal of sacral region"
    )
    assert ix.concepts["M99.4"].abstract
    assert ix.groupings["M99-M99"].kind == "block"
