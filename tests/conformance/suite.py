"""The tx-ecosystem suite on disk: which tests run, and what each one sends and expects.

Reads `test-cases.json` and the files it names (read-only; never copied). Selection and
request rules follow the suite's documentation (`tests/readme.md`, IG page "Test Case
Documentation") and the reference runner:

* a suite or test runs when it has no `mode`, or its `mode` is one of the runner's modes
  (`modes`: any of them); `disabled` ones never run; `version` ("4.0", "!4.0") limits it to
  servers of that FHIR version. The runner's modes default to `general`.
* `request:{mode}` / `response:{mode}` replace `request` / `response` in that mode.
* the request Parameters get, in this order: its own parameters, one `tx-resource` per setup
  resource of the suite, the parameters of the test's `profile` file (default
  `parameters-default.json`).
* headers: those of the HL7 Java terminology client the reference runner talks through
  (org.hl7.fhir.r5/.../utils/client: FHIRToolingClient.withVer and generateHeaders,
  network/Client and FhirRequestBuilder.getResourceFormatHeaders; TerminologyClientR5 and
  TerminologyClientR4 turn `versionInMimeTypes` on): `Accept: application/fhir+json;
  fhirVersion=5.0` (`4.0` for an R4 server), on POST `Content-Type` the same with
  `;charset=UTF-8`, `User-Agent: Tools/Java`, `X-Request-Id: txTests:{suite}/{test}`,
  `Accept-Language` when the test gives one; a test `header` when it names no mode or a mode
  that is on (TxTester.runTest). `accept="bare"` sends a bare `application/fhir+json`
  instead, for servers that do not take MIME type parameters.
* against an R4 server the request is converted R5 -> R4 first (convert.py).
* `http-code` (default `2xx`) is the expected status class.
* `response2` is not used: the reference runner reads `response` only.

This module does no HTTP.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from .convert import request_to_r4

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SUITE_DIR = REPO.parent / "shared" / "tx-ecosystem" / "tests"

# operation -> (HTTP method, path under the FHIR base, resourceType of a 2xx response)
OPERATIONS: dict[str, tuple[str, str, str | None]] = {
    "metadata": ("GET", "metadata", "CapabilityStatement"),
    "term-caps": ("GET", "metadata?mode=terminology", "TerminologyCapabilities"),
    "expand": ("POST", "ValueSet/$expand", "ValueSet"),
    "validate-code": ("POST", "ValueSet/$validate-code", "Parameters"),
    "cs-validate-code": ("POST", "CodeSystem/$validate-code", "Parameters"),
    "lookup": ("POST", "CodeSystem/$lookup", "Parameters"),
    "subsumes": ("POST", "CodeSystem/$subsumes", "Parameters"),
    "translate": ("POST", "ConceptMap/$translate", "Parameters"),
    "batch-validate": ("POST", "ValueSet/$batch-validate-code", "Parameters"),
    "closure": ("POST", "ConceptMap/$closure", "ConceptMap"),
    "batch": ("POST", "", "Bundle"),
}


def suite_dir() -> Path:
    """FHIRTERM_TX_TESTS, else ../shared/tx-ecosystem/tests next to the repository."""
    env = os.environ.get("FHIRTERM_TX_TESTS")
    return Path(env).expanduser().resolve() if env else DEFAULT_SUITE_DIR


def load_json(path: Path) -> Any:
    """Parse a JSON file (some start with a BOM); decimals keep their written form."""
    return json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class

    suite: str
    name: str
    operation: str
    spec: dict[str, Any] = field(repr=False, compare=False)
    setup: tuple[str, ...] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    @property
    def http_code(self) -> str:
        return str(self.spec.get("http-code", "2xx"))


def _modes_pass(obj: dict[str, Any], modes: frozenset[str]) -> bool:
    if isinstance(obj.get("modes"), list):
        return any(m in modes for m in obj["modes"])
    return "mode" not in obj or obj["mode"] in modes


def version_passes(spec: Any, fhir_version: str | None) -> bool:
    """`version`: "4.0" matches 4.0 and 4.0.x; "!4.0" anything else; absent: all."""
    if not isinstance(spec, str) or not spec:
        return True
    if spec.startswith("!"):
        return not version_passes(spec[1:], fhir_version)
    v = fhir_version or ""
    return v == spec or v.startswith(spec + ".")


def http_code_ok(expected: str, status: int) -> bool:
    if len(expected) == 3 and expected.endswith("xx") and expected[0].isdigit():
        return status // 100 == int(expected[0])
    return str(status) == expected


class Suite:
    """The suite folder: test selection, requests and expected responses."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or suite_dir()
        self._doc: Any = None

    def exists(self) -> bool:
        return (self.folder / "test-cases.json").is_file()

    @property
    def doc(self) -> Any:
        """test-cases.json, read on first use (so that ``exists`` can be asked first)."""
        if self._doc is None:
            self._doc = load_json(self.folder / "test-cases.json")
        return self._doc

    def select(
        self,
        modes: frozenset[str],
        fhir_version: str | None,
        suites: set[str] | None = None,
        test_filter: str | None = None,
    ) -> list[TestCase]:
        out = []
        for s in self.doc["suites"]:
            if s.get("disabled") or not _modes_pass(s, modes):
                continue
            if not version_passes(s.get("version"), fhir_version):
                continue
            if suites and s["name"] not in suites:
                continue
            for t in s["tests"]:
                if t.get("disabled") or not _modes_pass(t, modes):
                    continue
                if not version_passes(t.get("version"), fhir_version):
                    continue
                if test_filter and test_filter not in t["name"]:
                    continue
                out.append(
                    TestCase(s["name"], t["name"], t["operation"], t, tuple(s.get("setup", [])))
                )
        return out

    # -- files ----------------------------------------------------------------------------

    @cache  # noqa: B019 - one Suite per run, files are read-only
    def _text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8-sig")

    def resource(self, name: str) -> Any:
        """A fresh parsed copy of a suite file."""
        return json.loads(self._text(name), parse_float=Decimal)

    @cache  # noqa: B019
    def _compact(self, name: str) -> str:
        return to_json(self.resource(name))

    @staticmethod
    def choose(spec: dict[str, Any], key: str, modes: frozenset[str]) -> str | None:
        for m in sorted(modes):
            if f"{key}:{m}" in spec:
                return str(spec[f"{key}:{m}"])
        v = spec.get(key)
        return str(v) if v is not None else None

    def extra_parameters(self, case: TestCase) -> list[str]:
        """tx-resource and profile parameters, as compact JSON texts."""
        params = ['{"name":"tx-resource","resource":' + self._compact(f) + "}" for f in case.setup]
        profile = self.resource(case.spec.get("profile", "parameters-default.json"))
        params += [_compact_param(p) for p in profile.get("parameter", [])]
        return params

    def request_body(self, case: TestCase, modes: frozenset[str], form: str = "r5") -> bytes | None:
        """The request body as sent (None for GET operations); `form` r4 converts it."""
        method = OPERATIONS[case.operation][0]
        if method == "GET":
            return None
        body = self._r5_body(case, modes)
        if form == "r4":
            return to_json(request_to_r4(json.loads(body, parse_float=Decimal))).encode()
        return body

    def _r5_body(self, case: TestCase, modes: frozenset[str]) -> bytes:
        req_file = self.choose(case.spec, "request", modes)
        request = self.resource(req_file) if req_file else {"resourceType": "Parameters"}
        extra = self.extra_parameters(case)
        if request.get("resourceType") == "Bundle":  # `batch`: setup goes to the first entry
            entries = request.get("entry", [])
            for n, entry in enumerate(entries):
                res = entry.get("resource", {})
                own = [_compact_param(p) for p in res.get("parameter", [])]
                added = extra if n == 0 else extra[len(case.setup) :]
                res["parameter"] = [json.loads(p, parse_float=Decimal) for p in own + added]
            return to_json(request).encode()
        own = [_compact_param(p) for p in request.get("parameter", [])]
        head = {k: v for k, v in request.items() if k != "parameter"}
        text = to_json(head)[:-1] + ("," if head else "")
        return (text + '"parameter":[' + ",".join(own + extra) + "]}").encode()

    def headers(
        self, case: TestCase, modes: frozenset[str], form: str = "r5", accept: str = "java"
    ) -> dict[str, str]:
        mime = "application/fhir+json"
        if accept == "java":
            mime += "; fhirVersion=" + ("4.0" if form == "r4" else "5.0")
        h = {"Accept": mime, "User-Agent": "Tools/Java"}
        if OPERATIONS[case.operation][0] == "POST":
            h["Content-Type"] = mime + ";charset=UTF-8" if accept == "java" else mime
        h["X-Request-Id"] = f"txTests:{case.suite}/{case.name}"
        if case.spec.get("Accept-Language"):
            h["Accept-Language"] = str(case.spec["Accept-Language"])
        hdr = case.spec.get("header")
        if (
            isinstance(hdr, dict)
            and hdr.get("name")
            and ("mode" not in hdr or hdr["mode"] in modes)
        ):
            h[str(hdr["name"])] = str(hdr.get("value", ""))
        return h

    def expected_file(self, case: TestCase, modes: frozenset[str]) -> str:
        """The response file (TxTester.chooseParam: `response:{mode}`, else `response`)."""
        return self.choose(case.spec, "response", modes) or ""


def _compact_param(p: Any) -> str:
    return to_json(p)


def to_json(v: Any) -> str:
    """Compact JSON in which a Decimal is written as the number it was read from."""
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + to_json(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if isinstance(v, Decimal):
        return str(v)
    return json.dumps(v, ensure_ascii=False)
