#!/usr/bin/env python3
"""Benchmark the real fhirterm server: time to ready, memory, and wrk load tests.

Run from anywhere with the project's venv (fhirterm installed)::

    python bench/bench.py                      # full run: 10 s per load test, 2 workers
    python bench/bench.py --quick              # 2 s runs, a smoke check
    python bench/bench.py --only lookup --connections 10 --duration 20

What it does (bench/README.md has the details):

1. Starts ``fhirterm serve --host 127.0.0.1 --port <free> --workers N`` from the
   repository root with ``FHIRTERM_BENCH_STATIC=1`` and ``FHIRTERM_CACHE_DIR``
   set to a fresh temporary folder, and times process start -> first 200 from
   ``GET /readyz`` (polled every 20 ms): the cold start. Then starts it again on
   the same cache (the warm start, the figure the 2 s target applies to).
2. Sums RSS and PSS (``/proc/<pid>/smaps_rollup``) over the server process and
   all its descendants, after load and again after all load tests.
3. Checks known answers once (abort if wrong), then runs wrk at each
   connection count against the server's floor (``/_bench/bare``, a bare WSGI
   callable), the static ceiling (``/_bench/static``, a Flask route) and each
   selected test, interleaved so that every ratio compares runs made minutes
   apart at most.
4. Prints a table and writes JSON (``--json``, default bench-results/bench.json).

The server is always stopped (SIGTERM, then SIGKILL to its process group after
a timeout), also on errors, Ctrl-C and SIGTERM. Traffic goes to 127.0.0.1 only.

Adding a test: write a function returning the request list (see ``Pool`` for
sampled codes) and a known-answer check, and append a ``BenchTest`` to
``TESTS``. Nothing else needs to change.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA_DRIVER = Path(__file__).resolve().parent / "lua" / "cycle.lua"
HOST = "127.0.0.1"  # loopback only, by design: there is no option to change it
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
STATIC = "STATIC"
BARE = "BARE"
POLL_S = 0.020
# The benchmark's targets on this machine, all checked by targets() in every run.
TARGET_WARM_READY_S = 2.0
# 300 MB with the three bundled ICD-10-CM releases loaded (250 when one was)
TARGET_PSS_MB = 300.0
# the read operations the ratio, throughput and latency targets apply to
TARGET_TESTS = ("LK01", "LK05", "VC01", "VC02", "VC03", "SS01", "CM01")
TARGET_RATIO = 0.8  # of the static ceiling, at each of TARGET_RATIO_CONNS
TARGET_RATIO_CONNS = (10, 50)
TARGET_RPS = 10_000.0  # requests/s at TARGET_RPS_CONNS connections
TARGET_RPS_CONNS = 10
TARGET_P50_MS = 0.3  # at one connection
TARGET_EX03_P50_MS = 2.0  # at one connection
TARGET_EX04_P50_MS = 2.0  # at one connection


class BenchError(Exception):
    """A failure that ends the benchmark with a message (server stopped first)."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- HTTP (checks only)

# No proxies, ever: the checks talk to the local server only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(base: str, path: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET base+path; (status, parsed JSON body or raw text). Never raises for HTTP statuses."""
    req = urllib.request.Request(base + path, headers={"Accept": "application/fhir+json"})
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def param(body: Any, name: str) -> Any:
    """The value[x] of the first Parameters.parameter called ``name`` (None if absent)."""
    if not isinstance(body, dict):
        return None
    for p in body.get("parameter", []):
        if p.get("name") == name:
            for k, v in p.items():
                if k.startswith("value"):
                    return v
    return None


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise BenchError(msg)


# --------------------------------------------------------------------------- request pools


@dataclass(frozen=True, slots=True)
class Request:
    """One request wrk sends; ``body`` (with ``content_type``) makes it a POST-style request."""

    path: str
    method: str = "GET"
    body: str | None = None
    content_type: str | None = None


class Pool:
    """Codes drawn at random (fixed seed) from the ICD-10-CM release the server loads.

    The index is loaded once, lazily, through the same loader (and cache) as the
    server, so the codes and displays are exactly those the server holds.
    """

    def __init__(self, cache_dir: Path | None, size: int, seed: int) -> None:
        self.cache_dir = cache_dir
        self.size = size
        self.seed = seed
        self._index: Any = None

    @property
    def index(self) -> Any:
        if self._index is None:
            try:
                from fhirterm.loading import load_icd10cm
            except ImportError as e:
                raise BenchError(
                    f"cannot import fhirterm ({e}); run with the project's venv"
                ) from None
            t = time.perf_counter()
            # the newest bundled release, under the name (and cache key) the server uses
            from fhirterm.providers import icd10cm

            self._index = load_icd10cm(str(icd10cm.bundled_xml()), self.cache_dir)
            log(
                f"ICD-10-CM index for request pools loaded in {time.perf_counter() - t:.2f} s "
                f"({len(self._index.concepts)} codes)"
            )
        return self._index

    @property
    def releases(self) -> list[Any]:
        """Every bundled ICD-10-CM release (oldest first), loaded as the server loads them."""
        found: list[Any] | None = getattr(self, "_releases", None)
        if found is None:
            from fhirterm.loading import load_icd10cm
            from fhirterm.providers import icd10cm

            found = [load_icd10cm(str(p), self.cache_dir) for p in icd10cm.bundled_files()]
            self._releases = found
        return found

    def dated(self, salt: str = "dated") -> list[tuple[str, str]]:
        """``size`` (code, date of service) pairs: a random day in the period of a random
        release, and a code of that release or (one time in four) of another, so some
        answers are a code not valid that day, with its history."""
        rng = self.rng(salt)
        releases = [r for r in self.releases if r.info.effective]
        codes = [sorted(r.concepts) for r in releases]
        out: list[tuple[str, str]] = []
        for _ in range(self.size):
            i = rng.randrange(len(releases))
            start, end = (dt.date.fromisoformat(d) for d in releases[i].info.effective)
            day = start + dt.timedelta(days=rng.randrange((end - start).days + 1))
            j = i if rng.random() < 0.75 else rng.randrange(len(releases))
            out.append((rng.choice(codes[j]), day.isoformat()))
        return out

    def rng(self, salt: str) -> random.Random:
        return random.Random(f"{self.seed}:{salt}")

    def existing(self, salt: str = "existing") -> list[Any]:
        """``size`` concepts (headers included) sampled without replacement."""
        codes = sorted(self.index.concepts)
        picked = self.rng(salt).sample(codes, min(self.size, len(codes)))
        return [self.index.concepts[c] for c in picked]

    def missing(self, salt: str = "missing") -> list[str]:
        """``size`` codes that are neither codes nor groupings: near misses of real codes.

        Three kinds in turn: an extra trailing digit (E11.659), lower case
        (e11.65) and the dot left out (E1165); the last two make the server
        look for a suggestion, as real typos do.
        """
        ix = self.index
        rng = self.rng(salt)
        codes = sorted(ix.concepts)
        out: list[str] = []
        seen: set[str] = set()
        kinds = (lambda c: c + "9", lambda c: c.lower(), lambda c: c.replace(".", ""))
        attempts = 0
        while len(out) < self.size and attempts < self.size * 50:
            attempts += 1
            cand = kinds[len(out) % 3](rng.choice(codes))
            if cand in ix.concepts or cand in ix.groupings or cand in seen:
                continue
            seen.add(cand)
            out.append(cand)
        return out


