"""Smoke test of the benchmark script (bench/bench.py): it runs and writes sane JSON.

This checks the script, not the server's speed: a one-second run at one
connection, with one worker to stay light beside other tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench.py"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not on PATH"),
]


def test_bench_quick_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(BENCH),
        "--quick",
        "--connections",
        "1",
        "--duration",
        "1",
        "--workers",
        "1",
        "--codes",
        "300",
        "--json",
        str(out),
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    data = json.loads(out.read_text())

    for key in ("time_to_ready_cold_s", "time_to_ready_warm_s"):
        assert isinstance(data[key], float) and data[key] > 0, key
    for when in ("after_load", "after_bench"):
        mem = data["memory"][when]
        assert mem["rss_mb"] > 0 and mem["pss_mb"] > 0 and mem["processes"] >= 2, when

    assert set(data["results"]) == {
        "STATIC",
        "LK01",
        "LK05",
        "VC01",
        "VC02",
        "VC03",
        "EX03",
        "EX20",
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
    assert set(data["results"]["LK05"]["1"]["statuses"]) == {"404"}
    assert data["targets"]["warm_ready_s"]["value"] == data["time_to_ready_warm_s"]
    assert "JSON:" in proc.stdout and "LK01" in proc.stdout
