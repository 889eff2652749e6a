"""The production entry point tunes the garbage collector for serving (web/app.serving_gc)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fhirterm.web.app import SERVING_GC_THRESHOLD

from .conftest import SMALL_CONTENT, SMALL_XML


def test_production_entry_point_tunes_the_garbage_collector(tmp_path: Path) -> None:
    """``fhirterm.web.wsgi`` (what granian imports) applies ``serving_gc`` before serving."""
    env = dict(
        os.environ,
        FHIRTERM_CONTENT_DIR=str(SMALL_CONTENT),
        FHIRTERM_ICD10CM=str(SMALL_XML),
        FHIRTERM_CACHE_DIR=str(tmp_path),
    )
    code = "import gc, fhirterm.web.wsgi; print(gc.get_threshold()[0])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == SERVING_GC_THRESHOLD != 700
