"""The same app under several WSGI servers: the figures behind the choice of server.

``fhirterm serve`` runs granian. This script serves the production entry point
(``fhirterm.web.wsgi:app``, or ``fhirterm serve`` itself for granian) under
each WSGI server installed here, one at a time, with the same number of
worker processes, and loads each with wrk exactly as bench/bench.py does:
the floor (``/_bench/bare``, no Flask), the Flask ceiling (``/_bench/static``)
and a computed $lookup of random codes (LK01), at each connection count.
It reports requests/s, p50, p99, server CPU per request and the PSS of all
the server's processes after its runs, as a table and as JSON.

    pip install '.[bench]'               # gunicorn, pyuwsgi, waitress
    python bench/servers.py              # every installed server: ~9 minutes
    python bench/servers.py --servers granian,gunicorn --connections 10 --duration 5

Servers that are not installed are skipped with a message. Traffic goes to
127.0.0.1 only; each server is stopped (SIGTERM, then SIGKILL to its process
group) before the next starts, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bench.py is a script beside this one, not a package module: import it from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b

APP = "fhirterm.web.wsgi:app"


@dataclass(frozen=True)
class WsgiServer:
    """One way to serve the app: ``command(port, workers)``; ``needs`` the executable
    that must be installed (None: always there)."""

    name: str
    description: str
    needs: str | None
    command: Callable[[int, int], list[str]]
    processes: Callable[[int], int]  # worker processes serving requests, for the report


def _gunicorn(worker_class: str, *extra: str) -> Callable[[int, int], list[str]]:
    def cmd(port: int, workers: int) -> list[str]:
        return [
            str(b.env_bin("gunicorn")),
            "--bind",
            f"{b.HOST}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            *extra,
            # load the content once in the master, as `fhirterm serve` does
            "--preload",
            "--log-level",
            "warning",
            APP,
        ]

    return cmd


def _uwsgi(port: int, workers: int) -> list[str]:
    return [
        str(b.env_bin("uwsgi")),
        # One request per connection, as gunicorn's sync workers. Not
        # --http11-socket: with keep-alive a process serves one connection until
        # it closes, so 2 processes served 2 of wrk's 10 connections and left the
        # others waiting (fast figures, measured here, that no client would see).
        "--http-socket",
        f"{b.HOST}:{port}",
        # say so, as gunicorn does: wrk counts an unannounced close as a read error
        "--add-header",
        "Connection: close",
        "--master",
        "--processes",
        str(workers),
        "--module",
        APP,
        "--need-app",
        "--die-on-term",
        "--disable-logging",
        "--single-interpreter",
    ]


def _waitress(port: int, workers: int) -> list[str]:
    # one process: waitress has no worker processes; threads share one GIL
    return [str(b.env_bin("waitress-serve")), "--listen", f"{b.HOST}:{port}", "--threads", "4", APP]


SERVERS = [
    WsgiServer(
        "granian",
        "fhirterm serve: granian (Rust HTTP core), preload, 1 app thread per worker",
        None,
        lambda port, workers: b.server_command(port, workers),
        lambda w: w,
    ),
    WsgiServer(
        "gunicorn",
        "gunicorn sync workers, --preload",
        "gunicorn",
        _gunicorn("sync"),
        lambda w: w,
    ),
    WsgiServer(
        "gunicorn-gthread",
        "gunicorn gthread workers, 4 threads each, --preload",
        "gunicorn",
        _gunicorn("gthread", "--threads", "4"),
        lambda w: w,
    ),
    WsgiServer(
        "uwsgi", "uWSGI (pyuwsgi), HTTP socket, master + processes", "uwsgi", _uwsgi, lambda w: w
    ),
    WsgiServer(
        "waitress", "waitress, one process, 4 threads", "waitress-serve", _waitress, lambda w: 1
    ),
]

DEFAULT_TESTS = "BARE,STATIC,LK01"


def select(names: str | None) -> list[WsgiServer]:
    if not names:
        return list(SERVERS)
    by = {s.name: s for s in SERVERS}
    out = []
    for n in (x.strip() for x in names.split(",") if x.strip()):
        if n not in by:
            raise b.BenchError(f"unknown server {n!r}; known: {', '.join(by)}")
        out.append(by[n])
    return out


def select_load(names: str) -> list[b.BenchTest]:
    fixed = {b.BARE: b.FLOOR, b.STATIC: b.CEILING}
    out: list[b.BenchTest] = []
    for n in (x.strip().upper() for x in names.split(",") if x.strip()):
        out += [fixed[n]] if n in fixed else b.select_tests(n)
    return out


def busy_connections(s: dict[str, Any]) -> float:
    """How many connections were being served on average: requests/s times the mean
    latency (Little's law). A server that serves all of wrk's connections gives about
    the connection count; far fewer means the others waited unserved, and the
    latency figures describe only the lucky ones."""
    return round(s["requests_per_s"] * s["mean_ms"] / 1000, 2)


# Busy connections under this share of the connection count are flagged. Not
# nearer 1: wrk's latency leaves out connecting, so a server that closes every
# connection (gunicorn sync, uwsgi here) shows fewer busy connections than it
# serves (uwsgi: ~0.5 of 10 on the bare body, where connecting is most of the
# work), and at one connection wrk's own turn between requests counts as idle.
# uwsgi with keep-alive served 2 of 10 (0.2).
STARVED = 0.4


def measure(
    ws: WsgiServer, args: argparse.Namespace, cache: Path, files: dict[str, Path]
) -> dict[str, Any]:
    """Start ``ws``, check the known answers, load it per connection count, stop it."""
    srv = b.Server.start(args.workers, cache, command=lambda port: ws.command(port, args.workers))
    try:
        ready = srv.wait_ready(args.ready_timeout)
        b.log(f"{ws.name}: ready in {ready:.2f} s")
        time.sleep(1.0)  # let every worker finish starting
        for t in args.load:
            t.check(srv.base)
        out: dict[str, Any] = {
            "description": ws.description,
            "ready_s": round(ready, 3),
            "processes_serving": ws.processes(args.workers),
            "memory_after_load": b.memory(srv.proc.pid),
            "results": {t.name: {} for t in args.load},
        }
        for conns in args.connections:
            for t in args.load:
                if args.warmup > 0:
                    b.run_wrk(srv.base, files[t.name], conns, 1, args.warmup, args.timeout)
                with b.CpuMeter(srv.proc.pid) as cpu:
                    raw = b.run_wrk(srv.base, files[t.name], conns, 1, args.duration, args.timeout)
                s = b.summarize(raw, t.expected)
                s["server_cpu_us_per_request"] = (
                    round(cpu.server_s * 1e6 / s["requests"], 1) if s["requests"] else None
                )
                s["other_cpu_s"] = round(cpu.other_s, 2)
                s["busy_connections"] = busy_connections(s)
                out["results"][t.name][str(conns)] = s
                b.log(
                    f"{ws.name:16} {t.name:6} c={conns:<3} {s['requests_per_s']:>9.1f} req/s  "
                    f"p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  errors {s['errors']}  "
                    f"server {s['server_cpu_us_per_request']} us/req"
                )
                if srv.proc.poll() is not None:
                    raise b.BenchError(f"{ws.name} exited during {t.name}:\n{srv.tail()}")
        out["memory_after_bench"] = b.memory(srv.proc.pid)
        return out
    finally:
        srv.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise b.BenchError("wrk is not on PATH (apt-get install wrk)")
    result: dict[str, Any] = {
        "meta": {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "workers": args.workers,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "tests": [t.name for t in args.load],
            "cpu": b.cpu_model(),
            "git": b.git_describe(),
        },
        "servers": {},
        "skipped": {},
    }
    with tempfile.TemporaryDirectory(prefix="fhirterm-servers-") as tmp_s:
        tmp = Path(tmp_s)
        cache = tmp / "cache"
        # one start of our own server fills the parse cache every server then reads
        b.log("filling the parse cache (one start of fhirterm serve)")
        with b.running(1, cache) as first:
            first.wait_ready(args.ready_timeout)
            first.wait_all_workers(args.ready_timeout)
        pool = b.Pool(cache, args.codes, args.seed)
        files = {}
        for t in args.load:
            files[t.name] = tmp / f"{t.name}.lua"
            b.write_requests(files[t.name], t.requests(pool))
        for ws in args.servers:
            if ws.needs is not None and b.env_bin(ws.needs) is None:
                why = f"{ws.needs} is not installed (pip install '.[bench]')"
                b.log(f"{ws.name}: skipped, {why}")
                result["skipped"][ws.name] = why
                continue
            result["servers"][ws.name] = measure(ws, args, cache, files)
    result["meta"]["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return result


def table(result: dict[str, Any]) -> str:
    m = result["meta"]
    lines = [
        f"WSGI servers  {m['started']}  commit {str(m['git']['commit'])[:10]}  "
        f"{m['workers']} workers  {m['duration_s']} s runs  {m['cpu']}",
        "",
    ]
    hdr = (
        f"{'server':16} {'test':6} {'conns':>5} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'srv us/req':>10} {'busy conns':>10}"
    )
    lines += [hdr, "-" * len(hdr)]
    starved = False
    for name, r in result["servers"].items():
        for test, by_c in r["results"].items():
            for c, s in by_c.items():
                flag = s["busy_connections"] < STARVED * int(c)
                starved = starved or flag
                lines.append(
                    f"{name:16} {test:6} {c:>5} {s['requests_per_s']:>9.1f} {s['p50_ms']:>7.3f} "
                    f"{s['p99_ms']:>7.3f} {s['errors']:>6} {s['server_cpu_us_per_request']:>10} "
                    f"{s['busy_connections']:>9.1f}{'!' if flag else ' '}"
                )
    lines.append("")
    lines.append(
        "busy conns: requests/s x mean latency, the connections served on average (Little's law)."
    )
    if starved:
        lines.append(
            "! fewer than 40 % of the connections were served: the others waited, and these "
            "figures flatter the server."
        )
    lines.append("")
    for name, r in result["servers"].items():
        lines.append(
            f"{name:16} ready {r['ready_s']:.2f} s  PSS after load "
            f"{r['memory_after_load']['pss_mb']} MB, after its runs "
            f"{r['memory_after_bench']['pss_mb']} MB ({r['memory_after_bench']['processes']} "
            f"processes)"
        )
    for name, why in result["skipped"].items():
        lines.append(f"{name:16} skipped: {why}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="servers: " + "; ".join(f"{s.name}: {s.description}" for s in SERVERS),
    )
    p.add_argument("--servers", default=None, help="comma-separated (default: all installed)")
    p.add_argument(
        "--tests",
        default=DEFAULT_TESTS,
        help=f"comma-separated bench.py tests (default {DEFAULT_TESTS})",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--connections", default="1,10,50", help="default 1,10,50")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of discarded warmup (default 1)")
    p.add_argument("--codes", type=int, default=10000, help="random codes for LK01 (default 10000)")
    p.add_argument("--seed", type=int, default=20260401)
    p.add_argument("--timeout", type=int, default=5, help="wrk request timeout in seconds")
    p.add_argument("--ready-timeout", type=float, default=120.0)
    p.add_argument("--json", default=None, help="default bench-results/servers.json")
    a = p.parse_args(argv)
    try:
        a.connections = [int(c) for c in a.connections.split(",") if c.strip()]
        a.servers = select(a.servers)
        a.load = select_load(a.tests)
    except (ValueError, b.BenchError) as e:
        p.error(str(e))
    if not a.connections or min(a.connections) < 1 or a.duration < 1 or a.workers < 1:
        p.error("--connections, --duration and --workers need positive numbers")
    a.json = Path(a.json) if a.json else b.ROOT / "bench-results" / "servers.json"
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, b._raise_interrupt)
    try:
        result = run(args)
    except b.BenchError as e:
        b.log(f"ABORTED: {e}")
        return 1
    except KeyboardInterrupt:
        b.log("interrupted")
        return 130
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
