"""The tx-ecosystem suite against a real `fhirterm serve`; the pass count may only go up.

Starts the server on a free port and, for each FHIR endpoint (/r5, the suite's native
form, and /r4 with the R4 conversion the reference runner applies), runs every selected
test (modes `general` plus the metadata tests) through the runner with the HL7 Java
client's headers, judged by the reference runner's rules; writes
`bench-results/conformance[-r4].json`, prints the per-suite counts (and the stricter
reading's, apart), and fails when fewer tests pass than the endpoint's baseline records
(`baseline.json` for /r5, `baseline-r4.json` for /r4).

Environment:
  FHIRTERM_TX_TESTS            the suite folder (default ../shared/tx-ecosystem/tests)
  FHIRTERM_CONFORMANCE_PATH    test only this FHIR base path (/r5 or /r4)
  FHIRTERM_TX_MODES            runner modes, comma-separated (default general)
  FHIRTERM_TX_ACCEPT           java (default: the Java client's fhirVersion MIME types) or bare
  FHIRTERM_UPDATE_BASELINE=1   rewrite the baselines with the current counts (never lower)
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .. import live
from ..conftest import full_release
from .runner import Runner, print_summary, report
from .suite import REPO, Suite

pytestmark = pytest.mark.server

# endpoint -> (baseline, report, FHIR version the runner speaks there)
ENDPOINTS = {
    "/r5": (
        Path(__file__).with_name("baseline.json"),
        REPO / "bench-results" / "conformance.json",
        "r5",
    ),
    "/r4": (
        Path(__file__).with_name("baseline-r4.json"),
        REPO / "bench-results" / "conformance-r4.json",
        "r4",
    ),
}


@pytest.fixture(scope="module")
def suite() -> Suite:
    s = Suite()
    if not s.exists():
        pytest.skip(f"tx-ecosystem suite not found at {s.folder} (set FHIRTERM_TX_TESTS)")
    return s


@pytest.fixture(scope="module")
@full_release
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`fhirterm serve --workers 1` on a free port; yields http://127.0.0.1:PORT."""
    tmp = tmp_path_factory.mktemp("conformance")
    with live.start(full=True, log=tmp / "server.log", cache=tmp / "cache") as server:
        yield server.root


def _baseline(path: Path) -> dict[str, Any]:
    if path.is_file():
        return dict(json.loads(path.read_text()))
    return {"total_passed": 0, "per_suite": {}}


def _paths() -> list[str]:
    only = os.environ.get("FHIRTERM_CONFORMANCE_PATH")
    return [only.rstrip("/")] if only else list(ENDPOINTS)


@pytest.mark.parametrize("path", _paths())
def test_conformance_does_not_regress(
    suite: Suite, server_root: str, path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if path not in ENDPOINTS:
        pytest.fail(f"FHIRTERM_CONFORMANCE_PATH must be one of {', '.join(ENDPOINTS)}")
    baseline, report_file, version = ENDPOINTS[path]
    base = f"{server_root}{path}"
    modes = frozenset(m for m in os.environ.get("FHIRTERM_TX_MODES", "general").split(",") if m)
    accept = os.environ.get("FHIRTERM_TX_ACCEPT", "java")
    runner = Runner(base, suite, modes=modes, fhir_version=version, accept=accept)
    cases = runner.select()
    t0 = time.perf_counter()
    results = runner.run(cases)
    seconds = time.perf_counter() - t0
    doc = report(runner, results, seconds)
    doc["endpoint"] = path
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(doc, indent=1, default=str) + "\n")

    passed = doc["total"]["passed"]
    current = {
        "total_passed": passed,
        "total_tests": len(results),
        "strict_passed": doc["total"]["strict"],
        "rules": "reference (TxTester + CompareUtilities)",
        "accept": accept,
        "per_suite": {name: c["passed"] for name, c in doc["perSuite"].items()},
        "endpoint": path,
        "fhirVersion": runner.version,
        "modes": sorted(modes),
        "passing": sorted(f"{r.suite}/{r.test}" for r in results if r.passed),
    }
    old = _baseline(baseline)
    newly_failing = sorted(set(old.get("passing", [])) - set(current["passing"]))
    with capsys.disabled():
        print(
            f"\ntx-ecosystem conformance at {base} (FHIR {runner.version}): {passed}/{len(results)} "
            f"passed in {seconds:.1f} s (baseline {old['total_passed']}; stricter reading "
            f"{doc['total']['strict']}); report {report_file}"
        )
        print_summary(results, verbose=False)
        if newly_failing:
            print(f"  passed in the baseline, failing now: {', '.join(newly_failing)}")
    if newly_failing:
        warnings.warn(
            f"{len(newly_failing)} tests of the baseline fail now: {newly_failing[:10]}",
            stacklevel=1,
        )

    if os.environ.get("FHIRTERM_UPDATE_BASELINE") == "1":
        if passed < old["total_passed"]:
            pytest.fail(f"refusing to lower the baseline from {old['total_passed']} to {passed}")
        baseline.write_text(json.dumps(current, indent=1) + "\n")
        return
    assert passed >= old["total_passed"], (
        f"conformance regressed: {passed} tests pass, the baseline is {old['total_passed']}; "
        f"newly failing: {newly_failing[:20]}"
    )
