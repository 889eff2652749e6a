"""Smoke test of bench/servers.py (the same app under several WSGI servers).

It checks the script, not the servers' speed: one-second runs at one
connection of granian alone (the only server the test dependencies install),
with one worker to stay light beside other tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .bench_scripts import load_script, run_script


def _module() -> Any:
    return load_script("servers")


@pytest.mark.bench
@pytest.mark.full
@pytest.mark.server
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not on PATH")
def test_servers_script_measures_granian(tmp_path: Path) -> None:
    args = ["--servers", "granian", "--connections", "1", "--duration", "1", "--warmup", "0"]
    proc, data = run_script("servers", [*args, "--workers", "1", "--codes", "300"], tmp_path)
    g = data["servers"]["granian"]
    assert set(g["results"]) == {"BARE", "STATIC", "LK01"}
    for name, by_c in g["results"].items():
        r = by_c["1"]
        assert r["requests_per_s"] > 0 and r["errors"] == 0, (name, r)
        assert 0 < r["busy_connections"] <= 1.5, (name, r)
    assert g["memory_after_bench"]["pss_mb"] > 0 and g["ready_s"] > 0
    assert data["meta"]["cpu"]
    assert "granian" in proc.stdout and "JSON:" in proc.stdout


def test_busy_connections_tells_starved_connections() -> None:
    """Little's law: 10 connections served at 10,000 req/s take 1 ms each on average;
    a mean of 0.2 ms at that rate means only 2 were being served."""
    mod = _module()
    assert mod.busy_connections({"requests_per_s": 10_000.0, "mean_ms": 1.0}) == 10.0
    starved = mod.busy_connections({"requests_per_s": 10_000.0, "mean_ms": 0.2})
    assert starved < mod.STARVED * 10


def test_unknown_server_or_test_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    mod = _module()
    with pytest.raises(SystemExit):
        mod.parse_args(["--servers", "nginx-unit"])
    assert "unknown server 'nginx-unit'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mod.parse_args(["--tests", "XX99"])
    assert "unknown test" in capsys.readouterr().err
    a = mod.parse_args(["--servers", "granian,uwsgi", "--tests", "static,LK01"])
    assert [s.name for s in a.servers] == ["granian", "uwsgi"]
    assert [t.name for t in a.load] == ["STATIC", "LK01"]
