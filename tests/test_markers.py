"""The markers tests/conftest.py applies: ``full`` follows the fixtures, ``bench`` is opt-in.

Each check runs pytest in a subprocess over a few modules, so it sees what a
developer's ``-m`` sees, not what this run selected.
"""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def _pytest(*args: str) -> str:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_not_full_leaves_out_every_test_over_the_full_release() -> None:
    """No module below marks these tests by hand: the conftest hook finds that they use
    ``full_client`` (test_fast_path), or a fixture that starts a server over the full
    release (test_hostile_live, the conformance test)."""
    modules = [
        "tests/test_fast_path.py",
        "tests/test_hostile_live.py",
        "tests/conformance/test_conformance.py",
    ]
    everything = _pytest("--collect-only", "-q", *modules)
    small = _pytest("--collect-only", "-q", "-m", "not full", *modules)
    over_full = [
        "test_fast_path.py::test_same_answer_as_flask",
        "test_hostile_live.py::test_hostile_request_cost",
        "test_conformance.py::test_conformance_does_not_regress",
    ]
    for name in over_full:
        assert name in everything and name not in small, name
    assert "test_fast_path.py::test_query_parsing_matches_werkzeug" in small, small


def test_bench_smoke_tests_run_only_when_selected() -> None:
    default = _pytest("-q", "-rs", "tests/test_bench_inprocess.py")
    assert "2 skipped" in default and "run with -m bench" in default, default
    listed = _pytest("--collect-only", "-q", "-m", "bench", "tests/test_bench_inprocess.py")
    assert "test_inprocess_runs_the_benchmark_requests" in listed, listed
    assert "test_inprocess_runs_the_compose_expansions" in listed, listed
