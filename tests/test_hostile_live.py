"""Hostile input against a live server: what each request costs a worker.

A real ``fhirterm serve`` with two workers and the full content, on a free
loopback port. For each kind of hostile input (all within the body limit), the
requests are sent one at a time; after each, every worker's PSS
(``/proc/<pid>/smaps_rollup``) and CPU time (``/proc/<pid>/stat``) are read.
Target: no input raises a worker's PSS by more than 50 MB after the request,
or takes more than 2 s of CPU; larger work is refused (422 too-costly).

Slow (about two minutes): run with ``pytest -m hostile_slow tests/test_hostile_live.py -s``,
which prints the table docs/hostile.md quotes. Skipped unless the marker is selected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import requests

from fhirterm.wire import xml as wxml

from . import live
from .bench_scripts import load_script
from .conftest import ICD, full_release
from .test_hostile import SUPPLEMENT, SUPPLEMENTED_VS, code_system, regex_vs

pytestmark = [pytest.mark.hostile_slow, pytest.mark.server]

PSS_LIMIT_MB = 50.0
CPU_LIMIT_S = 2.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(autouse=True)
def _only_when_selected(request: pytest.FixtureRequest) -> None:
    if "hostile_slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m hostile_slow")


def worker_pids(server: live.Server) -> list[int]:
    """The worker processes of a running server (its children)."""
    pid = server.proc.pid
    return [p for p in load_script("bench").descendants(pid) if p != pid]


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no Pss in /proc/{pid}/smaps_rollup")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


@pytest.fixture(scope="module")
@full_release
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.Server]:
    with live.start(full=True, workers=2, cache=tmp_path_factory.mktemp("cache")) as srv:
        # both workers answer something first (a first request loads lazily built parts)
        for _ in range(20):
            requests.get(f"{srv.base}/CodeSystem/$lookup?system={ICD}&code=M99.44", timeout=10)
        yield srv


def parameters(*params: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceType": "Parameters", "parameter": list(params)})


def codings(n: int) -> dict[str, Any]:
    return {"coding": [{"system": ICD, "code": f"M99.{i % 100:02d}"} for i in range(n)]}


def whole_icd(
    includes: int, excludes: int = 0, where: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A value set including all of ICD-10-CM ``includes`` times (each with the filter
    ``where`` if given), less ``excludes`` codes each excluded on its own."""
    exclude = [{"system": ICD, "concept": [{"code": f"A{i:02d}"}]} for i in range(excludes)]
    include: dict[str, Any] = {"system": ICD}
    if where is not None:
        include["filter"] = [where]
    compose = {"include": [include] * includes, "exclude": exclude}
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


# kind -> (method, path and query, body or None, statuses expected)
Case = tuple[str, str, bytes | None, tuple[int, ...]]


