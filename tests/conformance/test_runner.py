"""The runner end to end against a fake server that answers every test perfectly.

A "perfect" answer is the expected template instantiated (every `$...$` replaced by a value
of its kind). If the runner is faithful, such a server passes every selected test (so the
pinned fixtures are in the order TxTester's sorters give), and a server that gets one
required value wrong fails. This checks request routing, the request bodies and headers,
the reference runner's scrubbing, sorting and comparison together, over real HTTP.
Skipped without the suite.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .compare import CONTROL_KEYS, Comparer, Rules, is_optional
from .normalize import reference_form
from .runner import Runner
from .suite import OPERATIONS, Suite, TestCase, to_json

# its servers are fakes answering with the suite's expected files (patterns such as
# $token$), not fhirterm: conftest's shape check leaves their answers alone
pytestmark = pytest.mark.not_fhirterm

MODES = frozenset({"general"})
VERSION = "5.0.0"
RULES = Rules(modes=MODES, version=VERSION)

SAMPLES = {
    "$instant$": "2026-01-01T00:00:00Z",
    "$date$": "2026-01-01",
    "$uuid$": "urn:uuid:c0ffee00-0000-4000-8000-000000000001",
    "$id$": "a1",
    "$url$": "http://example.org/fhir/x",
    "$semver$": "1.0.0",
    "$token$": "a1",
    "$string$": "x",
    "$$": "x",
    "$version$": VERSION,
}


def _string(s: str) -> str:
    if len(s) >= 2 and s[0] == "$" and s[-1] == "$" and s not in SAMPLES:
        body = s[1:-1]
        if body.startswith("choice:"):
            return body[len("choice:") :].split("|")[0]
        if body.startswith("fragments:"):
            return " ".join(body[len("fragments:") :].split("|"))
        if body.startswith("external:"):
            # message N of the server, which holds the fragments; numbered so that messages
            # sort in the order the fixture lists them (TxTesterSorters sorts issues by text)
            parts = body.split(":", 2)
            text = " ".join(parts[2].split("|")) if len(parts) > 2 else "x"
            return f"({int(parts[1]):03d}) {text}"
    return SAMPLES.get(s, s.replace("$version$", VERSION))


def instantiate(v: Any, keep_optional: bool = True) -> Any:
    """The expected template with every template replaced by a conforming value."""
    if isinstance(v, dict):
        return {k: instantiate(x, keep_optional) for k, x in v.items() if k not in CONTROL_KEYS}
    if isinstance(v, list):
        return [
            instantiate(item, keep_optional)
            for item in v
            if keep_optional or not is_optional(item, RULES)
        ]
    return _string(v) if isinstance(v, str) else v


def required_literals(v: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths (into the instantiated document) of literal strings the template requires."""
    if isinstance(v, dict):
        optional = set(v.get("$optional-properties$", []))
        counted = set(v.get("$count-arrays$", []))
        for k, x in v.items():
            if k in CONTROL_KEYS or k in optional or "*" in optional or k in counted:
                continue
            yield from required_literals(x, (*path, k))
    elif isinstance(v, list):
        for n, item in enumerate(v):
            if not is_optional(item, RULES):
                yield from required_literals(item, (*path, n))
    elif isinstance(v, str) and "$" not in v and "<div" not in v and v:
        yield path


def _mutate(doc: Any, path: tuple[Any, ...]) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] += "XY"  # two Base64 characters: the lenient decoding differs too


@pytest.fixture(scope="module")
def suite() -> Suite:
    s = Suite()
    if not s.exists():
        pytest.skip(f"tx-ecosystem suite not found at {s.folder}")
    return s


@pytest.fixture(scope="module")
def cases(suite: Suite) -> list[TestCase]:
    return suite.select(MODES, VERSION)


def test_selection_matches_the_suite(cases: list[TestCase]) -> None:
    ops = {c.operation for c in cases}
    assert ops <= set(OPERATIONS)
    assert sum(c.suite == "metadata" for c in cases) == 2
    assert len(cases) == 597  # 595 general tests + the 2 metadata tests (pinned suite)


def _actual(case: TestCase, doc: Any) -> Any:
    """What the runner compares for a perfect answer `doc` (TxTester's scrub and sort)."""
    status = 200 if case.http_code.startswith("2") else 422
    out, refused = reference_form(case.operation, doc, status)
    assert refused is None, f"{case.id}: {refused}"
    return out


def _rules(case: TestCase) -> Rules:
    return Rules(modes=MODES, version=VERSION, pattern=case.operation in ("metadata", "term-caps"))


