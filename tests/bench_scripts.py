"""Running and importing the scripts of bench/ from tests (they are scripts, not modules)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


def load_script(name: str) -> Any:
    """bench/NAME.py imported as a module (under a name of its own)."""
    spec = importlib.util.spec_from_file_location(
        f"fhirterm_bench_{name}", BENCH_DIR / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_script(
    name: str, args: list[str], tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run bench/NAME.py with ``args`` plus ``--json`` in ``tmp_path``; assert it exited 0
    (showing its output if not) and return the process and the JSON it wrote."""
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / f"{name}.py"), *args, "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    data: dict[str, Any] = json.loads(out.read_text())
    return proc, data
