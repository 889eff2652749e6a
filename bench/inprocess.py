#!/usr/bin/env python3
"""Application CPU per request, without HTTP: the benchmark's requests through the WSGI app.

    python bench/inprocess.py                  # every test, 2,000 requests each
    python bench/inprocess.py --only VC01 --profile

Builds the same request lists as ``bench/bench.py`` (same pool, same seed) and
calls the production WSGI stack in this process (response cache off, so every
request is computed), timing each test after one warm-up pass. It answers
"how much of a request is our code?", the part of the server's CPU that
granian and the network do not explain; ``--profile`` prints where it goes.
Not a substitute for bench.py: no load generator, no concurrency.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib.util
import io
import pstats
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("fhirterm_bench", HERE / "bench.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fhirterm_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def _environ(req: Any) -> dict[str, Any]:
    url = urlsplit(req.path)
    body = (req.body or "").encode()
    return {
        "REQUEST_METHOD": req.method,
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": req.content_type or "",
        "HTTP_ACCEPT": "application/fhir+json",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=None, help="comma-separated test names (default: all)")
    p.add_argument("--codes", type=int, default=2000, help="requests per test (default 2000)")
    p.add_argument("--seed", type=int, default=20260401)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed passes per test; the fastest is reported (steadier on a busy machine)",
    )
    p.add_argument("--profile", action="store_true", help="print a cProfile of each test")
    p.add_argument("--sort", default="tottime", help="cProfile sort key (default tottime)")
    p.add_argument("--lines", type=int, default=20, help="cProfile lines shown (default 20)")
    a = p.parse_args(argv)

    from fhirterm.config import Settings
    from fhirterm.loading import load_registry
    from fhirterm.web.app import create_wsgi, serving_gc

    bench = _bench()
    settings = dataclasses.replace(Settings.from_env(), response_cache=0)
    app = create_wsgi(settings, load_registry(settings))
    serving_gc()  # as the production entry point does (fhirterm.web.wsgi)
    pool = bench.Pool(settings.cache_dir, a.codes, a.seed)
    only = {n.strip().upper() for n in a.only.split(",")} if a.only else None
    statuses: dict[str, int] = {}

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses[status[:3]] = statuses.get(status[:3], 0) + 1

    print(f"{'test':6} {'requests':>8} {'us/request':>10}  statuses")
    for t in bench.TESTS:
        if only and t.name not in only:
            continue
        reqs = t.requests(pool)
        for r in reqs:  # warm-up: page in what the requests touch
            b"".join(app(_environ(r), start_response))
        prof = cProfile.Profile() if a.profile else None
        best = float("inf")
        for _ in range(max(1, a.repeat)):
            statuses.clear()
            batch = [_environ(r) for r in reqs]  # each with its own unread body
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            for env in batch:
                b"".join(app(env, start_response))
            if prof:
                prof.disable()
            best = min(best, time.perf_counter() - t0)
        us = best / len(batch) * 1e6
        print(f"{t.name:6} {len(batch):8d} {us:10.1f}  {dict(sorted(statuses.items()))}")
        if prof:
            pstats.Stats(prof).sort_stats(a.sort).print_stats(a.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
