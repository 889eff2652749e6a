"""Smoke test of the benchmark script (bench/bench.py): it runs and writes sane JSON.

This checks the script, not the server's speed: a one-second run at one
connection, with one worker to stay light beside other tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .bench_scripts import load_script, run_script

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not on PATH"),
]


@pytest.mark.bench
@pytest.mark.full
def test_bench_quick_writes_results(tmp_path: Path) -> None:
    args = ["--quick", "--connections", "1", "--duration", "1", "--workers", "1", "--codes", "300"]
    proc, data = run_script("bench", args, tmp_path)

    for key in ("time_to_ready_cold_s", "time_to_ready_warm_s"):
        assert isinstance(data[key], float) and data[key] > 0, key
    for when in ("after_load", "after_bench"):
        mem = data["memory"][when]
        assert mem["rss_mb"] > 0 and mem["pss_mb"] > 0 and mem["processes"] >= 2, when

    assert set(data["results"]) == {
        "BARE",
        "STATIC",
        "LK01",
        "LK05",
        "VC01",
        "VD01",
        "VC02",
        "VC03",
        "EX03",
        "EX20",
        "EX04",
        "SS01",
        "CM01",
    }
    for name, by_conns in data["results"].items():
        r = by_conns["1"]
        assert r["requests_per_s"] > 0, name
        assert r["requests"] > 0, name
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"], name
        assert r["errors"] == 0, (name, r)
        assert r["ratio_to_static"] > 0, name
    assert data["results"]["STATIC"]["1"]["ratio_to_static"] == 1.0
    assert data["results"]["BARE"]["1"]["ratio_to_bare"] == 1.0
    assert all(by_conns["1"]["ratio_to_bare"] > 0 for by_conns in data["results"].values())
    assert set(data["results"]["LK05"]["1"]["statuses"]) == {"404"}
    # a 200-only test's statuses are wrk's own tally (no Lua call per response)
    lk01 = data["results"]["LK01"]["1"]
    assert lk01["statuses"] == {"<400": lk01["requests"], ">=400": 0}
    assert data["targets"]["warm_ready_s"]["value"] == data["time_to_ready_warm_s"]
    assert "JSON:" in proc.stdout and "LK01" in proc.stdout


def _bench_module() -> Any:
    return load_script("bench")


def _raw(statuses: dict[str, int], status_errors: int) -> dict[str, Any]:
    lat = {"min": 1, "max": 9, "mean": 3, "stdev": 1, "p50": 2, "p90": 5, "p95": 6, "p99": 8}
    return {
        "requests": 100,
        "duration_us": 1_000_000,
        "bytes": 1000,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": status_errors, "timeout": 0},
        "latency_us": lat,
        "statuses": statuses,
    }


@pytest.mark.parametrize(
    ("statuses", "status_errors", "expected", "errors"),
    [
        ({}, 0, frozenset({200}), 0),  # not counted: wrk saw no status above 399
        ({}, 3, frozenset({200}), 3),  # not counted: wrk's own tally of >= 400 are errors
        ({"404": 97, "500": 3}, 100, frozenset({404}), 3),  # counted: a 500 is not a 404
        ({"200": 100}, 0, frozenset({200}), 0),
    ],
)
def test_summarize_counts_unexpected_statuses(
    statuses: dict[str, int], status_errors: int, expected: frozenset[int], errors: int
) -> None:
    bench = _bench_module()
    assert bench.needs_status_counts(frozenset({404})) and not bench.needs_status_counts(
        frozenset({200})
    )
    s = bench.summarize(_raw(statuses, status_errors), expected)
    assert s["errors"] == errors and s["unexpected_status"] == errors


def test_summarize_refuses_missing_counts() -> None:
    """A test that needs counted statuses (LK05's 404) and got none is an error, not 0 errors."""
    bench = _bench_module()
    with pytest.raises(bench.BenchError, match="no status counts"):
        bench.summarize(_raw({}, 100), frozenset({404}))


def _run_result(rps: float, p50: float, errors: int = 0) -> dict[str, Any]:
    """A bench result whose every target test ran at rps requests/s (ceiling 8,000)."""
    by_conns = {
        c: {"requests_per_s": rps, "ratio_to_static": rps / 8000, "p50_ms": p50, "errors": 0}
        for c in ("1", "10", "50")
    }
    results: dict[str, Any] = {n: {c: dict(s) for c, s in by_conns.items()} for n in TARGET_TESTS}
    results["EX03"] = {"1": {"p50_ms": 1.5, "errors": 0}}
    results["EX04"] = {"1": {"p50_ms": 1.7, "errors": 0}}
    results["LK05"]["50"]["errors"] = errors
    return {
        "time_to_ready_warm_s": 0.8,
        "memory": {"after_bench": {"pss_mb": 240.0}},
        "results": results,
    }


TARGET_TESTS = ("LK01", "LK05", "VC01", "VC02", "VC03", "SS01", "CM01")


def test_targets_checks_every_target() -> None:
    bench = _bench_module()
    assert bench.TARGET_TESTS == TARGET_TESTS
    met = bench.targets(_run_result(12_000, 0.2))
    assert {k for k, t in met.items() if t["ok"] is not True} == set()
    assert set(met) == {
        "warm_ready_s",
        "pss_after_bench_mb",
        "ratio_to_static_at_10_connections",
        "ratio_to_static_at_50_connections",
        "requests_per_s_at_10_connections",
        "p50_ms_at_1_connection",
        "ex03_p50_ms_at_1_connection",
        "ex04_p50_ms_at_1_connection",
        "errors",
    }

    slow = _run_result(12_000, 0.2)
    slow["results"]["VC03"]["10"]["requests_per_s"] = 9_500.0
    slow["results"]["SS01"]["1"]["p50_ms"] = 0.31
    slow["results"]["LK01"]["50"]["ratio_to_static"] = 0.79
    slow["memory"]["after_bench"]["pss_mb"] = 300.5
    slow["results"]["EX04"]["1"]["p50_ms"] = 2.1
    got = bench.targets(slow)
    missed = {k for k, t in got.items() if t["ok"] is False}
    assert missed == {
        "ex04_p50_ms_at_1_connection",
        "requests_per_s_at_10_connections",
        "p50_ms_at_1_connection",
        "ratio_to_static_at_50_connections",
        "pss_after_bench_mb",
    }
    assert got["requests_per_s_at_10_connections"]["worst"] == "VC03"
    assert got["requests_per_s_at_10_connections"]["value"] == 9_500.0
    assert got["p50_ms_at_1_connection"]["worst"] == "SS01"

    errs = bench.targets(_run_result(12_000, 0.2, errors=3))["errors"]
    assert errs["ok"] is False and errs["value"] == 3 and errs["by_run"] == {"LK05 c=50": 3}


def test_targets_not_measured_are_not_applicable() -> None:
    """A run with --only or other connection counts says n/a, not OK, for what it did not measure."""
    bench = _bench_module()
    r = _run_result(12_000, 0.2)
    r["results"] = {"LK01": {"1": r["results"]["LK01"]["1"]}}
    got = bench.targets(r)
    assert got["p50_ms_at_1_connection"]["ok"] is True
    assert got["requests_per_s_at_10_connections"]["ok"] is None
    assert got["ex03_p50_ms_at_1_connection"]["ok"] is None
    assert got["ex04_p50_ms_at_1_connection"]["ok"] is None


def test_report_shows_targets_per_run_and_floor_first() -> None:
    """bench/report.py judges each run with bench.targets (also runs recorded before it
    checked every target) and lists the floor and the ceiling before the tests."""
    report = load_script("report")
    full = {"p95_ms": 0.4, "p99_ms": 0.5, "server_cpu_us_per_request": 80.0, "ratio_to_bare": 0.5}
    fast = _run_result(12_000, 0.2)
    slow = _run_result(12_000, 0.2)
    slow["results"]["VC03"]["10"]["requests_per_s"] = 9_500.0
    for run in (fast, slow):
        run["results"] = {"BARE": {"1": dict(run["results"]["LK01"]["1"])}, **run["results"]}
        run["results"] = {"STATIC": {"1": dict(run["results"]["LK01"]["1"])}, **run["results"]}
        for by_c in run["results"].values():
            for s in by_c.values():
                s.update({k: v for k, v in full.items() if k not in s})
                s.setdefault("requests_per_s", 1.0)
        run["meta"] = {"git": {"commit": "abcdef123"}, "cpu": "Test CPU"}
    text = report.report([("fast", fast), ("slow", slow)])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert rows["requests_per_s_at_10_connections"].endswith(
        "| 12,000 (LK01) OK | 9,500 (VC03) MISSED |"
    )
    assert "| fast | abcdef1 | Test CPU |" in text
    assert text.index("### STATIC") < text.index("### LK01")


@pytest.mark.parametrize("count", [3, 70_000])
def test_request_files_of_any_size_load_in_wrk(tmp_path: Path, count: int) -> None:
    """wrk's LuaJIT allows 65,536 constants per function: a request file with every
    ICD-10-CM code (--codes 98186) once failed to load. Long lists are split into
    functions; wrk cycles through them against a tiny local server."""
    import http.server
    import threading

    bench = _bench_module()

    class Quiet(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    reqs = [bench.Request(f"/x?code=C{i}") for i in range(count)]
    path = tmp_path / "reqs.lua"
    bench.write_requests(path, reqs)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        raw = bench.run_wrk(f"http://127.0.0.1:{srv.server_address[1]}", path, 1, 1, 1, 5)
    finally:
        srv.shutdown()
        srv.server_close()
    assert raw["requests"] > 0 and raw["errors"]["status"] == 0
