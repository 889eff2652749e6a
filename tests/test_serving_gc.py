"""The production entry point tunes memory for serving: the garbage collector
(web/app.serving_gc) and glibc's malloc arenas (cli._limit_malloc_arenas)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from fhirterm import cli
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


def test_serve_caps_malloc_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fhirterm serve`` caps the arenas at 2 for itself (mallopt, inherited by the
    forked workers) and for processes started anew (the variable)."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert cli._limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
    assert os.environ["MALLOC_ARENA_MAX"] == str(cli.MALLOC_ARENAS) == "2"


def test_serve_keeps_a_malloc_arena_max_that_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    cli._limit_malloc_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "4"
