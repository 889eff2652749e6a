"""Smoke test of bench/inprocess.py: the benchmark's requests answered in process, right statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.bench
@pytest.mark.full
def test_inprocess_runs_the_benchmark_requests(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "inprocess.py"),
        "--only",
        "LK01,LK05",
        "--codes",
        "20",
    ]
    env = {"PATH": "/usr/bin:/bin", "FHIRTERM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {"LK01", "LK05"}
    assert "{'200': 20}" in rows["LK01"] and "{'404': 20}" in rows["LK05"]


@pytest.mark.bench
@pytest.mark.full
def test_inprocess_runs_the_compose_expansions(tmp_path: Path) -> None:
    """EX04 (text filters over compose value sets, some POSTed inline) answers 200 each."""
    cmd = [sys.executable, str(ROOT / "bench" / "inprocess.py"), "--only", "EX04", "--codes", "25"]
    env = {"PATH": "/usr/bin:/bin", "FHIRTERM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {"EX04"}
    n = int(rows["EX04"].split()[1])
    assert n >= 20 and f"{{'200': {n}}}" in rows["EX04"]
