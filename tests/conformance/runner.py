"""Run the HL7 FHIR Terminology Ecosystem suite against a FHIR base URL; report per suite.

    python -m tests.conformance.runner --base http://127.0.0.1:8080/r5 \\
        [--suite NAME]... [--test TEXT] [--json out.json] [--modes general,flat] \\
        [--fhir-version auto|r4|r5] [--accept java|bare] [--externals FILE] [--output DIR]
        [--jobs N] [-v]

Each selected test (suite.py) is sent as its own request, with the headers of the HL7 Java
client, over one keep-alive session per worker thread; against an R4 server the request is
converted to R4 and the response back to R5 (convert.py); the response is scrubbed and
sorted as TxTester does (normalize.py) and compared with the expected template by
CompareUtilities' rules (compare.py), and its status with the test's `http-code`. A test
passes when both agree: that is the reference runner's verdict, the one counted. Each result
also carries the repository's stricter reading (`strict`), reported apart.
Exit status: 0 all passed, 1 some failed, 2 the run could not start.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from .compare import Comparer, Outcome, Rules
from .convert import response_to_r5
from .normalize import reference_form
from .suite import OPERATIONS, Suite, TestCase, http_code_ok, load_json, to_json

DEFAULT_VERSIONS = {"r4": "4.0.1", "r5": "5.0.0"}


@dataclass
class Result:
    suite: str
    test: str
    operation: str
    status: str  # pass | fail | error
    message: str = ""
    path: str = ""
    http_status: int | None = None
    expected_http: str = "2xx"
    response_file: str = ""
    duration_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    strict: bool = False  # passes the stricter reading too (compare.Rules.strict)
    strict_message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def reason(self) -> str:
        """A failure category: the message with its particulars masked."""
        return failure_category(self)


def failure_category(r: Result) -> str:
    if r.passed:
        return ""
    msg = re.sub(r" \(no actual entry matches .*\)$", "", r.message)
    msg = re.sub(
        r"(expected|found) ('(?:[^'\\]|\\.){25,}'|\"(?:[^\"\\]|\\.){25,}\")", r"\1 '…'", msg
    )
    msg = re.sub(r"\[\d+\]", "[]", msg)
    msg = re.sub(r"/r[45]/|/fhir/", "/", msg)
    return f"{r.operation}: {msg[:160]}"


def detect_fhir_version(session: requests.Session, base: str, timeout: float) -> str | None:
    """The server's FHIR version as TxTester.connectToServer reads it: `$versions?_format=json`
    (Accept `application/json, application/fhir+json`; the `default` parameter's
    valueString, or a JSON `default`), else `metadata?_format=json` fhirVersion."""
    headers = {"Accept": "application/json, application/fhir+json"}
    try:
        r = session.get(f"{base}/$versions?_format=json", headers=headers, timeout=timeout)
        if r.ok:
            doc = r.json()
            if doc.get("resourceType") == "Parameters":
                found = None
                for p in doc.get("parameter", []):
                    if p.get("name") == "default" and isinstance(p.get("valueString"), str):
                        found = p["valueString"]
                if found:
                    return str(found)
            elif isinstance(doc.get("default"), str):
                return str(doc["default"])
        r = session.get(f"{base}/metadata?_format=json", headers=headers, timeout=timeout)
        if r.ok and isinstance(r.json().get("fhirVersion"), str):
            return str(r.json()["fhirVersion"])
    except (requests.RequestException, ValueError, AttributeError):
        return None
    return None


class Runner:
    """Runs tests of one Suite against one FHIR base."""

    def __init__(
        self,
        base: str,
        suite: Suite,
        *,
        modes: frozenset[str] = frozenset({"general"}),
        fhir_version: str = "auto",
        externals: dict[str, dict[str, str]] | None = None,
        timeout: float = 30.0,
        jobs: int = 4,
        output: Path | None = None,
        accept: str = "java",
    ) -> None:
        self.base = base.rstrip("/")
        self.suite = suite
        self.modes = modes
        self.externals = externals
        self.timeout = timeout
        self.jobs = max(1, jobs)
        self.output = output
        self.accept = accept
        self._local = threading.local()
        detected = detect_fhir_version(self.session(), self.base, timeout)
        if fhir_version == "auto":
            if detected is None:
                raise RuntimeError(
                    f"cannot determine the FHIR version of {self.base}; pass --fhir-version"
                )
            self.form = "r4" if detected.startswith("4") else "r5"
        else:
            self.form = fhir_version
        # TxTester.vars(): `$version$` is the client's version (FhirPublication.toCode)
        self.version = DEFAULT_VERSIONS[self.form]

    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            self._local.session = s
        return s

    def select(
        self, suites: set[str] | None = None, test_filter: str | None = None
    ) -> list[TestCase]:
        return self.suite.select(self.modes, self.version, suites, test_filter)

    def run(self, cases: list[TestCase]) -> list[Result]:
        if self.jobs == 1:
            return [self.run_one(c) for c in cases]
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(self.run_one, cases))

    # -- one test -------------------------------------------------------------------------

    def run_one(self, case: TestCase) -> Result:
        res = Result(case.suite, case.name, case.operation, "error", expected_http=case.http_code)
        if case.operation not in OPERATIONS:
            res.message = f"operation {case.operation!r} is not supported by this runner"
            return res
        method, path, _ = OPERATIONS[case.operation]
        url = f"{self.base}/{path}" if path else self.base
        fn = self.suite.expected_file(case, self.modes)
        res.response_file = fn
        if not fn or not (self.suite.folder / fn).is_file():
            res.message = f"expected response file {fn!r} is missing from the suite"
            return res
        try:
            body = self.suite.request_body(case, self.modes, self.form)
        except (OSError, ValueError) as e:
            res.message = f"cannot build the request: {e}"
            return res
        t0 = time.perf_counter()
        try:
            resp = self.session().request(
                method,
                url,
                data=body,
                headers=self.suite.headers(case, self.modes, self.form, self.accept),
                timeout=self.timeout,
            )
        except requests.RequestException as e:
            res.message = f"request failed: {type(e).__name__}: {e}"
            res.duration_ms = (time.perf_counter() - t0) * 1000
            return res
        res.duration_ms = (time.perf_counter() - t0) * 1000
        res.http_status = resp.status_code
        try:
            actual: Any = json.loads(resp.content.decode("utf-8-sig"), parse_float=Decimal)
        except ValueError:
            actual = None
        expected = self.suite.resource(fn)
        normalized, refused, outcome, strict = self._compare(case, fn, expected, actual, resp)
        status_ok = http_code_ok(case.http_code, resp.status_code)
        if outcome is not None and outcome.ok and status_ok:
            res.status, res.warnings = "pass", outcome.warnings
        else:
            res.status = "fail"
            parts = []
            if not status_ok:
                parts.append(
                    f"HTTP {resp.status_code}, expected {case.http_code}{_server_says(actual)}"
                )
            if refused:
                parts.append(refused)
            elif outcome is not None and outcome.diff is not None:
                parts.append(str(outcome.diff))
                res.path = outcome.diff.path
            res.message = "; ".join(parts)
            self._save(fn, normalized)
        if strict is not None:
            res.strict = res.passed and strict.ok
            if res.passed and strict.diff is not None:
                res.strict_message = str(strict.diff)
        return res

    def _compare(
        self, case: TestCase, fn: str, expected: Any, actual: Any, resp: requests.Response
    ) -> tuple[Any, str | None, Outcome | None, Outcome | None]:
        """(the document compared, why the client would refuse the response, the verdict,
        the stricter reading)."""
        if actual is None:
            ctype = resp.headers.get("Content-Type", "?")
            return None, f"response is not JSON ({ctype}): {resp.text[:120]!r}", None, None
        if self.form == "r4":
            actual = response_to_r5(actual)
        normalized, refused = reference_form(case.operation, actual, resp.status_code)
        if refused is not None:
            return normalized, refused, None, None
        rules = Rules(
            modes=self.modes,
            version=self.version,
            externals=(self.externals or {}).get(fn),
            pattern=case.operation in ("metadata", "term-caps"),
        )
        verdict = Comparer(rules).compare(expected, normalized)
        strict = Comparer(replace(rules, strict=True)).compare(expected, normalized)
        return normalized, None, verdict, strict

    def _save(self, fn: str, actual: Any) -> None:
        if self.output is None:
            return
        for kind, text in (("expected", self.suite._text(fn)), ("actual", to_json(actual))):
            target = self.output / kind / fn
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")


def _server_says(actual: Any) -> str:
    """The first issue text of an OperationOutcome response, for failure messages."""
    if not (isinstance(actual, dict) and actual.get("resourceType") == "OperationOutcome"):
        return ""
    for issue in actual.get("issue", []):
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics")
        if isinstance(text, str):
            return f" (server: {text[:150]})"
    return ""


# -- reporting ------------------------------------------------------------------------------


def per_suite(results: list[Result]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in results:
        s = out.setdefault(r.suite, {"passed": 0, "failed": 0, "total": 0, "strict": 0})
        s["total"] += 1
        s["passed" if r.passed else "failed"] += 1
        s["strict"] += r.strict
    return out


def report(runner: Runner, results: list[Result], seconds: float) -> dict[str, Any]:
    passed = sum(r.passed for r in results)
    return {
        "base": runner.base,
        "fhirVersion": runner.version,
        "form": runner.form,
        "modes": sorted(runner.modes),
        "suiteFolder": str(runner.suite.folder),
        "externals": runner.externals is not None,
        "seconds": round(seconds, 2),
        "accept": runner.accept,
        "total": {
            "passed": passed,
            "failed": len(results) - passed,
            "total": len(results),
            "strict": sum(r.strict for r in results),
        },
        "perSuite": per_suite(results),
        "categories": [
            {"reason": reason, "count": n, "example": ex}
            for reason, n, ex in top_categories(results, 1000)
        ],
        "tests": [{**asdict(r), "reason": r.reason} for r in results],
    }


def top_categories(results: list[Result], n: int) -> list[tuple[str, int, str]]:
    counts = Counter(r.reason for r in results if not r.passed)
    example: dict[str, str] = {}
    for r in results:
        if not r.passed:
            example.setdefault(r.reason, f"{r.suite}/{r.test}")
    return [(reason, c, example[reason]) for reason, c in counts.most_common(n)]


def print_summary(results: list[Result], verbose: bool, out: Any = None) -> None:
    out = out or sys.stdout
    table = per_suite(results)
    width = max([len(s) for s in table] + [5])
    print(f"  {'suite':<{width}}  pass / total  (strict)", file=out)
    for name, c in table.items():
        print(f"  {name:<{width}}  {c['passed']:>4} / {c['total']:<4}   ({c['strict']})", file=out)
        if verbose:
            for r in results:
                if r.suite == name and not r.passed:
                    print(f"      FAIL {r.test}: {r.message[:300]}", file=out)
                elif r.suite == name and not r.strict:
                    print(f"      strict only {r.test}: {r.strict_message[:300]}", file=out)
    passed = sum(r.passed for r in results)
    strict = sum(r.strict for r in results)
    print(f"  {'TOTAL':<{width}}  {passed:>4} / {len(results):<4}   ({strict})", file=out)
    cats = top_categories(results, 10)
    if cats:
        print("  most common failure causes:", file=out)
        for reason, count, ex in cats:
            print(f"    {count:>4}  {reason}   (e.g. {ex})", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.conformance.runner", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--base", required=True, help="FHIR base URL, e.g. http://127.0.0.1:8080/r5")
    ap.add_argument("--suite", action="append", help="run only this suite (repeatable)")
    ap.add_argument("--test", help="run only tests whose name contains this text")
    ap.add_argument("--json", type=Path, help="write the full report (per-test results) here")
    ap.add_argument(
        "--modes", default="general", help="comma-separated runner modes (default general)"
    )
    ap.add_argument("--fhir-version", choices=["auto", "r4", "r5"], default="auto")
    ap.add_argument(
        "--accept",
        choices=["java", "bare"],
        default="java",
        help="java (default): the HL7 Java client's Accept and Content-Type, with "
        "fhirVersion; bare: application/fhir+json",
    )
    ap.add_argument(
        "--externals", type=Path, help="message externals file (tests/messages-*.json format)"
    )
    ap.add_argument(
        "--output", type=Path, help="write expected/ and actual/ files of failing tests here"
    )
    ap.add_argument(
        "--tests-dir", type=Path, help="suite folder (default FHIRTERM_TX_TESTS or ../shared)"
    )
    ap.add_argument("--jobs", type=int, default=4, help="parallel requests (default 4)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every failure")
    args = ap.parse_args(argv)
    suite = Suite(args.tests_dir)
    if not suite.exists():
        print(f"suite folder not found: {suite.folder}", file=sys.stderr)
        return 2
    modes = frozenset(m.strip() for m in args.modes.split(",") if m.strip())
    externals = load_json(args.externals) if args.externals else None
    try:
        runner = Runner(
            args.base,
            suite,
            modes=modes,
            fhir_version=args.fhir_version,
            externals=externals,
            timeout=args.timeout,
            jobs=args.jobs,
            output=args.output,
            accept=args.accept,
        )
    except RuntimeError as e:
        print(str(e), file=sys.stderr)
        return 2
    cases = runner.select(set(args.suite) if args.suite else None, args.test)
    t0 = time.perf_counter()
    results = runner.run(cases)
    seconds = time.perf_counter() - t0
    print(
        f"{runner.base} (FHIR {runner.version}, modes {'+'.join(sorted(modes))}): {seconds:.1f} s"
    )
    print_summary(results, args.verbose)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(report(runner, results, seconds), indent=1, default=str) + "\n"
        )
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
