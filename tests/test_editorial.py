"""The editorial layer: format validation (errors name file and field) and application."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fhirterm.errors import ContentError
from fhirterm.loading import load_registry
from fhirterm.registry import Registry

from .conftest import ICD, SMALL_CONTENT, small_settings

GOOD = (SMALL_CONTENT / "editorial" / "m99.toml").read_text()


def load_with(tmp_path: Path, text: str) -> Registry:
    content = tmp_path / "content"
    shutil.copytree(SMALL_CONTENT, content)
    (content / "editorial" / "m99.toml").write_text(text)
    from dataclasses import replace

    return load_registry(replace(small_settings(), content_dir=content))


def test_applied_as_properties(small_registry: Registry) -> None:
    c = small_registry.code_system(ICD).concepts["M99.44"]
    by = {}
    for p in c.properties:
        by.setdefault(p.code, []).append(p)
    assert c.definition == "Test definition: soft tissue narrows the sacral canal."
    assert [p.value for p in by["region"]] == ["Spine"]
    assert len(by["documentation-tip"]) == 2 and len(by["coding-pitfall"]) == 2
    assert by["verified"][0].value == "2026-05-08" and by["verified"][0].type == "dateTime"
    faq = by["faq"][0]
    assert [(s.code, s.value) for s in faq.sub] == [
        ("question", "Does it need a 7th character?"),
        ("answer", "No."),
    ]
    src = by["source"][1]
    assert {s.code: s.value for s in src.sub}["url"].startswith("https://www.cms.gov/")
    prov = {p.value: p for p in by["provenance"]}
    assert set(prov) == {
        "definition",
        "documentation-tip",
        "coding-pitfall",
        "clinical-context",
        "faq",
    }
    assert [s.value for s in prov["coding-pitfall"].sub if s.code == "source"] == [
        "cdc",
        "cms-ortho",
    ]


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ('code = "M99.44"', 'code = "M99.99"', "concept[M99.99].code", "not a code"),
        (
            "verified = 2026-05-08",
            'verified = "08/05/2026"',
            "concept[M99.44].verified",
            "ISO 8601",
        ),
        (
            "verified = 2026-05-08",
            'verified = "2026-13-40"',
            "concept[M99.44].verified",
            "ISO 8601",
        ),
        (
            'sources = ["cdc", "cms-ortho"]\n\n[concept.definition]',
            'sources = ["cdc", "nowhere"]\n\n[concept.definition]',
            "concept[M99.44].sources",
            "not declared",
        ),
        (
            'provenance = "Test summary"\n',
            "",
            "concept[M99.44].clinical-context.provenance",
            "required",
        ),
        (
            'url = "https://www.cdc.gov/nchs/icd/icd-10-cm/files.html"',
            'url = "cdc.gov"',
            "sources.cdc.url",
            "absolute",
        ),
        ('title = "CDC ICD-10-CM files"\n', "", "sources.cdc.title", "required"),
        (
            '"Foramina code to M99.74."',
            '"Foramina code to M99.77."',
            "concept[M99.44].coding-pitfall.items[1]",
            "'M99.77'",
        ),
        (
            'region = "Spine"',
            'region = "Spine"\ncolour = "red"',
            "concept[M99.44].colour",
            "unknown key",
        ),
        ('format = "fhirterm-editorial/1"', 'format = "v2"', "format", "must be"),
    ],
)
def test_invalid_content_stops_the_load(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    assert old in GOOD
    with pytest.raises(ContentError) as e:
        load_with(tmp_path, GOOD.replace(old, new, 1))
    assert e.value.field == field
    assert words in e.value.message
    assert e.value.source.endswith("m99.toml")


def test_check_command_fails_on_invalid_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fhirterm.cli import main

    content = tmp_path / "content"
    shutil.copytree(SMALL_CONTENT, content)
    (content / "editorial" / "m99.toml").write_text(
        GOOD.replace('code = "M99.44"', 'code = "Q99.99"')
    )
    import os

    os.environ["FHIRTERM_CACHE_DIR"] = "off"
    try:
        rc = main(
            [
                "check",
                "--content-dir",
                str(content),
                "--icd10cm",
                str(SMALL_CONTENT.parent / "tabular-small.xml"),
            ]
        )
        assert rc == 1
        assert "Q99.99" in capsys.readouterr().err
        (content / "editorial" / "m99.toml").write_text(GOOD)
        assert (
            main(
                [
                    "check",
                    "--content-dir",
                    str(content),
                    "--icd10cm",
                    str(SMALL_CONTENT.parent / "tabular-small.xml"),
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "27 concepts, 15 selectable, 12 not selectable, 1 with editorial content" in out
    finally:
        for k in ("FHIRTERM_CACHE_DIR", "FHIRTERM_CONTENT_DIR", "FHIRTERM_ICD10CM"):
            os.environ.pop(k, None)
