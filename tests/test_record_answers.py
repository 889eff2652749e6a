"""scripts/record_answers.py on the small release: recordings, scrubs, and the comparison.

The full recording (the conformance suite and the ICD-10-CM set over the full
release) takes minutes and is run by hand (docs/development.md); these tests
record a handful of requests in process and compare them.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from fhirterm.registry import Registry
from fhirterm.web.app import create_wsgi

from . import live
from .conftest import ICD, REPO, small_settings


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "record_answers", REPO / "scripts" / "record_answers.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


ra = _load_script()

EXPAND_VS = {
    "resourceType": "ValueSet",
    "status": "active",
    "compose": {
        "include": [
            {"system": ICD, "filter": [{"property": "concept", "op": "is-a", "value": "M99"}]}
        ]
    },
}


def _requests() -> list[Any]:
    q = ra.urlencode
    return [
        ra.Request("GET", "/fhir/CodeSystem/$lookup", q([("system", ICD), ("code", "M99.44")])),
        ra.Request("GET", "/r5/CodeSystem/$lookup", q([("system", ICD), ("code", "m99.44")])),
        ra.Request(
            "GET", "/fhir/ValueSet/$expand", q([("url", f"{ICD}?fhir_vs=isa/M99"), ("count", "3")])
        ),
        ra.Request(
            "GET", "/r5/ValueSet/$expand", q([("url", f"{ICD}?fhir_vs"), ("_format", "xml")])
        ),
        ra.Request(
            "POST",
            "/r5/ValueSet/$expand",
            "",
            json.dumps(
                {
                    "resourceType": "Parameters",
                    "parameter": [{"name": "valueSet", "resource": EXPAND_VS}],
                }
            ).encode(),
            {"Content-Type": "application/fhir+json"},
        ),
        ra.Request("GET", "/r5/metadata"),
        ra.Request("GET", "/fhir/metadata", "mode=terminology"),
    ]


@pytest.fixture(scope="module")
def small_wsgi(small_registry: Registry) -> Any:
    return create_wsgi(small_settings(), small_registry)


def _lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as f:
        return [json.loads(x) for x in f]


def _rewrite(path: Path, lines: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wb") as f:
        f.writelines(json.dumps(x).encode() + b"\n" for x in lines)


def test_two_recordings_of_one_commit_agree_after_the_scrubs(
    small_wsgi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    ra.write(a, small_wsgi, _requests())
    ra.write(b, small_wsgi, _requests())
    assert ra.compare(a, b, show=5) == 0
    assert "0 of 7 answers differ" in capsys.readouterr().out
    # Without the scrubs the expansions differ (each has its own urn:uuid identifier):
    # the scrubs are needed, and they are all that makes the two agree.
    assert ra.compare(a, b, show=0, raw=True) == 1
    raw_diff = ra.differences(ra.read(a)[1], ra.read(b)[1], raw=True)
    assert raw_diff == [2, 3, 4]


def test_a_changed_message_is_shown_with_its_request(
    small_wsgi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    ra.write(a, small_wsgi, _requests())
    lines = _lines(a)
    assert "Unknown code 'm99.44'" in lines[2]["response"]
    lines[2]["response"] = lines[2]["response"].replace("Unknown code", "No such code")
    lines[1]["status"] = 201
    _rewrite(b, lines)
    assert ra.compare(a, b, show=5) == 1
    out = capsys.readouterr().out
    assert "2 of 7 answers differ" in out
    assert "#0 GET /fhir/CodeSystem/$lookup?system=" in out
    assert "status/Content-Type: 200 application/fhir+json; charset=utf-8 -> 201" in out
    assert "#1 GET /r5/CodeSystem/$lookup?system=http%3A%2F%2Fhl7.org" in out
    diff = out.splitlines()
    assert any(x.startswith("-") and "\"Unknown code 'm99.44'" in x for x in diff)
    assert any(x.startswith("+") and "\"No such code 'm99.44'" in x for x in diff)


def test_recordings_of_other_requests_are_not_compared(small_wsgi: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    ra.write(a, small_wsgi, _requests())
    ra.write(b, small_wsgi, _requests()[:-1])
    assert ra.compare(a, b, show=5) == 2


def test_the_icd_requests_are_fixed_by_the_codes_and_the_seed(small_wsgi: Any) -> None:
    codes = ra.release_codes(small_wsgi)
    assert len(codes) > 20 and codes == sorted(codes, key=lambda c: c.code)
    first = ra.icd_requests(codes)
    assert first == ra.icd_requests(codes)
    assert first != ra.icd_requests(codes, seed=ra.SEED + 1)
    kinds = {r.source.split()[1] for r in first}
    assert {"lookup", "cs-validate", "vs-validate", "expand", "subsumes", "translate"} <= kinds


@pytest.mark.server
def test_in_process_answers_are_the_bytes_served_over_http(small_wsgi: Any, tmp_path: Path) -> None:
    """The recorder's in-process call gives the body and Content-Type a real server sends
    (with the same base address: `fhirterm serve` makes its own from its port otherwise)."""
    base = {"FHIRTERM_BASE_URL": small_settings().base_url}
    with live.start(base) as server, requests.Session() as s:
        for req in _requests():
            url = f"{server.root}{req.path}" + (f"?{req.query}" if req.query else "")
            r = s.request(req.method, url, data=req.body, headers=req.headers)
            status, ctype, body = ra.call(small_wsgi, req)
            assert (r.status_code, r.headers["Content-Type"]) == (status, ctype), url
            assert ra.scrub(r.content) == ra.scrub(body), url
