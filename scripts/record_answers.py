#!/usr/bin/env python3
"""Record the server's answers to a fixed set of requests; compare two recordings byte for byte.

    python scripts/record_answers.py record OUT.jsonl.gz [--cache DIR] [--only conformance|icd]
    python scripts/record_answers.py compare A.jsonl.gz B.jsonl.gz [--show N]

``record`` runs the app of the checkout this script lives in (its ``src/`` goes
first on ``sys.path``), in process, through the whole WSGI stack production
serves (``fhirterm.web.app.create_wsgi``: headers, intake, response cache, fast
path, Flask), with the settings of the tests' full registry: the bundled
ICD-10-CM releases and the repository's ``codesystems/``. The requests:

* every selected request of the HL7 tx-ecosystem suite (modes ``general``),
  built by ``tests/conformance/suite.py`` exactly as the conformance runner
  sends it, at ``/r5`` and at ``/r4`` (converted to R4);
* a fixed set of ICD-10-CM requests (``icd_requests``) drawn with a fixed seed
  from the codes of the release itself: ``$lookup``, both ``$validate-code``,
  ``$expand`` of the shipped and of inline value sets, ``$subsumes``,
  ``$translate`` and their errors.

Each line of the gzip'd JSON-lines file is one request (method, path, query,
request headers, body) with its answer (status, Content-Type, body as sent); the
first line says which commit recorded it. ``compare`` pairs the requests in order
and prints how many answers differ and, for the first few, the request and a
unified diff of the pretty-printed bodies; exit status 1 when any differ, 2 when
the two recordings do not hold the same requests.

Only what varies between two runs at the same commit is scrubbed before the
comparison (``SCRUBS``).
"""

from __future__ import annotations

import argparse
import base64
import difflib
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
FORMAT = "fhirterm-answers/1"
SEED = 17
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
VS = "http://fhirterm.org/fhir/ValueSet/"
CM = "http://fhirterm.org/fhir/ConceptMap/"
FHIR_JSON = "application/fhir+json"

# A time the server writes: datetime.now(UTC).isoformat(timespec="seconds").
NOW = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"

# Scrubbed before comparing, and only these: each varies between two runs of
# the same commit (found by recording twice and comparing without scrubs).
SCRUBS: list[tuple[re.Pattern[bytes], bytes]] = [
    # ValueSet.expansion.identifier: a fresh urn:uuid per expansion.
    (
        re.compile(rb'("identifier"\s*:\s*"urn:uuid:)[0-9a-f-]{36}"'),
        rb'\1(scrubbed)"',
    ),
    (re.compile(rb'(<identifier value="urn:uuid:)[0-9a-f-]{36}"'), rb'\1(scrubbed)"'),
    # ValueSet.expansion.timestamp: the time of the expansion (UTC, to the second).
    (re.compile(rb'("timestamp"\s*:\s*")' + NOW + b'"'), rb'\1(scrubbed)"'),
    (re.compile(rb'(<timestamp value=")' + NOW + b'"'), rb'\1(scrubbed)"'),
    # CapabilityStatement.date and TerminologyCapabilities.date: the time the app was
    # built (a whole dateTime in UTC, to the second; content dates are not written so).
    (
        re.compile(rb'("date"\s*:\s*")' + NOW + b'"'),
        rb'\1(scrubbed)"',
    ),
    (
        re.compile(rb'(<date value=")' + NOW + b'"'),
        rb'\1(scrubbed)"',
    ),
]


def scrub(body: bytes) -> bytes:
    """The body with the values that vary between runs of one commit replaced."""
    for pattern, repl in SCRUBS:
        body = pattern.sub(repl, body)
    return body


# -- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request: ``path`` without the query, ``query`` as sent (already encoded)."""

    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""  # where it comes from: a conformance test id, or an ICD-10-CM kind

    def record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            **_body_fields("body", self.body),
        }