def _moved_optional(expected: Any, actual: Any, path: str) -> bool:
    """Whether the entry the comparison stopped at (`path`) is an optional entry of the
    expected array that the reference sorters moved before the entries it follows."""
    steps = [int(x) if x.isdigit() else x for x in re.findall(r"[^.\[\]]+", path)]
    last = max((n for n, x in enumerate(steps) if isinstance(x, int)), default=-1)
    if last < 0:
        return False
    exp, act = expected, actual
    for x in steps[:last]:
        exp = exp[x]
        act = act[x]
    entry = act[steps[last]]
    return any(is_optional(e, RULES) and instantiate(e) == entry for e in exp)


@pytest.mark.parametrize("keep_optional", [True, False])
def test_every_instantiated_response_passes(
    suite: Suite, cases: list[TestCase], keep_optional: bool
) -> None:
    """A perfect answer passes. With its optional entries kept, one kind of answer cannot:
    an optional entry that TxTesterSorters move before entries the fixture lists first
    (e.g. an optional `displayLanguage` expansion parameter listed last sorts first), as
    the reference comparison walks arrays in order; a server must leave such entries out."""
    failures = []
    for case in cases:
        expected = suite.resource(suite.expected_file(case, MODES))
        actual = _actual(case, instantiate(expected, keep_optional))
        for rules in (_rules(case), replace(_rules(case), strict=True)):
            out = Comparer(rules).compare(expected, actual)
            if out.diff is not None and not (
                keep_optional and _moved_optional(expected, actual, out.diff.path)
            ):
                failures.append(f"{case.id} (strict={rules.strict}): {out.diff}")
    assert failures == []


