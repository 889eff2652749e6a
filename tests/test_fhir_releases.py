"""FHIR core content per FHIR release: an R4 endpoint serves R4's code systems and value
sets (administrative-gender|4.0.1), an R5 endpoint R5's (|5.0.0); the rest is shared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirterm.config import Settings
from fhirterm.loading import load_registry
from fhirterm.web import create_app

from .fhir_models import params

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER = "http://hl7.org/fhir/administrative-gender"


@pytest.mark.parametrize(("base", "version"), [("fhir", "4.0.1"), ("r4", "4.0.1"), ("r5", "5.0.0")])
def test_each_endpoint_serves_its_release(full_client: Any, base: str, version: str) -> None:
    r = full_client.get(f"/{base}/ValueSet/$expand?url={GENDER_VS}")
    assert r.status_code == 200
    assert params_of(r.json)["used-codesystem"] == [f"{GENDER}|{version}"]
    assert r.json["version"] == version
    r = full_client.get(f"/{base}/CodeSystem/$lookup?system={GENDER}&code=male")
    assert params(r.json)["version"] == [version]
    assert full_client.get(f"/{base}/ValueSet/administrative-gender").json["version"] == version
    found = full_client.get(f"/{base}/CodeSystem?url={GENDER}").json["entry"]
    assert [e["resource"]["version"] for e in found] == [version]
    # the other release's version is not there
    other = "5.0.0" if version == "4.0.1" else "4.0.1"
    r = full_client.get(f"/{base}/CodeSystem/$lookup?system={GENDER}&code=male&version={other}")
    assert r.status_code == 404


def params_of(vs: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for p in vs["expansion"]["parameter"]:
        out.setdefault(p["name"], []).append(next(v for k, v in p.items() if k != "name"))
    return out


def test_release_folders_anywhere_and_shared_content(tmp_path: Path) -> None:
    def cs(url: str, version: str) -> dict[str, Any]:
        return {
            "resourceType": "CodeSystem",
            "id": "x",
            "url": url,
            "version": version,
            "status": "active",
            "content": "complete",
            "concept": [{"code": "a", "display": version}],
        }

    for folder, res in (
        ("core/r4", cs("http://t/core", "4.0.1")),
        ("core/r5", cs("http://t/core", "5.0.0")),
        ("local", cs("http://t/local", "1")),
    ):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "cs.json").write_text(json.dumps(res))
    settings = Settings(content_dir=tmp_path, icd10cm=(), cache_dir=None)
    reg = load_registry(settings)
    assert reg.versions("http://t/core") == []  # not shared
    assert reg.edition("r4").versions("http://t/core") == ["4.0.1"]
    assert reg.edition("r5").versions("http://t/core") == ["5.0.0"]
    assert reg.edition("r4").versions("http://t/local") == ["1"]
    assert reg.edition("r5").versions("http://t/local") == ["1"]
    client = create_app(settings, reg).test_client()
    for base, version in (("r4", "4.0.1"), ("r5", "5.0.0")):
        r = client.get(f"/{base}/CodeSystem/$lookup?system=http://t/core&code=a")
        assert params(r.json)["display"] == [version]