def _body_fields(key: str, data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {key: None}
    try:
        return {key: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "_b64": base64.b64encode(data).decode("ascii")}


def _body_of(rec: dict[str, Any], key: str) -> bytes | None:
    if key + "_b64" in rec:
        return base64.b64decode(rec[key + "_b64"])
    v = rec.get(key)
    return None if v is None else str(v).encode("utf-8")


def conformance_requests() -> list[Request]:
    """Every selected test of the tx-ecosystem suite, at /r5 and at /r4, as the runner sends it."""
    from tests.conformance.runner import DEFAULT_VERSIONS
    from tests.conformance.suite import OPERATIONS, Suite

    suite = Suite()
    if not suite.exists():
        raise SystemExit(
            f"tx-ecosystem suite not found at {suite.folder} (set FHIRTERM_TX_TESTS), "
            "or record with --only icd"
        )
    modes = frozenset({"general"})
    out = []
    for form in ("r5", "r4"):
        for case in suite.select(modes, DEFAULT_VERSIONS[form]):
            if case.operation not in OPERATIONS:
                continue
            method, rel, _ = OPERATIONS[case.operation]
            path, _, query = f"/{form}/{rel}".rstrip("/").partition("?")
            out.append(
                Request(
                    method,
                    path,
                    query,
                    suite.request_body(case, modes, form),
                    suite.headers(case, modes, form),
                    f"conformance {form} {case.id}",
                )
            )
    return out


@dataclass(frozen=True)
class Code:
    code: str
    display: str
    abstract: bool


def _get(base: str, op: str, params: list[tuple[str, str]], kind: str) -> Request:
    return Request("GET", f"{base}/{op}", urlencode(params), None, {}, f"icd {kind}")


def _post(base: str, op: str, params: list[Any], kind: str) -> Request:
    body = json.dumps({"resourceType": "Parameters", "parameter": params}).encode()
    return Request("POST", f"{base}/{op}", "", body, {"Content-Type": FHIR_JSON}, f"icd {kind}")


def _compose(*includes: dict[str, Any], exclude: list[dict[str, Any]] | None = None) -> Any:
    compose: dict[str, Any] = {"include": list(includes)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


def _filter(prop: str, op: str, value: str) -> dict[str, Any]:
    return {"system": ICD, "filter": [{"property": prop, "op": op, "value": value}]}


# Codes whose history the docs name (docs/releases.md): added, deleted, retitled, became
# a header; and dates of service in each bundled period, between periods and after.
HISTORY_CODES = ["C50.A0", "O35.0XX0", "O35.00X0", "A77.41", "B37.3", "B37.31", "M99.4"]
DATES = ["2021-02-01", "2025-05-14", "2026-05-01", "2023-06-01", "2027-01-01", "2025", "2026-04"]
WORDS = ["fracture", "diab", "infection", "pain", "acute kidney", "neoplasm malig", "zzzq"]


def icd_requests(codes: list[Code], seed: int = SEED) -> list[Request]:
    """The ICD-10-CM requests: drawn from ``codes`` (the release's, in code order) with ``seed``.

    Each kind comes at ``/fhir`` (R4) and ``/r5`` in turn. The same codes and seed always
    give the same list.
    """
    rnd = random.Random(seed)
    by_code = {c.code: c for c in codes}
    billable = [c for c in codes if not c.abstract]
    headers = [c for c in codes if c.abstract]
    out: list[Request] = []
    bases = ["/fhir", "/r5"]

    def base() -> str:
        return bases[len(out) % 2]

    def pick(n: int, pool: list[Code] | None = None) -> list[Code]:
        pool = pool or codes
        return rnd.sample(pool, min(n, len(pool)))  # all of a small release's

    def wrong(display: str) -> str:
        return display.upper() if rnd.random() < 0.5 else display + " (other)"

    def ancestor(code: str) -> str | None:
        for n in range(len(code) - 1, 2, -1):
            head = code[:n].rstrip(".")
            if head != code and head in by_code:
                return head
        return None

    # $lookup, with and without a date, some asking for properties, some in XML
    for c in pick(250) + [by_code[x] for x in HISTORY_CODES if x in by_code]:
        q = [("system", ICD), ("code", c.code)]
        r = rnd.random()
        if r < 0.2:
            q.append(("date", rnd.choice(DATES)))
        elif r < 0.3:
            q += [("property", "billable"), ("property", "chapter"), ("property", "parent")]
        elif r < 0.35:
            q.append(("_format", "xml"))
        out.append(_get(base(), "CodeSystem/$lookup", q, "lookup"))
    for x in [*HISTORY_CODES, "m99.44", "M9944", "ZZZ.99", "13", "M99-M99"]:
        for d in ["", "2021-02-01", "2025-05-14", "2023-06-01"]:
            q = [("system", ICD), ("code", x)] + ([("date", d)] if d else [])
            out.append(_get(base(), "CodeSystem/$lookup", q, "lookup history"))
    out.append(_get(base(), "CodeSystem/$lookup", [("system", ICD)], "lookup error"))
    out.append(
        _get(base(), "CodeSystem/$lookup", [("system", ICD), ("code", "A00"), ("x", "1")], "error")
    )
    out.append(
        _get(base(), "CodeSystem/$lookup", [("system", ICD + "x"), ("code", "A00")], "error")
    )

    # CodeSystem $validate-code: codes, displays right and wrong, codings, dates, unknowns
    for c in pick(300):
        r = rnd.random()
        q = [("url", ICD), ("code", c.code)]
        if r < 0.3:
            q.append(("display", c.display))
        elif r < 0.5:
            q.append(("display", wrong(c.display)))
        elif r < 0.6:
            q = [("coding", f"{ICD}|{c.code}")]
        elif r < 0.75:
            q.append(("date", rnd.choice(DATES)))
        elif r < 0.85:
            q = [("url", ICD), ("code", c.code.lower() if rnd.random() < 0.5 else c.code + "9")]
        out.append(_get(base(), "CodeSystem/$validate-code", q, "cs-validate"))
    for x in [*HISTORY_CODES, "m99.44", "M9944", " M99.44", "13", "M99-M99", "ZZZ"]:
        for d in ["", "2021-02-01", "2025-05-14", "2026-05-01", "2023-06-01"]:
            q = [("url", ICD), ("code", x)] + ([("date", d)] if d else [])
            out.append(_get(base(), "CodeSystem/$validate-code", q, "cs-validate history"))
    for c in pick(40):
        v = rnd.choice(["2021", "2025", "2026", "2019"])
        q = [("url", ICD), ("code", c.code), ("version", v)]
        out.append(_get(base(), "CodeSystem/$validate-code", q, "cs-validate version"))
    for cs in [pick(2), pick(3)] * 10:
        cc = {"coding": [{"system": ICD, "code": c.code, "display": c.display} for c in cs]}
        if rnd.random() < 0.5:
            cc["coding"][0]["display"] = wrong(cs[0].display)
        if rnd.random() < 0.3:
            cc["coding"].append({"system": ICD, "code": "QQQ.1"})
        params = [
            {"name": "url", "valueUri": ICD},
            {"name": "codeableConcept", "valueCodeableConcept": cc},
        ]
        out.append(_post(base(), "CodeSystem/$validate-code", params, "cs-validate cc"))

    # ValueSet $validate-code against the shipped and implicit value sets
    vss = [VS + "icd10cm-billable"] + [VS + f"icd10cm-chapter-{n:02d}" for n in (1, 5, 13, 19, 22)]
    for c in pick(300):
        r = rnd.random()
        url = rnd.choice([*vss, f"{ICD}?fhir_vs", f"{ICD}?fhir_vs=isa/{c.code[:3]}"])
        q = [("url", url), ("system", ICD), ("code", c.code)]
        if r < 0.25:
            q.append(("display", c.display))
        elif r < 0.4:
            q.append(("display", wrong(c.display)))
        elif r < 0.5:
            q = [("url", url), ("coding", f"{ICD}|{c.code}")]
        elif r < 0.65:
            q.append(("date", rnd.choice(DATES)))
        elif r < 0.7:
            q.append(("abstract", rnd.choice(["true", "false"])))
        elif r < 0.75:
            q.append(("systemVersion", rnd.choice(["2021", "2025", "2026"])))
        out.append(_get(base(), "ValueSet/$validate-code", q, "vs-validate"))
    for x in [*HISTORY_CODES, "m99.44", "13", "ZZZ"]:
        for url in (VS + "icd10cm-billable", VS + "icd10cm-chapter-13"):
            q = [("url", url), ("system", ICD), ("code", x)]
            out.append(_get(base(), "ValueSet/$validate-code", q, "vs-validate history"))
    for cs in [pick(2), pick(3)] * 10:
        cc = {"coding": [{"system": ICD, "code": c.code} for c in cs]}
        params = [
            {"name": "url", "valueUri": rnd.choice(vss)},
            {"name": "codeableConcept", "valueCodeableConcept": cc},
        ]
        out.append(_post(base(), "ValueSet/$validate-code", params, "vs-validate cc"))

    # $expand of the shipped and implicit value sets: paging, text filter, activeOnly
    for url in vss + [VS + f"icd10cm-chapter-{n:02d}" for n in range(1, 23)]:
        for _ in range(3):
            q = [
                ("url", url),
                ("count", str(rnd.choice([0, 1, 10, 50]))),
                ("offset", str(rnd.randrange(0, 500))),
            ]
            if rnd.random() < 0.5:
                q.append(("filter", rnd.choice(WORDS)))
            if rnd.random() < 0.3:
                q.append(("activeOnly", "true"))
            if rnd.random() < 0.2:
                q.append(("date", rnd.choice(DATES[:3])))
            out.append(_get(base(), "ValueSet/$expand", q, "expand"))
    for c in pick(40, headers):
        q = [("url", f"{ICD}?fhir_vs=isa/{c.code}"), ("count", "20")]
        if rnd.random() < 0.5:
            q.append(("filter", rnd.choice(WORDS)))
        out.append(_get(base(), "ValueSet/$expand", q, "expand isa"))
    for w in WORDS:
        q = [("url", f"{ICD}?fhir_vs"), ("filter", w), ("count", "25")]
        out.append(_get(base(), "ValueSet/$expand", q, "expand text"))
    out.append(
        _get(base(), "ValueSet/$expand", [("url", VS + "icd10cm-billable")], "expand too-costly")
    )
    out.append(_get(base(), "ValueSet/$expand", [("url", VS + "nope")], "expand error"))
    out.append(
        _get(
            base(), "ValueSet/$expand", [("url", VS + "icd10cm-billable"), ("count", "-1")], "error"
        )
    )

    # $expand of compose value sets sent inline: is-a, property and concept filters, excludes
    for _ in range(60):
        heads = pick(2, headers)
        kind = rnd.randrange(7)
        if kind == 0:
            vs = _compose(_filter("concept", "is-a", heads[0].code))
        elif kind == 1:
            vs = _compose(
                _filter("concept", "is-a", heads[0].code),
                exclude=[
                    _filter("concept", "is-a", heads[1].code),
                    _filter("billable", "=", "false"),
                ],
            )
        elif kind == 2:
            vs = _compose(_filter("chapter", "=", str(rnd.randrange(1, 23))))
        elif kind == 3:
            vs = _compose(
                {"system": ICD, "concept": [{"code": c.code} for c in pick(8)]},
                exclude=[{"system": ICD, "concept": [{"code": pick(1)[0].code}]}],
            )
        elif kind == 4:
            vs = _compose(
                {
                    "system": ICD,
                    "filter": [
                        {"property": "concept", "op": "descendent-of", "value": heads[0].code},
                        {"property": "billable", "op": "=", "value": "true"},
                    ],
                }
            )
        elif kind == 5:
            vs = _compose(_filter("code", "regex", heads[0].code[:2] + "[0-9]\\..*1"))
        else:
            vs = _compose(
                _filter("concept", "is-a", heads[0].code), _filter("concept", "is-a", heads[1].code)
            )
        ps: list[dict[str, Any]] = [{"name": "valueSet", "resource": vs}]
        ps.append({"name": "count", "valueInteger": rnd.choice([5, 20, 100])})
        if rnd.random() < 0.5:
            ps.append({"name": "filter", "valueString": rnd.choice(WORDS)})
        if rnd.random() < 0.3:
            ps.append({"name": "offset", "valueInteger": rnd.randrange(0, 30)})
        if rnd.random() < 0.3:
            ps.append({"name": "activeOnly", "valueBoolean": True})
        out.append(_post(base(), "ValueSet/$expand", ps, "expand inline"))
    bad = _compose({"system": ICD, "filter": [{"property": "nope", "op": "=", "value": "1"}]})
    out.append(_post(base(), "ValueSet/$expand", [{"name": "valueSet", "resource": bad}], "error"))

    # $subsumes: a code against its ancestor both ways, itself, and unrelated codes
    for c in pick(150, billable):
        a = ancestor(c.code)
        other = pick(1)[0].code
        pair = rnd.choice(
            [(a or other, c.code), (c.code, a or other), (c.code, c.code), (c.code, other)]
        )
        q = [("system", ICD), ("codeA", pair[0]), ("codeB", pair[1])]
        out.append(_get(base(), "CodeSystem/$subsumes", q, "subsumes"))
    out.append(_get(base(), "CodeSystem/$subsumes", [("system", ICD), ("codeA", "A00")], "error"))
    out.append(
        _get(
            base(),
            "CodeSystem/$subsumes",
            [("system", ICD), ("codeA", "A00"), ("codeB", "QQ")],
            "error",
        )
    )

    # $translate: ICD-10-CM -> CPT, CPT -> ICD-10-CM (reverse), one release to the next;
    # R4's parameter names at /fhir, R5's at /r5
    def translate(
        url: str | None, system: str, code: str, kind: str, reverse: bool = False
    ) -> None:
        b = base()
        if b == "/r5":
            q = [("targetSystem" if reverse else "sourceSystem", system)]
            q.append(("targetCode" if reverse else "sourceCode", code))
        else:
            q = [("system", system), ("code", code)] + ([("reverse", "true")] if reverse else [])
        if url:
            q.insert(0, ("url", url))
        out.append(_get(b, "ConceptMap/$translate", q, kind))

    m99 = [c for c in codes if c.code.startswith("M99.")]
    for c in pick(30) + pick(30, m99):
        translate(CM + "icd10cm-to-cpt", ICD, c.code, "translate cpt")
    for code in ["98940", "98941", "98925", "98929", "99999"]:
        for cm_url in (None, CM + "icd10cm-to-cpt"):
            translate(cm_url, CPT, code, "translate reverse", reverse=True)
    for x in [*HISTORY_CODES, *(c.code for c in pick(30))]:
        for m in ("2021-to-2025", "2025-to-2026"):
            translate(CM + f"icd10cm-{m}", ICD, x, "translate release")
    out.append(_get(base(), "ConceptMap/$translate", [("code", "A00")], "error"))
    return out


# -- running ------------------------------------------------------------------------------


def _checkout_first() -> None:
    """Import fhirterm and the tests from this checkout, whatever the venv installed."""
    for p in (str(REPO), str(REPO / "src")):
        if p in sys.path:
            sys.path.remove(p)
        sys.path.insert(0, p)
    import fhirterm

    where = Path(fhirterm.__file__).resolve()
    if not where.is_relative_to(REPO / "src"):
        raise SystemExit(f"fhirterm imported from {where}, not from {REPO / 'src'}")


# The time budgets of one request (CPU for value set evaluation, wall clock for regex
# filters) are raised far beyond any request here: within the defaults, whether a
# costly request is answered or refused depends on how loaded the machine is, and a
# recording must not. Every other setting is the default, as in the tests.
UNLIMITED_MS = 3_600_000


def make_app(cache: Path) -> Callable[..., Iterable[bytes]]:
    """The production WSGI stack over the tests' full registry (tests/conftest.py)."""
    from fhirterm.config import Settings
    from fhirterm.loading import load_registry
    from fhirterm.web.app import create_wsgi

    content = REPO / "codesystems"
    registry = load_registry(Settings(content_dir=content, cache_dir=cache))
    settings = Settings(
        content_dir=content, cpu_budget_ms=UNLIMITED_MS, regex_budget_ms=UNLIMITED_MS
    )
    return create_wsgi(settings, registry)


def call(app: Callable[..., Iterable[bytes]], req: Request) -> tuple[int, str, bytes]:
    """Status, Content-Type and body bytes of ``req`` answered by the WSGI ``app``."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    env = EnvironBuilder(
        path=req.path,
        method=req.method,
        query_string=req.query,
        headers=list(req.headers.items()),
        data=req.body,
        content_type=req.headers.get("Content-Type"),
    ).get_environ()
    # buffered: the answer is read whole and the app's iterable closed
    app_iter, status, headers = run_wsgi_app(app, env, buffered=True)
    return int(status.split()[0]), headers.get("Content-Type", ""), b"".join(app_iter)


def release_codes(app: Callable[..., Iterable[bytes]]) -> list[Code]:
    """Every code of the newest ICD-10-CM release, read through the app's own $expand."""
    codes: list[Code] = []
    page = 10_000
    while True:
        q = urlencode(
            [("url", f"{ICD}?fhir_vs"), ("count", str(page)), ("offset", str(len(codes)))]
        )
        status, _, body = call(app, Request("GET", "/r5/ValueSet/$expand", q))
        if status != 200:
            raise SystemExit(f"cannot list the ICD-10-CM codes: {status} {body[:300]!r}")
        contains = json.loads(body)["expansion"].get("contains", [])
        codes += [Code(c["code"], c.get("display", ""), bool(c.get("abstract"))) for c in contains]
        if len(contains) < page:
            return sorted(codes, key=lambda c: c.code)


def _commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return r.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "src"))}