def test_one_wrong_value_fails(suite: Suite, cases: list[TestCase]) -> None:
    checked, missed = 0, []
    for case in cases:
        expected = suite.resource(suite.expected_file(case, MODES))
        paths = list(required_literals(expected))
        for path in paths[-1:] + paths[len(paths) // 2 : len(paths) // 2 + 1]:
            actual = instantiate(expected)
            _mutate(actual, path)
            checked += 1
            status = 200 if case.http_code.startswith("2") else 422
            doc, refused = reference_form(case.operation, actual, status)
            if refused is None and Comparer(_rules(case)).compare(expected, doc).ok:
                missed.append(f"{case.id} {path}")
    assert checked > 1000 and missed == []


def test_a_wrong_order_fails(suite: Suite, cases: list[TestCase]) -> None:
    """Arrays are compared in order: the overload expansions list a code's versions newest
    first, and the other order fails (the sorters order contains by code only)."""
    case = next(c for c in cases if c.id == "overload/expand-all")
    expected = suite.resource(suite.expected_file(case, MODES))
    actual = instantiate(expected)
    contains = actual["expansion"]["contains"]
    assert [c["code"] for c in contains[:2]] == ["code1", "code1"]
    assert Comparer(_rules(case)).compare(expected, _actual(case, actual)).ok
    contains[0], contains[1] = contains[1], contains[0]
    out = Comparer(_rules(case)).compare(expected, _actual(case, actual))
    assert out.diff is not None and out.diff.path == ".expansion.contains[0].version"


# -- over HTTP --------------------------------------------------------------------------------


class _Fake(ThreadingHTTPServer):
    daemon_threads = True
    answers: dict[tuple[str, str, bytes, str], tuple[int, bytes]]
    seen: list[tuple[str, str, dict[str, str], bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Fake

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("/fhir/", 1)[-1]
        self.server.seen.append((method, path, dict(self.headers), body))
        key = (method, path, body, self.headers.get("Accept-Language") or "")
        status, payload = self.server.answers.get(
            key, (404, b'{"resourceType":"OperationOutcome"}')
        )
        if path.split("?")[0] == "$versions":
            status, payload = (
                200,
                b'{"resourceType":"Parameters","parameter":[{"name":"default","valueString":"5.0.0"}]}',
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


@pytest.fixture(scope="module")
def fake(suite: Suite, cases: list[TestCase]) -> Iterator[tuple[str, _Fake, set[str]]]:
    answers: dict[tuple[str, str, bytes, str], tuple[int, bytes]] = {}
    ambiguous: set[tuple[str, str, bytes, str]] = set()
    owner: dict[tuple[str, str, bytes, str], list[str]] = {}
    for case in cases:
        method, path, _ = OPERATIONS[case.operation]
        body = suite.request_body(case, MODES) or b""
        key = (method, path, body, str(case.spec.get("Accept-Language", "")))
        fn = suite.expected_file(case, MODES)
        # required content only: an optional entry may be one the sorters move (see above)
        payload = to_json(instantiate(suite.resource(fn), keep_optional=False)).encode()
        status = 200 if case.http_code.startswith("2") else 422
        if key in answers and answers[key] != (status, payload):
            ambiguous.add(key)
        answers.setdefault(key, (status, payload))
        owner.setdefault(key, []).append(case.id)
    server = _Fake(("127.0.0.1", 0), _Handler)
    server.answers, server.seen = answers, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        skip = {cid for key in ambiguous for cid in owner[key]}
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", server, skip
    finally:
        server.shutdown()
        server.server_close()


def test_perfect_server_passes_everything(
    suite: Suite, cases: list[TestCase], fake: tuple[str, _Fake, set[str]]
) -> None:
    base, _server, ambiguous = fake
    runner = Runner(base, suite, modes=MODES, fhir_version="auto", jobs=4)
    assert runner.version == "5.0.0" and runner.form == "r5"
    results = runner.run(runner.select())
    failed = [
        f"{r.suite}/{r.test}: {r.message}"
        for r in results
        if not r.passed and f"{r.suite}/{r.test}" not in ambiguous
    ]
    assert failed == []
    assert len(ambiguous) < 20
    assert len(results) == len(cases)


def test_requests_carry_setup_profile_and_headers(
    suite: Suite, fake: tuple[str, _Fake, set[str]]
) -> None:
    base, server, _ = fake
    server.seen.clear()
    runner = Runner(base, suite, modes=MODES, fhir_version="r5", jobs=1)
    runner.run(runner.select({"language"}, "language-echo-en-en-header"))
    runner.run(runner.select({"version"}, "version-version-profile-default"))
    posts = [s for s in server.seen if s[0] == "POST"]
    assert len(posts) == 2
    _method, path, headers, body = posts[0]
    assert path == "ValueSet/$expand" and headers["Accept-Language"] == "en"
    # the HL7 Java client's headers (FHIRToolingClient.withVer, Client.issuePostRequest)
    assert headers["Accept"] == "application/fhir+json; fhirVersion=5.0"
    assert headers["Content-Type"] == "application/fhir+json; fhirVersion=5.0;charset=UTF-8"
    assert headers["User-Agent"] == "Tools/Java"
    assert headers["X-Request-Id"] == "txTests:language/language-echo-en-en-header"
    # TxTester.connectToServer reads the version with a plain web request
    versions = [s for s in server.seen if s[0] == "GET" and s[1].startswith("$versions")]
    assert versions and versions[0][1] == "$versions?_format=json"
    assert versions[0][2]["Accept"] == "application/json, application/fhir+json"
    params = json.loads(body)["parameter"]
    own = suite.resource("language/expand-echo-en-en-header-request-parameters.json")["parameter"]
    setup = next(s for s in suite.doc["suites"] if s["name"] == "language")["setup"]
    assert len(params) == len(own) + len(setup) + 1
    assert [p["resource"]["url"] for p in params[len(own) : -1]] == [
        suite.resource(f)["url"] for f in setup
    ]
    assert all(p["name"] == "tx-resource" for p in params[len(own) : -1])
    assert params[-1] == {
        "name": "uuid",
        "valueUuid": "urn:uuid:8acdbfdc-e9d2-11ed-a05b-0242ac120003",
    }
    version_params = json.loads(posts[1][3])["parameter"]
    assert version_params[-1]["name"] == "system-version"  # the test's own profile, not the default
    assert "Accept-Language" not in posts[1][2]


def test_mode_gated_header_only_in_its_mode(suite: Suite) -> None:
    # TxTester.runTest: a test's header is sent when it names no mode or a mode that is on
    case = TestCase(
        "s", "t", "expand", {"header": {"name": "X-Test", "value": "1", "mode": "ontoserver"}}, ()
    )
    assert "X-Test" not in suite.headers(case, MODES)
    assert suite.headers(case, frozenset({"general", "ontoserver"}))["X-Test"] == "1"
    bare = TestCase("s", "t", "expand", {"header": {"name": "X-Test", "value": "1"}}, ())
    assert suite.headers(bare, MODES)["X-Test"] == "1"


def test_r4_headers_and_bare_accept(suite: Suite) -> None:
    case = TestCase("s", "t", "expand", {}, ())
    h = suite.headers(case, MODES, "r4")
    assert h["Accept"] == "application/fhir+json; fhirVersion=4.0"
    assert h["Content-Type"] == "application/fhir+json; fhirVersion=4.0;charset=UTF-8"
    bare = suite.headers(case, MODES, "r5", accept="bare")
    assert bare["Accept"] == bare["Content-Type"] == "application/fhir+json"
