"""Settings, read from ``FHIRTERM_*`` environment variables.

| variable | default | meaning |
|---|---|---|
| FHIRTERM_CONTENT_DIR | ./codesystems | folder of FHIR JSON resources and editorial files (a missing or empty folder stops the start; ``none`` serves no content) |
| FHIRTERM_ICD10CM | (the bundled releases) | CDC tabular XML (plain or .xz) or zip files, separated by the OS path separator; ``path#version`` sets the version, ``path#version#START/END`` the period in effect; ``none`` loads no ICD-10-CM |
| FHIRTERM_BASE_URL | http://127.0.0.1:8080/fhir | the public base address, used in Bundle links and CapabilityStatement |
| FHIRTERM_MAX_BODY | 10485760 | largest request body in bytes (413 above it) |
| FHIRTERM_BODY_TIMEOUT | 20 | seconds a request body may stall (nothing of it arriving) before the connection is answered 408 and closed; 0 waits without end. Enforced at the socket on Linux, HTTP/1 (``web/stalls.py``) |
| FHIRTERM_EXPANSION_LIMIT | 1000 | largest unpaged expansion (as tx.fhir.org); page with count/offset |
| FHIRTERM_SEARCH_MAX_COUNT | 1000 | most resources in one page of a search (a larger _count gets this many, and a next link) |
| FHIRTERM_CORS_ORIGINS | * | origins browser apps may call from (CORS): ``*`` any, a comma-separated list of ``scheme://host[:port]``, or ``none`` |
| FHIRTERM_EXPAND_MAX_COUNT | 10000 | largest page of an expansion (count); a larger count is refused (422 too-costly): page with offset |
| FHIRTERM_MAX_CODINGS | 1000 | most codings one $validate-code (CodeableConcept) or $batch-validate-code may carry (422 too-costly above it) |
| FHIRTERM_MAX_TX_CONCEPTS | 25000 | most concepts the tx-resource parameters of one request may carry, all resources together (422 too-costly above it) |
| FHIRTERM_CPU_BUDGET_MS | 1500 | CPU time the value set evaluation of one request may take (an expansion's members and items; 422 too-costly when spent) |
| FHIRTERM_REGEX_BUDGET_MS | 500 | time the regex filters of one request may take in all (422 too-costly when spent) |
| FHIRTERM_REGEX_MAX_LENGTH | 1000 | longest regex filter pattern, in characters (422 too-costly above it) |
| FHIRTERM_REGEX_MAX_SIZE | 10000 | largest regex filter pattern with its counted repeats written out (``(ab){3}`` is 6; 422 too-costly above it): compiling costs time and memory in proportion |
| FHIRTERM_CACHE_DIR | ~/.cache/fhirterm | where parsed releases are cached (``off`` disables) |
| FHIRTERM_RESPONSE_CACHE | 1024 | responses of deterministic GET reads kept per worker, at most 2 MB (0 disables) |
| FHIRTERM_BENCH_STATIC | 0 | 1 serves a fixed body at /_bench/static (a Flask route: the benchmark's ceiling) and /_bench/bare (a bare WSGI callable: the server's floor) |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


def _origins(value: str) -> tuple[str, ...]:
    """FHIRTERM_CORS_ORIGINS: ``*``, ``none`` (or empty) or origins separated by commas."""
    v = value.strip()
    if v.lower() in ("", "none", "off"):
        return ()
    out = tuple(o.strip().rstrip("/") for o in v.split(",") if o.strip())
    bad = [o for o in out if o != "*" and not _ORIGIN.match(o)]
    if bad:
        raise ValueError(
            f"FHIRTERM_CORS_ORIGINS: {bad[0]!r} is not an origin; write scheme://host[:port] "
            "(https://app.example.org), separated by commas, or * for any, or none"
        )
    return out


def _default_content_dir() -> Path:
    return Path.cwd() / "codesystems"


@dataclass(frozen=True, slots=True)
class Settings:
    """Server settings; ``from_env`` reads them from the environment."""

    content_dir: Path | None = field(default_factory=_default_content_dir)  # None: no content
    icd10cm: tuple[str, ...] | None = None  # None: the bundled releases
    base_url: str = "http://127.0.0.1:8080/fhir"
    max_body: int = 10 * 1024 * 1024
    body_timeout: int = 20
    expansion_limit: int = 1000
    search_max_count: int = 1000
    cors_origins: tuple[str, ...] = ("*",)
    expand_max_count: int = 10_000
    max_codings: int = 1_000
    max_tx_concepts: int = 25_000
    cpu_budget_ms: int = 1_500
    xml_max_elements: int = 50_000
    read_max_concepts: int = 10_000
    regex_budget_ms: int = 500
    regex_max_length: int = 1_000
    regex_max_size: int = 10_000
    bench_static: bool = False
    response_cache: int = 1024
    cache_dir: Path | None = field(default_factory=lambda: Path.home() / ".cache" / "fhirterm")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from ``FHIRTERM_*`` variables (``os.environ`` by default).

        Raises ValueError naming the variable when a value cannot be used.
        """
        e = dict(os.environ if env is None else env)
        kw: dict[str, object] = {}
        if v := e.get("FHIRTERM_CONTENT_DIR"):
            kw["content_dir"] = None if v.strip().lower() == "none" else Path(v)
        if (v := e.get("FHIRTERM_ICD10CM")) is not None:
            kw["icd10cm"] = (
                ()
                if v.strip().lower() in ("", "none")
                else tuple(p for p in v.split(os.pathsep) if p)
            )
        if v := e.get("FHIRTERM_BASE_URL"):
            kw["base_url"] = v.rstrip("/")
        for name, key in (
            ("FHIRTERM_MAX_BODY", "max_body"),
            ("FHIRTERM_BODY_TIMEOUT", "body_timeout"),
            ("FHIRTERM_EXPANSION_LIMIT", "expansion_limit"),
            ("FHIRTERM_SEARCH_MAX_COUNT", "search_max_count"),
            ("FHIRTERM_RESPONSE_CACHE", "response_cache"),
            ("FHIRTERM_EXPAND_MAX_COUNT", "expand_max_count"),
            ("FHIRTERM_MAX_CODINGS", "max_codings"),
            ("FHIRTERM_MAX_TX_CONCEPTS", "max_tx_concepts"),
            ("FHIRTERM_CPU_BUDGET_MS", "cpu_budget_ms"),
            ("FHIRTERM_XML_MAX_ELEMENTS", "xml_max_elements"),
            ("FHIRTERM_READ_MAX_CONCEPTS", "read_max_concepts"),
            ("FHIRTERM_REGEX_BUDGET_MS", "regex_budget_ms"),
            ("FHIRTERM_REGEX_MAX_LENGTH", "regex_max_length"),
            ("FHIRTERM_REGEX_MAX_SIZE", "regex_max_size"),
        ):
            if v := e.get(name):
                try:
                    kw[key] = int(v)
                except ValueError:
                    raise ValueError(f"{name} must be an integer, got {v!r}") from None
        if (v := e.get("FHIRTERM_CORS_ORIGINS")) is not None:
            kw["cors_origins"] = _origins(v)
        if int(str(kw.get("body_timeout", 0))) < 0:
            raise ValueError("FHIRTERM_BODY_TIMEOUT must be 0 (no timeout) or more seconds")
        if int(str(kw.get("search_max_count", 1))) < 1:
            raise ValueError("FHIRTERM_SEARCH_MAX_COUNT must be 1 or more")
        if v := e.get("FHIRTERM_CACHE_DIR"):
            kw["cache_dir"] = None if v.strip().lower() in ("off", "none", "0") else Path(v)
        if v := e.get("FHIRTERM_BENCH_STATIC"):
            kw["bench_static"] = v.strip().lower() in ("1", "true", "yes")
        return cls(**kw)  # type: ignore[arg-type]