def cases() -> dict[str, Callable[[], Case]]:
    icd_vs = quote(f"{ICD}?fhir_vs")
    return {
        "unknown code of 16,000 characters (GET $lookup)": lambda: (
            "GET",
            f"CodeSystem/$lookup?system={ICD}&code={'A' * 16_000}",
            None,
            (404,),
        ),
        "unknown code of 5 MB (POST $validate-code)": lambda: (
            "POST",
            "CodeSystem/$validate-code",
            parameters(
                {"name": "url", "valueUri": ICD}, {"name": "code", "valueCode": "M9" * 2_500_000}
            ),
            (200,),
        ),
        "display of 5 MB (POST $validate-code)": lambda: (
            "POST",
            "CodeSystem/$validate-code",
            parameters(
                {"name": "url", "valueUri": ICD},
                {"name": "code", "valueCode": "M99.44"},
                {"name": "display", "valueString": "word " * 1_000_000},
            ),
            (200,),
        ),
        "regex bomb ((((a{50}){50}){50}){50})": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters({"name": "valueSet", "resource": regex_vs("((((a{50}){50}){50}){50})")}),
            (422,),
        ),
        "catastrophic regex on displays, 20 includes": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {
                    "name": "valueSet",
                    "resource": regex_vs(*[r"(?:\w*?\s*?)*\d{3}"] * 20, prop="display"),
                },
            ),
            (422,),
        ),
        "regex of the largest size allowed (10,000)": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters({"name": "valueSet", "resource": regex_vs("(M{100}){100}")}),
            (200, 422),  # compiled; tested on every code, it may outrun the budget
        ),
        # counted from the members' bitmaps: a page of 10 reads 10 concepts
        "50 includes of all of ICD-10-CM": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "valueSet", "resource": whole_icd(50)},
                {"name": "count", "valueInteger": 10},
            ),
            (200,),
        ),
        "ICD-10-CM less 2,000 excludes": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "valueSet", "resource": whole_icd(1, 2_000)},
                {"name": "count", "valueInteger": 10},
            ),
            (200,),
        ),
        # a property the packed release does not index: tested concept by concept
        "50 includes of an unindexed property filter": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {
                    "name": "valueSet",
                    "resource": whole_icd(
                        50, where={"property": "inclusion-term", "op": "exists", "value": "true"}
                    ),
                },
                {"name": "count", "valueInteger": 10},
            ),
            (422,),
        ),
        "50,000 property parameters, a page of 2,000": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
                {"name": "count", "valueInteger": 2000},
                *({"name": "property", "valueString": f"p{i}"} for i in range(50_000)),
            ),
            (422,),
        ),
        "displayLanguage of 200,000 languages, a page of 2,000": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
                {"name": "count", "valueInteger": 2000},
                {"name": "displayLanguage", "valueCode": ",".join(f"x{i}" for i in range(200_000))},
            ),
            (422,),
        ),
        "count=100000": lambda: (
            "GET",
            f"ValueSet/$expand?url={icd_vs}&count=100000",
            None,
            (422,),
        ),
        "count=10000 (the largest page)": lambda: (
            "GET",
            f"ValueSet/$expand?url={icd_vs}&count=10000&offset=50000",
            None,
            (200,),
        ),
        "count=0 over ICD-10-CM, activeOnly": lambda: (
            "GET",
            f"ValueSet/$expand?url={icd_vs}&count=0&activeOnly=true",
            None,
            (200,),
        ),
        "supplement adding a designation, text filter": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "valueSet", "resource": SUPPLEMENTED_VS},
                {"name": "filter", "valueString": "zorblax"},
                {"name": "tx-resource", "resource": SUPPLEMENT},
            ),
            (200,),
        ),
        "tx-resource of 200,000 concepts": lambda: (
            "POST",
            "CodeSystem/$validate-code",
            parameters(
                {"name": "url", "valueUri": "http://t/big"},
                {"name": "code", "valueCode": "C1"},
                {"name": "tx-resource", "resource": code_system(200_000)},
            ),
            (422,),
        ),
        "tx-resource of 25,000 concepts (the most allowed)": lambda: (
            "POST",
            "ValueSet/$expand",
            parameters(
                {"name": "url", "valueUri": "http://t/big?fhir_vs"},
                {"name": "filter", "valueString": "number 4999"},
                {"name": "tx-resource", "resource": code_system(25_000)},
            ),
            (200,),
        ),
        "20,000 codings ($validate-code)": lambda: (
            "POST",
            "CodeSystem/$validate-code",
            parameters({"name": "codeableConcept", "valueCodeableConcept": codings(20_000)}),
            (422,),
        ),
        "1,000 codings (the most allowed)": lambda: (
            "POST",
            "ValueSet/$validate-code",
            parameters(
                {"name": "url", "valueUri": f"{ICD}?fhir_vs"},
                {"name": "codeableConcept", "valueCodeableConcept": codings(1_000)},
            ),
            (200,),
        ),
        "unknown parameter name of 1 MB": lambda: (
            "POST",
            "CodeSystem/$lookup",
            parameters(
                {"name": "system", "valueUri": ICD},
                {"name": "code", "valueCode": "M99.44"},
                {"name": "x" * 1_000_000, "valueString": "1"},
            ),
            (400,),
        ),
        # XML bodies (wire/xml.py) and answers
        "XML body: 64 comments before the root": lambda: (
            "POST",
            "CodeSystem/$lookup",
            b"<!--a-->" * 64 + xml_lookup(b""),
            (200,),
        ),
        "XML body: 60,000 attributes on one element": lambda: (
            "POST",
            "CodeSystem/$lookup",
            xml_lookup(b"<parameter " + b" ".join(b"a%d='1'" % i for i in range(60_000)) + b"/>"),
            (400,),
        ),
        "XML body: 1.4 million empty elements (9.8 MB)": lambda: (
            "POST",
            "CodeSystem/$lookup",
            xml_lookup(b"<parameter><name value='x'/>" + b"<part/>" * 1_400_000 + b"</parameter>"),
            (422,),
        ),
        "XML body: a tx-resource of 24,000 concepts (216,000 elements)": lambda: (
            "POST",
            "CodeSystem/$lookup",
            xml_lookup(xml_tx_resource(24_000)),
            (422,),
        ),
        "XML body: a tx-resource of 5,500 concepts (49,500 elements, the most)": lambda: (
            "POST",
            "CodeSystem/$lookup",
            xml_lookup(xml_tx_resource(5_500)),
            (200,),
        ),
        "XML body: a code of 9 MB in an attribute": lambda: (
            "POST",
            "CodeSystem/$validate-code",
            XML_PARAMETERS
            + f"<parameter><name value='url'/><valueUri value='{ICD}'/></parameter>".encode()
            + b"<parameter><name value='code'/><valueCode value='"
            + b"A" * 9_000_000
            + b"'/></parameter></Parameters>",
            (200,),
        ),
        "XML body: nested 20,000 deep": lambda: (
            "POST",
            "CodeSystem/$lookup",
            xml_lookup(b"<parameter>" * 20_000 + b"</parameter>" * 20_000),
            (400,),
        ),
        "ICD-10-CM CodeSystem read, _summary=false (JSON)": lambda: (
            "GET",
            "CodeSystem/icd10cm?_summary=false",
            None,
            (422,),
        ),
        "ICD-10-CM CodeSystem read, _summary=false (XML)": lambda: (
            "GET",
            "CodeSystem/icd10cm?_summary=false&_format=xml",
            None,
            (422,),
        ),
        "CodeSystem search, _elements=concept": lambda: (
            "GET",
            "CodeSystem?_elements=concept",
            None,
            (422,),
        ),
    }