def q(v: str) -> str:
    return urllib.parse.quote(v, safe="")


# --------------------------------------------------------------------------- tests


Check = Callable[[str], None]  # known-answer check against the base address
Verify = Callable[[int, Any], str | None]  # a sampled answer: None if fine, else why not


@dataclass(frozen=True)
class BenchTest:
    """A named load test: what to request, what a right answer is.

    ``requests`` builds the request list from the pool; ``check`` runs once
    against the server before any load and raises BenchError on a wrong
    answer; ``verify`` is applied to the first ``--verify`` requests of the
    list. ``expected`` are the statuses counted as success under load (any
    other status, and socket errors, count as errors).
    """

    name: str
    title: str
    requests: Callable[[Pool], list[Request]]
    check: Check
    verify: Verify
    expected: frozenset[int] = frozenset({200})
    aliases: tuple[str, ...] = ()


KNOWN_CODE = "M99.44"
KNOWN_DISPLAY = "Connective tissue stenosis of neural canal of sacral region"
KNOWN_MISSING = "M99.449"


def lookup_path(code: str) -> str:
    return f"/fhir/CodeSystem/$lookup?system={q(ICD10CM)}&code={q(code)}"


def validate_path(code: str, display: str | None) -> str:
    p = f"/fhir/CodeSystem/$validate-code?url={q(ICD10CM)}&code={q(code)}"
    return p + (f"&display={q(display)}" if display is not None else "")


def _static_requests(_: Pool) -> list[Request]:
    return [Request("/_bench/static")]


def _fixed_body_check(path: str) -> Check:
    """The known answer of a reference route (/_bench/static, /_bench/bare): a Parameters."""

    def check(base: str) -> None:
        st, body = http_get(base, path)
        expect(st == 200, f"{path} answered {st}; is FHIRTERM_BENCH_STATIC=1 honoured?")
        expect(
            isinstance(body, dict) and body.get("resourceType") == "Parameters",
            f"{path} did not answer a Parameters resource",
        )

    return check


def _static_verify(st: int, body: Any) -> str | None:
    return None if st == 200 else f"status {st}"


def _bare_requests(_: Pool) -> list[Request]:
    return [Request("/_bench/bare")]


def _lk01_requests(pool: Pool) -> list[Request]:
    return [Request(lookup_path(c.code)) for c in pool.existing()]


def _lk01_check(base: str) -> None:
    st, body = http_get(base, lookup_path(KNOWN_CODE))
    expect(st == 200, f"LK01 known answer: $lookup {KNOWN_CODE} answered {st}: {str(body)[:300]}")
    got = param(body, "display")
    expect(
        got == KNOWN_DISPLAY,
        f"LK01 known answer: display of {KNOWN_CODE} is {got!r}, expected {KNOWN_DISPLAY!r}",
    )


