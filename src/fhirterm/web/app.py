"""The Flask app factory: state, the FHIR blueprints, health endpoints.

State (settings and registry) is injected through
``app.extensions["fhirterm"]``: no module-level globals.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask, Response

from ..config import Settings
from ..registry import Registry
from ..wire import render
from . import errors
from .cache import ResponseCache
from .endpoints import BASES, State
from .fast import FastReads, WSGIApp
from .headers import ResponseHeaders
from .intake import Intake
from .negotiation import FHIR_JSON
from .pages import PREFIX as PAGES_PREFIX
from .pages import pages_blueprint
from .routes import fhir_blueprint

STATIC_BODY = orjson.dumps(
    render.parameters(
        [{"name": "name", "valueString": "ICD10CM"}, {"name": "version", "valueString": "2026"}]
        + [
            {
                "name": "property",
                "part": [
                    {"name": "code", "valueCode": "static"},
                    {"name": "value", "valueString": "x" * 40},
                ],
            }
            for _ in range(12)
        ]
    )
)

__all__ = ["State", "create_app", "create_wsgi", "fhir_blueprint", "serving_gc"]

# Young-generation threshold of the cyclic garbage collector while serving.
SERVING_GC_THRESHOLD = 20_000


def serving_gc() -> None:
    """Tune the cyclic garbage collector of a serving process (production and the benchmarks).

    A request allocates a few hundred short-lived containers that reference
    counting frees; with the default threshold (700 allocations) a young
    collection ran every few requests, ~10 % of a $lookup's CPU
    (bench/inprocess.py). Cycles are rare here, so collecting less often holds
    little garbage. The loaded content is frozen out of collections anyway
    (``loading``).
    """
    gc.set_threshold(SERVING_GC_THRESHOLD, 10, 10)


def create_app(
    settings: Settings | None = None, registry: Registry | None = None, fast_path: bool = True
) -> Flask:
    """Build the WSGI app: FHIR R4 at /fhir and /r4, R5 at /r5, health at /healthz and /readyz,
    the human-readable pages at /browse (``web.pages``).

    ``registry`` defaults to loading the content that ``settings`` names
    (``Settings.from_env()`` by default). ``fast_path`` installs ``FastReads``
    as Flask's WSGI middleware (``app.wsgi_app``), so GET operation requests
    skip Flask's request machinery; tests turn it off to compare both paths.
    """
    from ..loading import load_registry

    settings = settings or Settings.from_env()
    reg = registry if registry is not None else load_registry(settings)
    app = Flask("fhirterm")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    # A doubled slash (/fhir//metadata) is an unknown path, answered 404 with an
    # OperationOutcome: werkzeug would redirect it (308, an HTML body, and a
    # Location built from the Host header).
    app.url_map.merge_slashes = False
    st = State(settings, reg, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    app.extensions["fhirterm"] = st
    if fast_path:
        app.wsgi_app = FastReads(app.wsgi_app, st)  # type: ignore[method-assign]
    errors.register(app)
    for base, r5 in BASES.items():
        version = "5.0.0" if r5 else "4.0.1"
        app.register_blueprint(fhir_blueprint(base, fhir_version=version), url_prefix=f"/{base}")

    app.register_blueprint(pages_blueprint(), url_prefix=PAGES_PREFIX)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        n = sum(len(cs.concepts) for cs in reg.all_code_systems())
        return Response(
            orjson.dumps({"status": "ready", "concepts": n}), mimetype="application/json"
        )

    if settings.bench_static:

        @app.get("/_bench/static")
        def bench_static() -> Response:
            return Response(STATIC_BODY, content_type=FHIR_JSON)

    return app


def create_wsgi(settings: Settings | None = None, registry: Registry | None = None) -> WSGIApp:
    """The whole WSGI stack production serves: headers -> intake -> response cache -> fast
    path -> Flask.

    The outermost layer answers OPTIONS and adds the CORS and security
    headers to every response (``headers.ResponseHeaders``). The intake
    (``intake.Intake``) reads request bodies before the app (a stalled one
    is answered 408 after ``settings.body_timeout``, ``stalls.Stalls``) and
    lets one request at a time into the rest. The response cache replays deterministic
    answers (``settings.response_cache`` entries per process, 0 disables it);
    on a miss the request enters the app, whose fast path answers GET
    operations without Flask's request machinery.
    """
    settings = settings or Settings.from_env()
    stack: WSGIApp = ResponseHeaders(
        Intake(
            ResponseCache(create_app(settings, registry), max_entries=settings.response_cache),
            max_body=settings.max_body,
            body_timeout=settings.body_timeout,
        ),
        settings.cors_origins,
    )
    return _with_bench_bare(stack) if settings.bench_static else stack


def _with_bench_bare(app: WSGIApp) -> WSGIApp:
    """``/_bench/bare``: the static body from a bare WSGI callable in front of the stack.

    Only with ``FHIRTERM_BENCH_STATIC``: the benchmark's floor of the server
    itself (granian, the network and the load generator, with no Flask and
    none of our code), so a run shows how fast the machine is that day beside
    the Flask ceiling. Every other request pays one more call (~0.1 µs).
    """
    headers = [("Content-Type", FHIR_JSON), ("Content-Length", str(len(STATIC_BODY)))]

    def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bench/bare":
            start_response("200 OK", list(headers))
            return [STATIC_BODY]
        return app(environ, start_response)

    return bare
