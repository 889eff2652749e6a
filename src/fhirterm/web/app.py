"""The Flask app factory: state, the FHIR blueprints, health endpoints.

State (settings and registry) is injected through
``app.extensions["fhirterm"]``: no module-level globals.
"""

from __future__ import annotations

import datetime as dt

import orjson
from flask import Flask, Response

from ..config import Settings
from ..registry import Registry
from ..wire import render
from . import errors
from .routes import State, fhir_blueprint

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

__all__ = ["State", "create_app", "fhir_blueprint"]


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> Flask:
    """Build the WSGI app: FHIR R4 at /fhir and /r4, R5 at /r5, health at /healthz and /readyz.

    ``registry`` defaults to loading the content that ``settings`` names
    (``Settings.from_env()`` by default).
    """
    from ..loading import load_registry

    settings = settings or Settings.from_env()
    reg = registry if registry is not None else load_registry(settings)
    app = Flask("fhirterm")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.extensions["fhirterm"] = State(
        settings, reg, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    errors.register(app)
    app.register_blueprint(fhir_blueprint("fhir"), url_prefix="/fhir")
    app.register_blueprint(fhir_blueprint("r4"), url_prefix="/r4")
    app.register_blueprint(fhir_blueprint("r5", fhir_version="5.0.0"), url_prefix="/r5")

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
            return Response(STATIC_BODY, mimetype="application/fhir+json")

    return app