def _lk01_verify(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    if param(body, "display") is None:
        return "no display in the answer"
    return None


def _lk05_requests(pool: Pool) -> list[Request]:
    return [Request(lookup_path(c)) for c in pool.missing()]


def _not_found(st: int, body: Any) -> str | None:
    if st != 404:
        return f"status {st}, expected 404"
    if not (isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"):
        return "not an OperationOutcome"
    if not any(i.get("code") == "not-found" for i in body.get("issue", [])):
        return "no issue with code not-found"
    return None


def _lk05_check(base: str) -> None:
    st, body = http_get(base, lookup_path(KNOWN_MISSING))
    why = _not_found(st, body)
    expect(why is None, f"LK05 known answer: $lookup {KNOWN_MISSING}: {why}: {str(body)[:300]}")


def _vc01_requests(pool: Pool) -> list[Request]:
    return [Request(validate_path(c.code, c.display)) for c in pool.existing()]


def _vc01_check(base: str) -> None:
    st, body = http_get(base, validate_path(KNOWN_CODE, KNOWN_DISPLAY))
    expect(
        st == 200,
        f"VC01 known answer: $validate-code {KNOWN_CODE} answered {st}: {str(body)[:300]}",
    )
    expect(
        param(body, "result") is True,
        f"VC01 known answer: result is {param(body, 'result')!r}, expected true: {str(body)[:300]}",
    )
    st, body = http_get(base, validate_path(KNOWN_CODE, "Not the display"))
    expect(
        st == 200 and param(body, "result") is False,
        f"VC01 known answer: a wrong display gave status {st}, result {param(body, 'result')!r}",
    )


def _vc01_verify(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    if param(body, "result") is not True:
        return f"result {param(body, 'result')!r}: {param(body, 'message')!r}"
    return None


def _vd01_requests(pool: Pool) -> list[Request]:
    return [Request(f"{validate_path(c, None)}&date={d}") for c, d in pool.dated()]


def _vd01_check(base: str) -> None:
    # O35.0XX0 was in the January 2021 release and deleted in April 2025
    for date, want in (("2021-02-01", True), ("2025-05-01", False)):
        st, body = http_get(base, f"{validate_path('O35.0XX0', None)}&date={date}")
        expect(
            st == 200 and param(body, "result") is want,
            f"VD01 known answer: O35.0XX0 on {date} gave status {st}, result "
            f"{param(body, 'result')!r}, expected {want}: {str(body)[:300]}",
        )
    st, body = http_get(base, f"{validate_path('O35.0XX0', None)}&date=2023-05-01")
    expect(st == 404, f"VD01 known answer: a date no release covers gave status {st}")


def _vd01_verify(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    if param(body, "result") not in (True, False):
        return f"result {param(body, 'result')!r}"
    return None


CEILING = BenchTest(
    STATIC,
    "GET /_bench/static: fixed ~1.5 KB Parameters (the ceiling)",
    _static_requests,
    _fixed_body_check("/_bench/static"),
    _static_verify,
    aliases=("static", "ceiling"),
)

# The same body from a bare WSGI callable in front of the whole stack: what
# granian, the network and wrk alone allow on this machine in this run (no
# Flask, none of our code). Not a target; it tells a slow day from a slow change.
FLOOR = BenchTest(
    BARE,
    "GET /_bench/bare: the same body from a bare WSGI callable (the server's floor)",
    _bare_requests,
    _fixed_body_check("/_bench/bare"),
    _static_verify,
    aliases=("bare", "floor"),
)

# The named tests, in run order. Names follow the HealthSamurai tx-benchmark
# where the operation matches (LKxx lookup, VCxx validate-code, EXxx expand,
# SSxx subsumes, CMxx translate).
TESTS: list[BenchTest] = [
    BenchTest(
        "LK01",
        "CodeSystem $lookup, random existing ICD-10-CM codes",
        _lk01_requests,
        _lk01_check,
        _lk01_verify,
        aliases=("lookup",),
    ),
    BenchTest(
        "LK05",
        "CodeSystem $lookup, codes that do not exist (404 expected)",
        _lk05_requests,
        _lk05_check,
        _not_found,
        expected=frozenset({404}),
        aliases=("lookup-missing", "missing"),
    ),
    BenchTest(
        "VC01",
        "CodeSystem $validate-code, random existing codes with their display",
        _vc01_requests,
        _vc01_check,
        _vc01_verify,
        aliases=("validate", "validate-code"),
    ),
    BenchTest(
        "VD01",
        "CodeSystem $validate-code, random codes with random dates of service",
        _vd01_requests,
        _vd01_check,
        _vd01_verify,
        aliases=("dated", "date-of-service"),
    ),
]


# ValueSet, subsumption and translation tests (names after tx-benchmark)

CPT_MAP = "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt"


def vs_validate_path(vs: str, code: str, display: str | None = None) -> str:
    p = f"/fhir/ValueSet/$validate-code?url={q(vs)}&system={q(ICD10CM)}&code={q(code)}"
    return p + (f"&display={q(display)}" if display is not None else "")


def _category(pool: Pool, code: str) -> str:
    """The three-character category above ``code`` (the root of its chain)."""
    chain = [code, *pool.index.ancestors(code)]
    return chain[-1]


def _vc02_requests(pool: Pool) -> list[Request]:
    return [
        Request(vs_validate_path(f"{ICD10CM}?fhir_vs", c.code, c.display))
        for c in pool.existing("vc02")
    ]


def _vc02_check(base: str) -> None:
    st, body = http_get(base, vs_validate_path(f"{ICD10CM}?fhir_vs", KNOWN_CODE, KNOWN_DISPLAY))
    expect(
        st == 200 and param(body, "result") is True, f"VC02 known answer: {st} {str(body)[:300]}"
    )


def _vc03_requests(pool: Pool) -> list[Request]:
    return [
        Request(vs_validate_path(f"{ICD10CM}?fhir_vs=isa/{_category(pool, c.code)}", c.code))
        for c in pool.existing("vc03")
    ]


def _vc03_check(base: str) -> None:
    st, body = http_get(base, vs_validate_path(f"{ICD10CM}?fhir_vs=isa/M99", KNOWN_CODE))
    expect(
        st == 200 and param(body, "result") is True,
        f"VC03 known answer (member): {st} {str(body)[:300]}",
    )
    st, body = http_get(base, vs_validate_path(f"{ICD10CM}?fhir_vs=isa/M48", KNOWN_CODE))
    expect(
        st == 200 and param(body, "result") is False,
        f"VC03 known answer (not a member): {str(body)[:300]}",
    )


def _result_true(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    return None if param(body, "result") is True else f"result {param(body, 'result')!r}"


def _ex03_requests(pool: Pool) -> list[Request]:
    """Text filters as a user types them: one or two word prefixes of a real display, count 20 to 100."""
    rng = pool.rng("ex03")
    out: list[Request] = []
    counts = (20, 50, 100)
    for i, c in enumerate(pool.existing("ex03")):
        text = _filter_text(rng, c.display, 1 + i % 2)
        if text is None:
            continue
        out.append(
            Request(
                f"/fhir/ValueSet/$expand?url={q(ICD10CM + '?fhir_vs')}&filter={q(text)}"
                f"&count={counts[i % 3]}"
            )
        )
    return out


def _ex20_requests(pool: Pool) -> list[Request]:
    """EX03's queries with count 20 only (the value set engine's target: median 2 ms at one connection)."""
    return [Request(r.path.rsplit("&count=", 1)[0] + "&count=20") for r in _ex03_requests(pool)]


def _ex03_check(base: str) -> None:
    st, body = http_get(
        base,
        f"/fhir/ValueSet/$expand?url={q(ICD10CM + '?fhir_vs')}&filter=sacral%20stenosis&count=20",
    )
    codes = (
        [c["code"] for c in (body or {}).get("expansion", {}).get("contains", [])]
        if st == 200
        else []
    )
    expect(
        KNOWN_CODE in codes,
        f"EX03 known answer: 'sacral stenosis' misses {KNOWN_CODE}: {st} {str(body)[:300]}",
    )


BILLABLE_VS = "http://fhirterm.org/fhir/ValueSet/icd10cm-billable"
CHAPTER_VS = "http://fhirterm.org/fhir/ValueSet/icd10cm-chapter-"


def _filter_text(rng: random.Random, display: str | None, n: int) -> str | None:
    """One or two (``n``) word prefixes of a display, as a user types them (EX03's way)."""
    words = [w for w in (display or "").replace(",", " ").split() if len(w) >= 4]
    if not words:
        return None
    picked = rng.sample(words, min(len(words), n))
    return " ".join(w[: max(4, len(w) - rng.randint(0, 3))].lower() for w in picked)


def _inline_expand(include: dict[str, Any], text: str, count: int) -> Request:
    """POST $expand of a value set given inline (its compose: one include)."""
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "valueSet",
                "resource": {
                    "resourceType": "ValueSet",
                    "status": "active",
                    "compose": {"include": [include]},
                },
            },
            {"name": "filter", "valueString": text},
            {"name": "count", "valueInteger": count},
        ],
    }
    return Request("/fhir/ValueSet/$expand", "POST", json.dumps(body), "application/fhir+json")


def _ex04_requests(pool: Pool) -> list[Request]:
    """Text filters over value sets defined by a compose, count 20 to 100, five kinds in
    turn: the billable codes (a property filter over every code), the is-a value set of the
    code's category, the value set of its chapter (a property filter), an inline compose of
    is-a the category and billable = true, and an inline list of the 100 codes around it."""
    rng = pool.rng("ex04")
    codes = sorted(pool.index.concepts)
    at = {c: i for i, c in enumerate(codes)}
    counts = (20, 50, 100)
    out: list[Request] = []
    for i, c in enumerate(pool.existing("ex04")):
        text = _filter_text(rng, c.display, 1 + i % 2)
        if text is None:
            continue
        count, kind = counts[i % 3], i % 5
        tail = f"&filter={q(text)}&count={count}"
        if kind == 0:
            out.append(Request(f"/fhir/ValueSet/$expand?url={q(BILLABLE_VS)}{tail}"))
        elif kind == 1:
            vs = f"{ICD10CM}?fhir_vs=isa/{_category(pool, c.code)}"
            out.append(Request(f"/fhir/ValueSet/$expand?url={q(vs)}{tail}"))
        elif kind == 2:
            chapter = next((str(p.value) for p in c.properties if p.code == "chapter"), "1")
            vs = CHAPTER_VS + chapter.zfill(2)
            out.append(Request(f"/fhir/ValueSet/$expand?url={q(vs)}{tail}"))
        elif kind == 3:
            include = {
                "system": ICD10CM,
                "filter": [
                    {"property": "concept", "op": "is-a", "value": _category(pool, c.code)},
                    {"property": "billable", "op": "=", "value": "true"},
                ],
            }
            out.append(_inline_expand(include, text, count))
        else:
            near = codes[max(0, at[c.code] - 50) : at[c.code] + 50]
            include = {"system": ICD10CM, "concept": [{"code": code} for code in near]}
            out.append(_inline_expand(include, text, count))
    return out


def _ex04_check(base: str) -> None:
    """'stenosis neural canal' matches the ten codes of each of M99.2 to M99.5 and those
    four headers: 40 billable codes (no header among them), 44 in the is-a value set of
    M99."""
    headers = ("M99.2", "M99.3", "M99.4", "M99.5")
    for vs, total, billable in ((BILLABLE_VS, 40, True), (f"{ICD10CM}?fhir_vs=isa/M99", 44, False)):
        st, body = http_get(
            base, f"/fhir/ValueSet/$expand?url={q(vs)}&filter={q('stenosis neural canal')}&count=50"
        )
        expansion = (body or {}).get("expansion", {}) if st == 200 else {}
        codes = [c["code"] for c in expansion.get("contains", [])]
        has_header = any(h in codes for h in headers)
        expect(
            expansion.get("total") == total and KNOWN_CODE in codes and has_header is not billable,
            f"EX04 known answer: 'stenosis neural canal' in {vs}: total "
            f"{expansion.get('total')} (expected {total}), codes {codes} (expected {KNOWN_CODE}, "
            f"{'no' if billable else 'the'} headers {', '.join(headers)}): {st} {str(body)[:300]}",
        )


def _ex03_verify(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    return None if body.get("expansion", {}).get("contains") else "no match"


def _ss01_requests(pool: Pool) -> list[Request]:
    out = []
    for i, c in enumerate(pool.existing("ss01")):
        a = _category(pool, c.code)
        pair = (a, c.code) if i % 2 == 0 else (c.code, a)
        out.append(
            Request(
                f"/fhir/CodeSystem/$subsumes?system={q(ICD10CM)}&codeA={q(pair[0])}&codeB={q(pair[1])}"
            )
        )
    return out


def _ss01_check(base: str) -> None:
    st, body = http_get(
        base, f"/fhir/CodeSystem/$subsumes?system={q(ICD10CM)}&codeA=M99&codeB={KNOWN_CODE}"
    )
    expect(
        st == 200 and param(body, "outcome") == "subsumes",
        f"SS01 known answer: {st} {str(body)[:300]}",
    )


def _ss01_verify(st: int, body: Any) -> str | None:
    if st != 200:
        return f"status {st}"
    ok = param(body, "outcome") in ("subsumes", "subsumed-by", "equivalent")
    return None if ok else f"outcome {param(body, 'outcome')!r}"


def _cm01_requests(pool: Pool) -> list[Request]:
    codes = [
        c
        for c in sorted(pool.index.concepts)
        if c.startswith("M99.") and not pool.index.children_of(c)
    ]
    return [
        Request(f"/fhir/ConceptMap/$translate?url={q(CPT_MAP)}&system={q(ICD10CM)}&code={q(c)}")
        for c in codes
    ]


def _cm01_check(base: str) -> None:
    st, body = http_get(
        base, f"/fhir/ConceptMap/$translate?url={q(CPT_MAP)}&system={q(ICD10CM)}&code={KNOWN_CODE}"
    )
    matches = (
        [p for p in (body or {}).get("parameter", []) if p.get("name") == "match"]
        if st == 200
        else []
    )
    expect(
        len(matches) == 7,
        f"CM01 known answer: {KNOWN_CODE} has {len(matches)} CPT matches, expected 7",
    )


TESTS += [
    BenchTest(
        "VC02",
        "ValueSet $validate-code with display, implicit all-codes value set",
        _vc02_requests,
        _vc02_check,
        _result_true,
        aliases=("vs-validate",),
    ),
    BenchTest(
        "VC03",
        "ValueSet $validate-code, is-a membership (implicit ?fhir_vs=isa/CATEGORY)",
        _vc03_requests,
        _vc03_check,
        _result_true,
        aliases=("isa", "membership"),
    ),
    BenchTest(
        "EX03",
        "ValueSet $expand text filter over all ICD-10-CM, count 20 to 100",
        _ex03_requests,
        _ex03_check,
        _ex03_verify,
        aliases=("expand",),
    ),
    BenchTest(
        "EX20",
        "ValueSet $expand text filter over all ICD-10-CM, count 20",
        _ex20_requests,
        _ex03_check,
        _ex03_verify,
        aliases=("expand20",),
    ),
    BenchTest(
        "EX04",
        "ValueSet $expand text filter over compose value sets (billable, is-a, chapter, "
        "concept list), count 20 to 100",
        _ex04_requests,
        _ex04_check,
        _ex03_verify,
        aliases=("expand-compose", "compose"),
    ),
    BenchTest(
        "SS01",
        "CodeSystem $subsumes, category against a descendant (both directions)",
        _ss01_requests,
        _ss01_check,
        _ss01_verify,
        aliases=("subsumes",),
    ),
    BenchTest(
        "CM01",
        "ConceptMap $translate of the billable M99 codes to CPT",
        _cm01_requests,
        _cm01_check,
        _result_true,
        aliases=("translate",),
    ),
]


def select_tests(only: str | None) -> list[BenchTest]:
    if not only:
        return list(TESTS)
    by_name: dict[str, BenchTest] = {}
    for t in TESTS:
        for key in (t.name, *t.aliases):
            by_name[key.lower()] = t
    out: list[BenchTest] = []
    for raw in only.split(","):
        key = raw.strip().lower()
        if not key or key in ("static", "ceiling", "bare", "floor"):
            continue  # the ceiling and the floor always run
        if key not in by_name:
            names = ", ".join(f"{t.name} ({'/'.join(t.aliases)})" for t in TESTS)
            raise BenchError(f"unknown test {raw!r}; known: {names}")
        if by_name[key] not in out:
            out.append(by_name[key])
    return out


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def env_bin(name: str) -> str | None:
    """An executable of this interpreter's environment, else one on PATH, else None."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def server_command(port: int, workers: int, extra: tuple[str, ...] = ()) -> list[str]:
    exe = env_bin("fhirterm")
    head = [exe] if exe else [sys.executable, "-m", "fhirterm.cli"]
    return [*head, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers), *extra]


# Server settings the command line sets for the measured server (e.g. the response cache).
SERVER_SETTINGS: dict[str, str] = {}


def server_env(cache_dir: Path) -> dict[str, str]:
    # Settings come from FHIRTERM_* variables: drop the caller's, so every run
    # serves the same content (the bundled release and ./codesystems).
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRTERM_")}
    env.update(SERVER_SETTINGS)
    env["FHIRTERM_BENCH_STATIC"] = "1"
    env["FHIRTERM_CACHE_DIR"] = str(cache_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    """A running ``fhirterm serve`` in its own process group, with its output captured."""

    port: int
    workers: int
    proc: subprocess.Popen[bytes]
    t0: float
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    worker_started: list[float] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @classmethod
    def start(
        cls,
        workers: int,
        cache_dir: Path,
        extra: tuple[str, ...] = (),
        command: Callable[[int], list[str]] | None = None,
    ) -> Server:
        """Start ``fhirterm serve`` (or ``command(port)``, another server of the same
        app: bench/servers.py) on a free port of 127.0.0.1."""
        port = free_port()
        cmd = command(port) if command is not None else server_command(port, workers, extra)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=server_env(cache_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # own process group: Ctrl-C reaches us, we stop it
        srv = cls(port, workers, proc, t0)
        srv._reader = threading.Thread(target=srv._read, daemon=True)
        srv._reader.start()
        return srv

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if "Started worker" in line:  # granian logs this once a worker has imported the app
                self.worker_started.append(time.perf_counter() - self.t0)

    def tail(self, n: int = 25) -> str:
        return "\n".join(list(self.lines)[-n:])

    def wait_ready(self, timeout: float) -> float:
        """Seconds from process start to the first 200 from /readyz (polled every 20 ms)."""
        deadline = self.t0 + timeout
        tick = self.t0
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"server exited with {self.proc.returncode} before it was ready:\n{self.tail()}"
                )
            try:
                req = urllib.request.Request(self.base + "/readyz")
                with _OPENER.open(req, timeout=1.0) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.t0
            except (urllib.error.URLError, OSError):
                pass
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"server not ready after {timeout:.0f} s:\n{self.tail()}")
            tick += POLL_S
            if tick > now:
                time.sleep(tick - now)
            else:
                tick = now

    def wait_all_workers(self, timeout: float) -> float | None:
        """Seconds from start until every worker logged that it started (None if not seen in time)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if len(self.worker_started) >= self.workers:
                return self.worker_started[self.workers - 1]
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL to the process group after ``timeout``; never raises.

        Ctrl-C and SIGTERM are held back while it runs (and delivered after), so
        a second Ctrl-C cannot leave the server running.
        """
        pgid = self.proc.pid  # start_new_session: the group is ours alone
        held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log(f"server {pgid} ignored SIGTERM for {timeout:.0f} s; SIGKILL")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    self.proc.wait(5)
            # workers left behind by a main process that died
            if _group_members(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        except Exception as e:  # stopping must not hide the original error
            log(f"stopping server {pgid}: {e}")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if self._reader is not None:
            self._reader.join(2)


def _group_members(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(d.name))
    return out


@contextlib.contextmanager
def running(workers: int, cache_dir: Path, extra: tuple[str, ...] = ()) -> Iterator[Server]:
    srv = Server.start(workers, cache_dir, extra)
    try:
        yield srv
    finally:
        srv.stop()


# --------------------------------------------------------------------------- memory


def descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pid: int) -> dict[str, Any]:
    """RSS and PSS in MB summed over the process tree, from smaps_rollup."""
    rss = pss = 0
    per: list[dict[str, Any]] = []
    for p in descendants(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        kb = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:", "Pss_Anon:", "Pss_File:"):
                kb[parts[0][:-1]] = int(parts[1])
        rss += kb.get("Rss", 0)
        pss += kb.get("Pss", 0)
        per.append(
            {
                "pid": p,
                "rss_mb": round(kb.get("Rss", 0) / 1024, 1),
                "pss_mb": round(kb.get("Pss", 0) / 1024, 1),
                # anonymous (the heap: Python objects, memos) against file-backed
                # (the packed releases' memory map, shared by all processes)
                "pss_anon_mb": round(kb.get("Pss_Anon", 0) / 1024, 1),
                "pss_file_mb": round(kb.get("Pss_File", 0) / 1024, 1),
            }
        )
    return {
        "rss_mb": round(rss / 1024, 1),
        "pss_mb": round(pss / 1024, 1),
        "processes": len(per),
        "per_process": per,
    }


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its descendants (all threads)."""
    ticks = 0
    for p in descendants(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait; guest time is in user


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class CpuMeter:
    """CPU used during one wrk run by the server, by wrk, and by everything else (noise)."""

    server_pid: int
    t: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __enter__(self) -> CpuMeter:
        self.t = (tree_cpu_s(self.server_pid), children_cpu_s(), machine_busy_s())
        return self

    def __exit__(self, *_: object) -> None:
        self.server_s = tree_cpu_s(self.server_pid) - self.t[0]
        self.wrk_s = children_cpu_s() - self.t[1]
        self.other_s = max(0.0, machine_busy_s() - self.t[2] - self.server_s - self.wrk_s)


# --------------------------------------------------------------------------- wrk


def lua_str(s: str) -> str:
    out = ['"']
    for b in s.encode("utf-8"):
        out.append(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}")
    out.append('"')
    return "".join(out)


# Requests per Lua function in a request file: LuaJIT allows 65,536 constants per
# function, and each request's path is one (98,186 codes in one table literal
# failed with "main function has more than 65536 constants").
LUA_CHUNK = 10_000


def write_requests(path: Path, reqs: list[Request]) -> None:
    """A Lua file returning the list of requests (read by bench/lua/cycle.lua), built
    from functions of at most LUA_CHUNK requests each."""
    lines = ["local all = {}"]
    for start in range(0, len(reqs), LUA_CHUNK):
        lines.append("for _, r in ipairs((function() return {")
        for r in reqs[start : start + LUA_CHUNK]:
            items = [lua_str(r.method), lua_str(r.path)]
            if r.body is not None:
                items += [lua_str(r.body), lua_str(r.content_type or "application/fhir+json")]
            lines.append("  {" + ", ".join(items) + "},")
        lines.append("} end)()) do all[#all + 1] = r end")
    lines.append("return all")
    path.write_text("\n".join(lines) + "\n")


def run_wrk(
    base: str,
    req_file: Path,
    conns: int,
    threads: int,
    duration: int,
    timeout_s: int,
    count_statuses: bool = False,
) -> dict[str, Any]:
    """One wrk run through ``LUA_DRIVER``; its BENCH_JSON summary.

    ``count_statuses`` has the driver count every status (a Lua call per
    response, which costs wrk CPU on the cores the server uses); without it the
    summary's ``statuses`` is empty and ``errors.status`` (statuses above 399,
    counted by wrk itself) tells the errors.
    """
    threads = max(1, min(threads, conns))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{duration}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA_DRIVER),
        base,
        "--",
        str(req_file),
        str(threads),
    ]
    env = {k: v for k, v in os.environ.items() if k != "FHIRTERM_BENCH_STATUSES"}
    if count_statuses:
        env["FHIRTERM_BENCH_STATUSES"] = "1"
    try:
        p = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=duration + timeout_s + 30,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish in time: {' '.join(cmd)}") from None
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    for line in p.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            return data
    raise BenchError(f"no BENCH_JSON line from wrk:\n{p.stdout}\n{p.stderr}")


def needs_status_counts(expected: frozenset[int]) -> bool:
    """Whether a test's statuses must be counted one by one: anything but "200 only"
    (wrk's own count of statuses above 399 cannot tell an expected 404 from a 500)."""
    return expected != frozenset({200})


def summarize(raw: dict[str, Any], expected: frozenset[int]) -> dict[str, Any]:
    """requests/s, latency and errors of one wrk run; ``statuses`` as counted, or, for a
    run whose statuses were not counted (``needs_status_counts`` false), the 2xx/3xx
    answers under "<400" and wrk's count of the others as unexpected."""
    dur = raw["duration_us"] / 1e6
    sock = {k: int(v) for k, v in raw["errors"].items() if k != "status"}
    if raw["statuses"] or needs_status_counts(expected):
        if not raw["statuses"] and raw["requests"]:
            raise BenchError(
                "wrk answered with no status counts for a test that needs them: "
                "is FHIRTERM_BENCH_STATUSES=1 reaching bench/lua/cycle.lua?"
            )
        statuses = {int(k): int(v) for k, v in raw["statuses"].items()}
        unexpected = sum(v for k, v in statuses.items() if k not in expected)
        shown = {str(k): v for k, v in sorted(statuses.items())}
    else:
        unexpected = int(raw["errors"]["status"])
        shown = {"<400": int(raw["requests"]) - unexpected, ">=400": unexpected}
    lat = raw["latency_us"]
    return {
        "requests_per_s": round(raw["requests"] / dur, 1) if dur > 0 else 0.0,
        "p50_ms": round(lat["p50"] / 1000, 3),
        "p95_ms": round(lat["p95"] / 1000, 3),
        "p99_ms": round(lat["p99"] / 1000, 3),
        "mean_ms": round(lat["mean"] / 1000, 3),
        "max_ms": round(lat["max"] / 1000, 3),
        "errors": unexpected + sum(sock.values()),
        "unexpected_status": unexpected,
        "socket_errors": sock,
        "statuses": shown,
        "expected_statuses": sorted(expected),
        "requests": int(raw["requests"]),
        "duration_s": round(dur, 3),
        "bytes": int(raw["bytes"]),
    }


def cpu_model() -> str:
    """The processor, as /proc/cpuinfo names it (with family and model, which tell
    apart hosts a VM's generic name hides): runs on different hosts differ by up to 2x."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if not sep:
            if fields:
                break  # the first processor is enough
            continue
        fields.setdefault(k.strip(), v.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    fam, mod = fields.get("cpu family"), fields.get("model")
    return f"{name} (family {fam}, model {mod})" if fam and mod else name


def wrk_version() -> str:
    p = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (p.stdout or p.stderr).splitlines()[0].strip() if (p.stdout or p.stderr) else "?"


# --------------------------------------------------------------------------- the run


def verify_samples(base: str, test: BenchTest, reqs: list[Request], n: int) -> None:
    bad = []
    for r in reqs[:n]:
        if r.method != "GET":
            continue
        st, body = http_get(base, r.path)
        why = test.verify(st, body)
        if why is not None:
            bad.append(f"{r.path}: {why}")
    if bad:
        raise BenchError(
            f"{test.name}: {len(bad)} of the first {n} requests answered wrongly:\n  "
            + "\n  ".join(bad[:10])
        )


def fhirterm_src() -> str | None:
    """The folder of the fhirterm package this Python (and so the server) imports."""
    spec = importlib.util.find_spec("fhirterm")
    return str(Path(spec.origin).parent) if spec and spec.origin else None


def git_describe() -> dict[str, Any]:
    """Commit and dirtiness of the checkout holding the fhirterm package that is measured."""
    src = fhirterm_src()
    where = Path(src) if src else ROOT

    def git(*args: str) -> str:
        try:
            p = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True)
        except OSError:
            return ""
        return p.stdout.strip() if p.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or None
    return {
        "fhirterm_src": src,
        "commit": commit,
        "dirty": None
        if commit is None
        else bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    tests = select_tests(args.only)
    conns_list = [int(c) for c in args.connections.split(",") if c.strip()]
    if not conns_list or any(c < 1 for c in conns_list):
        raise BenchError(f"--connections needs positive integers, got {args.connections!r}")
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not on PATH (apt-get install wrk)")
    result: dict[str, Any] = {
        "meta": {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "server_command": " ".join(server_command(0, args.workers, args.server_args)).replace(
                "--port 0", "--port <free>"
            ),
            "workers": args.workers,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": conns_list,
            "wrk_threads": args.threads,
            "codes": args.codes,
            "seed": args.seed,
            "tests": [BARE, STATIC] + [t.name for t in tests],
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "wrk": wrk_version(),
            "git": git_describe(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
    }
    with tempfile.TemporaryDirectory(prefix="fhirterm-bench-") as tmp_s:
        tmp = Path(tmp_s)
        cache = tmp / "cache"

        # 1. cold start: empty cache
        log(f"cold start ({args.workers} workers, empty cache {cache})")
        with running(args.workers, cache, args.server_args) as srv0:
            ready = srv0.wait_ready(args.ready_timeout)
            # waiting for every worker also lets each finish writing the cache
            all_w = srv0.wait_all_workers(args.ready_timeout)
            shown = None if all_w is None else round(all_w, 3)
            log(f"cold: ready in {ready:.3f} s, all workers in {shown} s")
            result["time_to_ready_cold_s"] = round(ready, 3)
            result["time_to_all_workers_cold_s"] = None if all_w is None else round(all_w, 3)

        # 2. warm starts: same cache; the last one stays up for the load tests
        warm: list[float] = []
        warm_all: list[float | None] = []
        srv = None
        try:
            for k in range(args.warm_starts):
                srv = Server.start(args.workers, cache, args.server_args)
                ready = srv.wait_ready(args.ready_timeout)
                all_w = srv.wait_all_workers(args.ready_timeout)
                warm.append(round(ready, 3))
                warm_all.append(None if all_w is None else round(all_w, 3))
                log(
                    f"warm start {k + 1}/{args.warm_starts}: ready in {ready:.3f} s, "
                    f"all workers in {all_w if all_w is None else round(all_w, 3)} s"
                )
                if k + 1 < args.warm_starts:
                    srv.stop()
                    srv = None
            assert srv is not None
            result["time_to_ready_warm_s"] = round(statistics.median(warm), 3)
            result["time_to_ready_warm_runs_s"] = warm
            known_all = [w for w in warm_all if w is not None]
            result["time_to_all_workers_warm_s"] = (
                round(statistics.median(known_all), 3) if known_all else None
            )

            # 3. memory after load
            time.sleep(1.0)
            mem_load = memory(srv.proc.pid)
            log(
                f"memory after load: RSS {mem_load['rss_mb']} MB, PSS {mem_load['pss_mb']} MB "
                f"over {mem_load['processes']} processes"
            )

            # 4. request lists, known answers
            pool = Pool(cache, args.codes, args.seed)
            files: dict[str, Path] = {}
            for t in [FLOOR, CEILING, *tests]:
                reqs = t.requests(pool)
                if not reqs:
                    raise BenchError(f"{t.name}: no requests generated")
                files[t.name] = tmp / f"{t.name}.lua"
                write_requests(files[t.name], reqs)
                t.check(srv.base)
                verify_samples(srv.base, t, reqs, args.verify)
                log(
                    f"{t.name}: {len(reqs)} requests; known answer and first {min(args.verify, len(reqs))} "
                    "answers OK"
                )
            pool._index = None  # free it before the load tests

            # 5. load: the ceiling then each test, per connection count
            results: dict[str, dict[str, Any]] = {t.name: {} for t in [FLOOR, CEILING, *tests]}
            for conns in conns_list:
                for t in [FLOOR, CEILING, *tests]:
                    if args.warmup > 0:
                        run_wrk(
                            srv.base, files[t.name], conns, args.threads, args.warmup, args.timeout
                        )
                    with CpuMeter(srv.proc.pid) as cpu:
                        raw = run_wrk(
                            srv.base,
                            files[t.name],
                            conns,
                            args.threads,
                            args.duration,
                            args.timeout,
                            needs_status_counts(t.expected),
                        )
                    s = summarize(raw, t.expected)
                    s["server_cpu_us_per_request"] = (
                        round(cpu.server_s * 1e6 / s["requests"], 1) if s["requests"] else None
                    )
                    s["server_cpu_s"] = round(cpu.server_s, 2)
                    s["wrk_cpu_s"] = round(cpu.wrk_s, 2)
                    s["other_cpu_s"] = round(cpu.other_s, 2)
                    results[t.name][str(conns)] = s
                    log(
                        f"{t.name:6} c={conns:<3} {s['requests_per_s']:>9.1f} req/s  p50 {s['p50_ms']:.3f} ms  "
                        f"p99 {s['p99_ms']:.3f} ms  errors {s['errors']}  "
                        f"server {s['server_cpu_us_per_request']} us/req  other cpu {s['other_cpu_s']} s"
                    )
                    if srv.proc.poll() is not None:
                        raise BenchError(f"server exited during {t.name}:\n{srv.tail()}")
            for by_conns in results.values():
                for c, s in by_conns.items():
                    ceiling = results[STATIC][c]["requests_per_s"]
                    s["ratio_to_static"] = (
                        round(s["requests_per_s"] / ceiling, 3) if ceiling > 0 else None
                    )
                    floor = results[BARE][c]["requests_per_s"]
                    s["ratio_to_bare"] = (
                        round(s["requests_per_s"] / floor, 3) if floor > 0 else None
                    )
                    # The same ratio from server CPU per request: what the throughput ratio
                    # would be with the server alone on the CPUs; robust to other load.
                    mine = s["server_cpu_us_per_request"]
                    base_cpu = results[STATIC][c]["server_cpu_us_per_request"]
                    s["cpu_ratio_to_static"] = (
                        round(base_cpu / mine, 3) if mine and base_cpu else None
                    )
            result["results"] = results

            mem_bench = memory(srv.proc.pid)
            log(f"memory after bench: RSS {mem_bench['rss_mb']} MB, PSS {mem_bench['pss_mb']} MB")
            result["memory"] = {"after_load": mem_load, "after_bench": mem_bench}
        finally:
            if srv is not None:
                srv.stop()

    result["targets"] = targets(result)
    result["meta"]["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return result


def _target(value: Any, want: str, ok: bool | None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "target": want, "ok": ok, **extra}


def _worst(
    results: dict[str, Any], names: tuple[str, ...], conns: int, key: str, low_is_bad: bool
) -> dict[str, Any] | None:
    """The worst value of ``key`` among ``names`` at ``conns`` connections, with every
    test's value (``by_test``); None when none of the tests ran at that count."""
    by_test = {
        n: results[n][str(conns)][key]
        for n in names
        if str(conns) in results.get(n, {}) and results[n][str(conns)].get(key) is not None
    }
    if not by_test:
        return None
    worst = (min if low_is_bad else max)(by_test, key=by_test.__getitem__)
    return {"value": by_test[worst], "worst": worst, "by_test": by_test}


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Every target of the benchmark, checked on one run's results.

    Each entry is ``{value, target, ok}``; ``ok`` is None (n/a) when the run did
    not measure it (``--only``, other connection counts). Targets over several
    tests report the worst test as ``worst`` and every test's figure in
    ``by_test``.
    """
    out: dict[str, Any] = {}
    w = result.get("time_to_ready_warm_s")
    out["warm_ready_s"] = _target(
        w, f"<= {TARGET_WARM_READY_S}", None if w is None else w <= TARGET_WARM_READY_S
    )
    pss = result.get("memory", {}).get("after_bench", {}).get("pss_mb")
    out["pss_after_bench_mb"] = _target(
        pss, f"<= {TARGET_PSS_MB}", None if pss is None else pss <= TARGET_PSS_MB
    )
    res = result.get("results", {})

    def worst(name: str, conns: int, key: str, want: str, low_is_bad: bool, limit: float) -> None:
        found = _worst(res, TARGET_TESTS, conns, key, low_is_bad)
        if found is None:
            out[name] = _target(None, want, None)
            return
        v = found.pop("value")
        out[name] = _target(v, want, v >= limit if low_is_bad else v <= limit, **found)

    for c in TARGET_RATIO_CONNS:
        worst(
            f"ratio_to_static_at_{c}_connections",
            c,
            "ratio_to_static",
            f">= {TARGET_RATIO} for each of {', '.join(TARGET_TESTS)}",
            True,
            TARGET_RATIO,
        )
    worst(
        f"requests_per_s_at_{TARGET_RPS_CONNS}_connections",
        TARGET_RPS_CONNS,
        "requests_per_s",
        f">= {TARGET_RPS:.0f} for each of {', '.join(TARGET_TESTS)}",
        True,
        TARGET_RPS,
    )
    worst(
        "p50_ms_at_1_connection",
        1,
        "p50_ms",
        f"<= {TARGET_P50_MS} for each of {', '.join(TARGET_TESTS)}",
        False,
        TARGET_P50_MS,
    )
    ex03 = res.get("EX03", {}).get("1", {}).get("p50_ms")
    out["ex03_p50_ms_at_1_connection"] = _target(
        ex03, f"<= {TARGET_EX03_P50_MS}", None if ex03 is None else ex03 <= TARGET_EX03_P50_MS
    )
    ex04 = res.get("EX04", {}).get("1", {}).get("p50_ms")
    out["ex04_p50_ms_at_1_connection"] = _target(
        ex04, f"<= {TARGET_EX04_P50_MS}", None if ex04 is None else ex04 <= TARGET_EX04_P50_MS
    )
    errors = {
        f"{n} c={c}": s["errors"] for n, by_c in res.items() for c, s in by_c.items() if s["errors"]
    }
    out["errors"] = _target(
        sum(errors.values()), "0 in every run", None if not res else not errors, by_run=errors
    )
    return out


def table(result: dict[str, Any]) -> str:
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    m = result["meta"]
    lines = [
        f"fhirterm benchmark  {m['started']}  commit {str(m['git']['commit'])[:10]}"
        f"{' (dirty)' if m['git']['dirty'] else ''}  workers {m['workers']}  wrk -t{m['wrk_threads']} "
        f"{m['duration_s']} s runs ({m['warmup_s']} s warmup)  {m['cpus']} cpus"
        f"{'  ' + m['cpu'] if m.get('cpu') else ''}",
        f"fhirterm from {m['git']['fhirterm_src']}",
        "",
        f"time to ready   cold {f(result.get('time_to_ready_cold_s'), '.3f')} s"
        f" (all workers {f(result.get('time_to_all_workers_cold_s'), '.3f')} s)"
        f"   warm {f(result.get('time_to_ready_warm_s'), '.3f')} s"
        f" (runs {result.get('time_to_ready_warm_runs_s')}; all workers "
        f"{f(result.get('time_to_all_workers_warm_s'), '.3f')} s)",
    ]
    mem = result.get("memory", {})
    for k in ("after_load", "after_bench"):
        if k in mem:
            lines.append(
                f"memory {k.replace('_', ' '):11}  RSS {mem[k]['rss_mb']:.1f} MB   "
                f"PSS {mem[k]['pss_mb']:.1f} MB   ({mem[k]['processes']} processes)"
            )
    lines.append("")
    hdr = (
        f"{'test':6} {'conns':>5} {'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'vs static':>9} {'srv us/req':>10} {'cpu ratio':>9} {'other cpu':>9}"
    )
    lines += [hdr, "-" * len(hdr)]
    res = result.get("results", {})
    conns = [str(c) for c in m["connections"]]
    noisy = False
    for c in conns:
        for name, by_c in res.items():
            s = by_c.get(c)
            if s is None:
                continue
            other = s["other_cpu_s"] / s["duration_s"] if s.get("duration_s") else 0.0
            noisy = noisy or other > 0.2
            lines.append(
                f"{name:6} {c:>5} {s['requests_per_s']:>9.1f} {s['p50_ms']:>7.3f} {s['p95_ms']:>7.3f} "
                f"{s['p99_ms']:>7.3f} {s['errors']:>6} {f(s.get('ratio_to_static'), '.3f'):>9} "
                f"{f(s.get('server_cpu_us_per_request'), '.1f'):>10} "
                f"{f(s.get('cpu_ratio_to_static'), '.3f'):>9} {other:>8.2f}c"
            )
    lines += [
        "",
        "vs static: req/s over the ceiling's at the same connection count. srv us/req: server CPU "
        "(all processes) per request;",
        "cpu ratio: the ceiling's srv us/req over this test's (the throughput ratio the server alone "
        "would reach when CPU-bound).",
        "other cpu: cores used by other processes (not server, not wrk) during the run: noise.",
    ]
    if noisy:
        lines.append(
            "WARNING: other processes used > 0.2 cores during some runs: figures are noisy; rerun "
            "on a quiet machine."
        )
    lines.append("")
    for k, t in result.get("targets", {}).items():
        verdict = "n/a" if t["ok"] is None else ("OK" if t["ok"] else "MISSED")
        worst = f" (worst: {t['worst']})" if "worst" in t else ""
        lines.append(f"target {k}: {t['value']}{worst} (want {t['target']}): {verdict}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="tests: "
        + "; ".join(f"{t.name} ({', '.join(t.aliases)}): {t.title}" for t in TESTS),
    )
    p.add_argument(
        "--duration",
        type=int,
        default=None,
        help="seconds per wrk run (default 10; 2 with --quick)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="seconds of discarded wrk warmup before each run (default 1; 0 with --quick)",
    )
    p.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    p.add_argument(
        "--connections",
        default="1,10,50",
        help="comma-separated connection counts (default 1,10,50)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk threads (default 1; capped at the connection count); the load generator "
        "shares the machine's cores with the server",
    )
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated tests by name or alias (lookup, missing, validate); the "
        "static ceiling always runs",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke check: 2 s runs, no warmup, one warm start"
    )
    p.add_argument(
        "--json", default=None, help="where to write the JSON (default bench-results/bench.json)"
    )
    p.add_argument(
        "--codes",
        type=int,
        default=10000,
        help="codes drawn per test (default 10000: more than the server's memo of decoded "
        "concepts, so lookups decode as they would on real traffic)",
    )
    p.add_argument("--seed", type=int, default=20260401, help="random seed for the code sample")
    p.add_argument(
        "--warm-starts",
        type=int,
        default=None,
        help="warm starts to time, median reported (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--verify",
        type=int,
        default=25,
        help="answers of the first N requests of each test checked before load (default 25)",
    )
    p.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for /readyz")
    p.add_argument("--timeout", type=int, default=5, help="wrk socket/request timeout in seconds")
    p.add_argument(
        "--response-cache",
        type=int,
        default=None,
        help="FHIRTERM_RESPONSE_CACHE for the server (default: the server's own, 1024 entries "
        "per worker, which 10,000 codes cycled in order never hit; 0 turns it off)",
    )
    p.add_argument(
        "--server-args",
        default="",
        help="extra arguments for 'fhirterm serve', for experiments (e.g. \"--backpressure 4\")",
    )
    a = p.parse_args(argv)
    if a.response_cache is not None:
        SERVER_SETTINGS["FHIRTERM_RESPONSE_CACHE"] = str(a.response_cache)
    if a.duration is None:
        a.duration = 2 if a.quick else 10
    if a.warmup is None:
        a.warmup = 0 if a.quick else 1
    if a.warm_starts is None:
        a.warm_starts = 1 if a.quick else 3
    if a.duration < 1 or a.workers < 1 or a.warm_starts < 1 or a.threads < 1:
        p.error("--duration, --workers, --warm-starts and --threads must be at least 1")
    a.server_args = tuple(shlex.split(a.server_args))
    a.json = Path(a.json) if a.json else ROOT / "bench-results" / "bench.json"
    return a


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C, kill and hang-up all end in the same cleanup (SIGINT too, even when
    # started in the background by a shell that made children ignore it).
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with contextlib.suppress(AttributeError, ValueError):
        signal.signal(signal.SIGHUP, _raise_interrupt)
    try:
        result = run(args)
    except BenchError as e:
        log(f"ABORTED: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; server stopped")
        return 130
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