def write(out: Path, app: Callable[..., Iterable[bytes]], reqs: list[Request], **head: Any) -> None:
    """Send each request to ``app`` and write the recording (``head`` goes into its first line)."""
    first = {"format": FORMAT, **_commit(), **head, "requests": len(reqs)}
    # mtime 0: the same answers give the same file
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(first).encode() + b"\n")
        for req in reqs:
            status, ctype, body = call(app, req)
            line = {**req.record(), "status": status, "content_type": ctype}
            line.update(_body_fields("response", body))
            f.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n")


def record(out: Path, cache: Path, only: str | None) -> int:
    _checkout_first()
    t0 = time.perf_counter()
    app = make_app(cache)
    print(f"app ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    reqs: list[Request] = []
    if only in (None, "conformance"):
        reqs += conformance_requests()
    if only in (None, "icd"):
        reqs += icd_requests(release_codes(app))
    t1 = time.perf_counter()
    write(out, app, reqs, seed=SEED, only=only or "all")
    head = _commit()
    print(
        f"{len(reqs)} answers in {time.perf_counter() - t1:.1f} s -> {out} "
        f"(commit {head['commit'][:12]}{', src changed' if head['dirty'] else ''})",
        file=sys.stderr,
    )
    return 0


# -- comparing ----------------------------------------------------------------------------


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The head line and the answer lines of a recording."""
    with gzip.open(path, "rb") as f:
        lines = [json.loads(x) for x in f if x.strip()]
    if not lines or lines[0].get("format") != FORMAT:
        raise SystemExit(f"{path}: not a recording of this script ({FORMAT})")
    return lines[0], lines[1:]


def _request_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["method"], rec["path"], rec["query"], _body_of(rec, "body"))


def _pretty(body: bytes) -> list[str]:
    try:
        text = json.dumps(json.loads(body), indent=1, ensure_ascii=False)
    except ValueError:
        text = body.decode("utf-8", "replace")
    return text.splitlines()


def _describe(rec: dict[str, Any]) -> str:
    req = _body_of(rec, "body")
    shown = f"\n  body: {req[:400].decode('utf-8', 'replace')}" if req else ""
    query = f"?{rec['query']}" if rec["query"] else ""
    return f"{rec['method']} {rec['path']}{query}  [{rec.get('source', '')}]{shown}"


def answer(rec: dict[str, Any], raw: bool = False) -> bytes:
    """The recorded response body, scrubbed unless ``raw``."""
    body = _body_of(rec, "response") or b""
    return body if raw else scrub(body)


def differences(a: list[dict[str, Any]], b: list[dict[str, Any]], raw: bool = False) -> list[int]:
    """Indexes of the requests whose answers differ (status, Content-Type or body)."""
    return [
        i
        for i, (x, y) in enumerate(zip(a, b, strict=True))
        if (x["status"], x["content_type"]) != (y["status"], y["content_type"])
        or answer(x, raw) != answer(y, raw)
    ]


def compare(a_path: Path, b_path: Path, show: int, raw: bool = False) -> int:
    (ha, a), (hb, b) = read(a_path), read(b_path)
    print(f"A: {a_path} (commit {ha['commit'][:12]}{' +changes' if ha['dirty'] else ''})")
    print(f"B: {b_path} (commit {hb['commit'][:12]}{' +changes' if hb['dirty'] else ''})")
    if len(a) != len(b) or any(
        _request_key(x) != _request_key(y) for x, y in zip(a, b, strict=False)
    ):
        n = next(
            (
                i
                for i, (x, y) in enumerate(zip(a, b, strict=False))
                if _request_key(x) != _request_key(y)
            ),
            min(len(a), len(b)),
        )
        print(f"the recordings hold different requests ({len(a)} and {len(b)}; first at #{n})")
        return 2
    diff = differences(a, b, raw)
    print(f"{len(diff)} of {len(a)} answers differ")
    kinds = Counter(" ".join(str(a[i].get("source", "")).split()[:2]) for i in diff)
    if kinds:
        print("by source: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    for i in diff[:show]:
        x, y = a[i], b[i]
        print(f"\n#{i} {_describe(x)}")
        if (x["status"], x["content_type"]) != (y["status"], y["content_type"]):
            print(
                f"  status/Content-Type: {x['status']} {x['content_type']} -> {y['status']} {y['content_type']}"
            )
        lines = difflib.unified_diff(
            _pretty(answer(x, raw)),
            _pretty(answer(y, raw)),
            "A",
            "B",
            lineterm="",
            n=2,
        )
        print("\n".join(lines))
    return 1 if diff else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the answers of this checkout")
    rec.add_argument("out", type=Path)
    rec.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="parse cache of the releases (default FHIRTERM_TEST_CACHE, else FHIRTERM_CACHE_DIR, else a temporary one)",
    )
    rec.add_argument("--only", choices=["conformance", "icd"], default=None)
    cmp_ = sub.add_parser("compare", help="compare two recordings")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    cmp_.add_argument("--show", type=int, default=5, help="differences shown in full")
    cmp_.add_argument("--raw", action="store_true", help="compare without the scrubs")
    args = ap.parse_args(argv)
    if args.command == "compare":
        return compare(args.a, args.b, args.show, args.raw)
    env_cache = os.environ.get("FHIRTERM_TEST_CACHE") or os.environ.get("FHIRTERM_CACHE_DIR")
    if args.cache or env_cache:
        return record(args.out, args.cache or Path(env_cache or ""), args.only)
    with tempfile.TemporaryDirectory() as tmp:
        return record(args.out, Path(tmp), args.only)


if __name__ == "__main__":
    sys.exit(main())