XML_PARAMETERS = b"<Parameters xmlns='http://hl7.org/fhir'>"


def xml_lookup(more: bytes) -> bytes:
    """An XML Parameters body of $lookup of M99.44 with ``more`` before its end."""
    return (
        XML_PARAMETERS
        + f"<parameter><name value='system'/><valueUri value='{ICD}'/></parameter>".encode()
        + b"<parameter><name value='code'/><valueCode value='M99.44'/></parameter>"
        + more
        + b"</Parameters>"
    )


def xml_tx_resource(n: int) -> bytes:
    """A tx-resource parameter in XML: a code system of ``n`` concepts, each with a
    display, a designation and a property (nine elements a concept)."""
    concept = [
        {
            "code": f"c{i}",
            "display": f"Display {i}",
            "designation": [{"language": "de", "value": f"d{i}"}],
            "property": [{"code": "p", "valueCode": "x"}],
        }
        for i in range(n)
    ]
    cs = {"resourceType": "CodeSystem", "url": "http://t/cs", "status": "active"}
    cs |= {"content": "complete", "concept": concept}
    body = {"resourceType": "Parameters", "parameter": [{"name": "tx-resource", "resource": cs}]}
    xml = wxml.dumps(body, False)
    return xml[xml.index(b"<parameter>") : xml.rindex(b"</Parameters>")]


RESULTS: dict[str, tuple[int, float, float, int]] = {}
REPEAT = 3


@pytest.mark.parametrize("kind", list(cases()))
def test_hostile_request_cost(server: live.Server, kind: str) -> None:
    """Each request of ``kind``: PSS growth of any worker <= 50 MB, CPU <= 2 s."""
    method, path, body, statuses = cases()[kind]()
    xml = body is not None and not body.startswith(b"{")
    workers = worker_pids(server)
    assert len(workers) == 2, workers
    before = {p: pss_mb(p) for p in workers}
    worst_pss = worst_cpu = 0.0
    size = 0
    for _ in range(REPEAT):
        cpu = {p: cpu_s(p) for p in workers}
        r = requests.request(
            method,
            f"{server.base}/{path}",
            data=body,
            headers={"Content-Type": f"application/fhir+{'xml' if xml else 'json'}"},
            timeout=60,
        )
        assert r.status_code in statuses, (r.status_code, r.text[:500])
        if "_format=xml" in path:
            assert r.headers["Content-Type"].startswith("application/fhir+xml")
            outcome = wxml.loads(r.content, False)
        else:
            assert r.headers["Content-Type"].startswith("application/fhir+json")
            outcome = r.json()
        if r.status_code == 422:
            issue = outcome["issue"][0]
            assert issue["code"] == "too-costly" and "FHIRTERM_" in issue["details"]["text"]
        size = max(size, len(r.content))
        worst_cpu = max(worst_cpu, max(cpu_s(p) - cpu[p] for p in workers))
        worst_pss = max(worst_pss, max(pss_mb(p) - before[p] for p in workers))
    RESULTS[kind] = (r.status_code, worst_pss, worst_cpu, size)
    print(
        f"\n{kind}: {r.status_code}, PSS +{worst_pss:.1f} MB, CPU {worst_cpu:.2f} s, {size} bytes"
    )
    assert worst_pss <= PSS_LIMIT_MB
    assert worst_cpu <= CPU_LIMIT_S


def test_zz_report() -> None:
    """The table of figures (docs/hostile.md) of the cases run above."""
    if not RESULTS:
        pytest.skip("no case ran")
    lines = ["| input | status | max PSS growth (MB) | max CPU (s) | answer (bytes) |"]
    lines.append("|---|---|---|---|---|")
    for kind, (status, pss, cpu, size) in RESULTS.items():
        lines.append(f"| {kind} | {status} | {pss:.1f} | {cpu:.2f} | {size:,} |")
    print("\n" + "\n".join(lines))
