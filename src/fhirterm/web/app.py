"""The Flask app factory and the FHIR blueprint.

Handlers read the request, call one operation and render its result; the
FHIR meaning lives in ``fhirterm.operations``. State (settings and registry)
is injected through ``app.extensions["fhirterm"]``: no module-level globals.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, request

from ..config import Settings
from ..errors import InvalidRequest, NotFound
from ..operations.expand import ExpandRequest, expand
from ..operations.lookup import lookup
from ..operations.subsumes import subsumes
from ..operations.translate import translate
from ..operations.validate_code import validate_code
from ..operations.vs_validate import validate_vs_code
from ..registry import Registry
from ..wire import params as wparams
from ..wire import render, resources
from ..wire.requests import (
    cs_validate_request,
    expand_request,
    lookup_request,
    subsumes_request,
    translate_request,
    vs_validate_request,
)
from . import errors
from .errors import fhir_response, outcome

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
JSON_FORMATS = ("json", "application/fhir+json", "application/json", "application/json+fhir")
LARGE = 1000  # concepts above which a read leaves them out unless asked

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


@dataclass(slots=True)
class State:
    settings: Settings
    registry: Registry
    started: str


def state() -> State:
    s: State = current_app.extensions["fhirterm"]
    return s


def _negotiate() -> Response | None:
    """406 unless the client accepts JSON; 415 for a POST body that is not JSON."""
    fmt = request.args.get("_format")
    if fmt is not None and fmt not in JSON_FORMATS:
        return outcome(
            406,
            "error",
            "not-supported",
            f"_format '{fmt}' is not served; this server answers in JSON (_format=json)",
        )
    if (
        fmt is None
        and request.accept_mimetypes
        and not any(request.accept_mimetypes.quality(t) > 0 for t in JSON_TYPES)
    ):
        return outcome(
            406,
            "error",
            "not-supported",
            f"Cannot answer with '{request.headers.get('Accept')}'; this server answers "
            "application/fhir+json (or application/json)",
        )
    if request.method == "POST":
        ctype = request.mimetype
        if ctype not in JSON_TYPES:
            return outcome(
                415,
                "error",
                "not-supported",
                f"Content-Type '{ctype or '(none)'}' is not accepted; send application/fhir+json",
            )
    return None


def read_params() -> wparams.Params:
    """Operation parameters from the query (GET) or a Parameters body (POST)."""
    if request.method == "GET":
        return wparams.from_query(request.args.items(multi=True))
    raw = request.get_data(cache=False)
    if not raw:
        raise InvalidRequest("The POST body is empty; send a Parameters resource")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"The body is not valid JSON: {e}") from None
    p = wparams.from_parameters(body)
    extra = [k for k in request.args if k not in wparams.GENERAL]
    if extra:
        raise InvalidRequest(
            f"Send parameters either in the query or in the body, not both ('{extra[0]}')",
            expression=extra[0],
        )
    return p


def fhir_blueprint(name: str = "fhir") -> Blueprint:
    """The FHIR endpoints, mountable under any prefix of any Flask app.

    The host app must hold a ``State`` in ``app.extensions["fhirterm"]`` (as
    ``create_app`` does) and install ``fhirterm.web.errors.register``.
    """
    bp = Blueprint(name, __name__)
    bp.before_request(_negotiate)

    @bp.get("/metadata")
    def metadata() -> Response:
        st = state()
        mode = request.args.get("mode")
        base = st.settings.base_url
        if mode in (None, "full", "normative"):
            return fhir_response(
                resources.capability_statement(base, st.registry.all_code_systems(), st.started)
            )
        if mode == "terminology":
            return fhir_response(
                resources.terminology_capabilities(base, st.registry.all_code_systems(), st.started)
            )
        raise InvalidRequest(
            f"mode '{mode}' is not supported; use full, normative or terminology", expression="mode"
        )

    @bp.route("/CodeSystem/$lookup", methods=["GET", "POST"])
    def cs_lookup() -> Response:
        return fhir_response(render.lookup(lookup(state().registry, lookup_request(read_params()))))

    @bp.route("/CodeSystem/$validate-code", methods=["GET", "POST"])
    def cs_validate() -> Response:
        req = cs_validate_request(read_params())
        return fhir_response(render.validate_code(validate_code(state().registry, req)))

    @bp.route("/CodeSystem/<id_>/$validate-code", methods=["GET", "POST"])
    def cs_validate_instance(id_: str) -> Response:
        cs = _code_system(id_)
        req = cs_validate_request(read_params(), cs.info.url, cs.info.version)
        return fhir_response(render.validate_code(validate_code(state().registry, req)))

    @bp.route("/CodeSystem/<id_>/$lookup", methods=["GET", "POST"])
    def cs_lookup_instance(id_: str) -> Response:
        cs = _code_system(id_)
        req = lookup_request(read_params())
        if req.system and req.system != cs.info.url:
            raise InvalidRequest(
                f"system '{req.system}' is not the code system '{cs.info.url}' named in the path",
                expression="system",
            )
        from dataclasses import replace

        req = replace(req, system=cs.info.url, version=req.version or cs.info.version)
        return fhir_response(render.lookup(lookup(state().registry, req)))

    @bp.route("/CodeSystem/$subsumes", methods=["GET", "POST"])
    def cs_subsumes() -> Response:
        return fhir_response(
            render.subsumes(subsumes(state().registry, subsumes_request(read_params())))
        )

    @bp.route("/CodeSystem/<id_>/$subsumes", methods=["GET", "POST"])
    def cs_subsumes_instance(id_: str) -> Response:
        cs = _code_system(id_)
        req = subsumes_request(read_params(), (cs.info.url, cs.info.version))
        return fhir_response(render.subsumes(subsumes(state().registry, req)))

    @bp.route("/ValueSet/$expand", methods=["GET", "POST"])
    def vs_expand() -> Response:
        return _expand(expand_request(read_params(), state().settings.expansion_limit))

    @bp.route("/ValueSet/<id_>/$expand", methods=["GET", "POST"])
    def vs_expand_instance(id_: str) -> Response:
        vs = _resource("ValueSet", id_)
        return _expand(
            expand_request(
                read_params(), state().settings.expansion_limit, (vs["url"], vs.get("version"))
            )
        )

    @bp.route("/ValueSet/$validate-code", methods=["GET", "POST"])
    def vs_validate() -> Response:
        req = vs_validate_request(read_params())
        return fhir_response(render.validate_code(validate_vs_code(state().registry, req)))

    @bp.route("/ValueSet/<id_>/$validate-code", methods=["GET", "POST"])
    def vs_validate_instance(id_: str) -> Response:
        vs = _resource("ValueSet", id_)
        req = vs_validate_request(read_params(), (vs["url"], vs.get("version")))
        return fhir_response(render.validate_code(validate_vs_code(state().registry, req)))

    @bp.get("/ValueSet/<id_>")
    def vs_read(id_: str) -> Response:
        wparams.from_query(request.args.items(multi=True)).check((), "ValueSet read")
        return fhir_response(_resource("ValueSet", id_))

    @bp.get("/ValueSet")
    def vs_search() -> Response:
        return _search("ValueSet")

    @bp.route("/ConceptMap/$translate", methods=["GET", "POST"])
    def cm_translate() -> Response:
        return fhir_response(render.translate(translate(state().registry, translate_request(read_params()))))

    @bp.route("/ConceptMap/<id_>/$translate", methods=["GET", "POST"])
    def cm_translate_instance(id_: str) -> Response:
        cm = _resource("ConceptMap", id_)
        req = translate_request(read_params(), (cm["url"], cm.get("version")))
        return fhir_response(render.translate(translate(state().registry, req)))

    @bp.get("/ConceptMap/<id_>")
    def cm_read(id_: str) -> Response:
        wparams.from_query(request.args.items(multi=True)).check((), "ConceptMap read")
        return fhir_response(_resource("ConceptMap", id_))

    @bp.get("/ConceptMap")
    def cm_search() -> Response:
        return _search("ConceptMap")

    @bp.get("/CodeSystem/<id_>")
    def cs_read(id_: str) -> Response:
        p = wparams.from_query(request.args.items(multi=True))
        p.check(("_summary",), "CodeSystem read")
        cs = _code_system(id_)
        return fhir_response(
            resources.code_system(cs, _with_concepts(p, len(cs.concepts) <= LARGE))
        )

    @bp.get("/CodeSystem")
    def cs_search() -> Response:
        st = state()
        p = wparams.from_query(request.args.items(multi=True))
        p.check(
            ("url", "version", "name", "title", "status", "_id", "_summary"), "CodeSystem search"
        )
        crit = {k: p.text(k) for k in ("url", "version", "name", "title", "status", "_id")}
        full = _with_concepts(p, False)
        hits = [
            cs for cs in st.registry.all_code_systems() if _matches(partial(getattr, cs.info), crit)
        ]
        entries = [resources.code_system(cs, full) for cs in hits]
        return fhir_response(resources.bundle(entries, st.settings.base_url, request.url))

    return bp


def _expand(req: ExpandRequest) -> Response:
    result = expand(state().registry, req)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return fhir_response(
        render.expansion(result, f"urn:uuid:{uuid.uuid4()}", now, req.include_definition)
    )


def _resource(resource_type: str, id_: str) -> dict[str, Any]:
    res = state().registry.resources.get((resource_type, id_))
    if res is None:
        raise NotFound(f"{resource_type}/{id_} is not known to this server")
    return res


def _search(resource_type: str) -> Response:
    """Search canonical resources by url, version, name, title, status, _id."""
    st = state()
    p = wparams.from_query(request.args.items(multi=True))
    p.check(("url", "version", "name", "title", "status", "_id"), f"{resource_type} search")
    crit = {k: p.text(k) for k in ("url", "version", "name", "title", "status", "_id")}
    hits = [res for res in st.registry.resources_of(resource_type) if _matches(res.get, crit)]
    return fhir_response(resources.bundle(hits, st.settings.base_url, request.url))


def _with_concepts(p: wparams.Params, default: bool) -> bool:
    s = p.text("_summary")
    if s is None:
        return default
    if s not in ("true", "false"):
        raise InvalidRequest(
            f"_summary '{s}' is not supported; use true (no concepts) or false (everything)",
            expression="_summary",
        )
    return s == "false"


def _matches(get: Callable[[str], Any], crit: dict[str, str | None]) -> bool:
    """Search semantics: url, version, status, _id exact; name and title start-with, case-insensitive."""
    for key, want in crit.items():
        if want is None:
            continue
        have = get("id" if key == "_id" else key)
        if key in ("name", "title"):
            if not (have or "").casefold().startswith(want.casefold()):
                return False
        elif have != want:
            return False
    return True


def _code_system(id_: str) -> Any:
    cs = state().registry.code_system_by_id(id_)
    if cs is None:
        raise NotFound(f"CodeSystem/{id_} is not known to this server")
    return cs


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> Flask:
    """Build the WSGI app: the FHIR blueprint at /fhir and /r4, health at /healthz and /readyz.

    ``registry`` defaults to loading the content that ``settings`` names
    (``Settings.from_env()`` by default).
    """
    from ..loading import load_registry

    settings = settings or Settings.from_env()
    reg = registry if registry is not None else load_registry(settings)
    app = Flask("fhirterm")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fhirterm"] = State(
        settings, reg, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    errors.register(app)
    app.register_blueprint(fhir_blueprint("fhir"), url_prefix="/fhir")
    app.register_blueprint(fhir_blueprint("r4"), url_prefix="/r4")

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
