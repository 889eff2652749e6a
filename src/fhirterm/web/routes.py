"""The FHIR blueprint: one thin handler per endpoint.

Handlers read the request, call one operation and render its result; the FHIR
meaning lives in ``fhirterm.operations``. ``tx-resource`` parameters are
layered over the server's content for that request only.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request

from ..config import Settings
from ..errors import ContentError, InvalidRequest, NotFound
from ..index import CodeSystemIndex
from ..loading import overlay
from ..operations.expand import expand
from ..operations.lookup import lookup
from ..operations.subsumes import subsumes
from ..operations.translate import translate
from ..operations.validate_code import validate_code
from ..operations.vs_validate import batch_validate, validate_vs_code
from ..registry import Registry
from ..wire import params as wparams
from ..wire import render, resources
from ..wire import requests as wreq
from .errors import fhir_response, outcome

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
JSON_FORMATS = ("json", "application/fhir+json", "application/json", "application/json+fhir")
LARGE = 1000  # concepts above which a read leaves them out unless asked
SEARCH = ("url", "version", "name", "title", "status", "_id")
log = logging.getLogger("fhirterm")


@dataclass(slots=True)
class State:
    settings: Settings
    registry: Registry
    started: str


def state() -> State:
    s: State = current_app.extensions["fhirterm"]
    return s


# Accept headers that need no parsing: the common JSON-accepting ones.
_PLAIN_ACCEPT = frozenset(
    {
        "",
        "*/*",
        "application/fhir+json",
        "application/json",
        "application/json+fhir",
        "application/fhir+json, */*",
        "application/json, */*",
    }
)


def _negotiate() -> Response | None:
    """406 unless the client accepts JSON; 415 for a POST body that is not JSON."""
    env = request.environ
    if (
        request.method == "GET"
        and "_format" not in env.get("QUERY_STRING", "")
        and env.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPT
    ):
        return None  # fast path: parsing the Accept header costs ~40 µs a request
    fmt = request.args.get("_format")
    if fmt is not None and fmt not in JSON_FORMATS:
        return outcome(
            406,
            "error",
            "not-supported",
            f"_format '{fmt}' is not served; this server answers in JSON (_format=json)",
        )
    accept = request.accept_mimetypes
    if fmt is None and accept and not any(accept.quality(t) > 0 for t in JSON_TYPES):
        return outcome(
            406,
            "error",
            "not-supported",
            f"Cannot answer with '{request.headers.get('Accept')}'; this server answers "
            "application/fhir+json (or application/json)",
        )
    if request.method == "POST" and request.mimetype not in JSON_TYPES:
        return outcome(
            415,
            "error",
            "not-supported",
            f"Content-Type '{request.mimetype or '(none)'}' is not accepted; send application/fhir+json",
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


def read_request() -> tuple[wparams.Params, Registry]:
    """Parameters, and the registry to answer from: ``tx-resource`` resources over the content."""
    p = read_params()
    if (rid := p.all("uuid")) and log.isEnabledFor(logging.DEBUG):
        log.debug("request %s %s", rid[0][1], request.path)
    extra = p.take("tx-resource")
    reg = state().registry
    if not extra:
        return p, reg
    bad = next(
        (i for i, (t, v) in enumerate(extra) if t != "resource" or not isinstance(v, dict)), None
    )
    if bad is not None:
        raise InvalidRequest(f"tx-resource[{bad}] must be a resource", expression="tx-resource")
    try:
        return p, overlay(reg, [v for _, v in extra])
    except ContentError as e:
        raise InvalidRequest(
            f"{e.source}: {e.field}: {e.message}", expression="tx-resource"
        ) from None


def _resource(reg: Registry, resource_type: str, id_: str) -> dict[str, Any]:
    res = reg.resources.get((resource_type, id_))
    if res is None:
        raise NotFound(f"{resource_type}/{id_} is not known to this server")
    return res


def _code_system(reg: Registry, id_: str) -> CodeSystemIndex:
    cs = reg.code_system_by_id(id_)
    if cs is None:
        raise NotFound(f"CodeSystem/{id_} is not known to this server")
    return cs


def _matches(get: Callable[[str], Any], crit: dict[str, str | None]) -> bool:
    """Search semantics: url, version, status, _id exact; name and title start-with, case-insensitive."""
    for key, want in crit.items():
        if want is None:
            continue
        have = get("id" if key == "_id" else key)
        if key in ("name", "title"):
            if not str(have or "").casefold().startswith(want.casefold()):
                return False
        elif have != want:
            return False
    return True


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


def fhir_blueprint(name: str = "fhir", fhir_version: str = "4.0.1") -> Blueprint:
    """The FHIR endpoints for one FHIR version (4.0.1 or 5.0.0), mountable under any prefix.

    The host app must hold a ``State`` in ``app.extensions["fhirterm"]`` (as
    ``create_app`` does) and install ``fhirterm.web.errors.register``.
    """
    bp = Blueprint(name, __name__)
    bp.before_request(_negotiate)
    r5 = fhir_version.startswith("5")

    @bp.get("/metadata")
    def metadata() -> Response:
        st = state()
        mode = request.args.get("mode")
        base, systems = st.settings.base_url, st.registry.all_code_systems()
        if mode in (None, "full", "normative"):
            return fhir_response(
                resources.capability_statement(base, systems, st.started, fhir_version)
            )
        if mode == "terminology":
            return fhir_response(resources.terminology_capabilities(base, systems, st.started))
        raise InvalidRequest(
            f"mode '{mode}' is not supported; use full, normative or terminology", expression="mode"
        )

    @bp.get("/$versions")
    def versions() -> Response:
        # One FHIR version per base (no fhirVersion mime-type parameter): the list is that one.
        wparams.from_query(request.args.items(multi=True)).check((), "$versions")
        return fhir_response(resources.versions((fhir_version,), fhir_version))

    # CodeSystem

    @bp.route("/CodeSystem/$lookup", methods=["GET", "POST"])
    @bp.route("/CodeSystem/<id_>/$lookup", methods=["GET", "POST"])
    def cs_lookup(id_: str | None = None) -> Response:
        p, reg = read_request()
        req = wreq.lookup_request(p)
        if id_ is not None:
            cs = _code_system(reg, id_)
            if req.system and req.system != cs.info.url:
                raise InvalidRequest(
                    f"system '{req.system}' is not the code system '{cs.info.url}' named in the path",
                    expression="system",
                )
            req = replace(req, system=cs.info.url, version=req.version or cs.info.version)
        return fhir_response(render.lookup(lookup(reg, req)))

    @bp.route("/CodeSystem/$validate-code", methods=["GET", "POST"])
    @bp.route("/CodeSystem/<id_>/$validate-code", methods=["GET", "POST"])
    def cs_validate(id_: str | None = None) -> Response:
        p, reg = read_request()
        lang = request.headers.get("Accept-Language")
        if id_ is None:
            req = wreq.cs_validate_request(p, accept_language=lang)
        else:
            cs = _code_system(reg, id_)
            req = wreq.cs_validate_request(p, cs.info.url, cs.info.version, lang)
        return fhir_response(render.validate_code(validate_code(reg, req)))

    @bp.route("/CodeSystem/$subsumes", methods=["GET", "POST"])
    @bp.route("/CodeSystem/<id_>/$subsumes", methods=["GET", "POST"])
    def cs_subsumes(id_: str | None = None) -> Response:
        p, reg = read_request()
        fixed = None
        if id_ is not None:
            cs = _code_system(reg, id_)
            fixed = (cs.info.url, cs.info.version)
        return fhir_response(render.subsumes(subsumes(reg, wreq.subsumes_request(p, fixed))))

    @bp.get("/CodeSystem/<id_>")
    def cs_read(id_: str) -> Response:
        p = wparams.from_query(request.args.items(multi=True))
        p.check(("_summary",), "CodeSystem read")
        cs = _code_system(state().registry, id_)
        return fhir_response(
            resources.code_system(cs, _with_concepts(p, len(cs.concepts) <= LARGE))
        )

    @bp.get("/CodeSystem")
    def cs_search() -> Response:
        st = state()
        p = wparams.from_query(request.args.items(multi=True))
        p.check((*SEARCH, "_summary"), "CodeSystem search")
        crit = {k: p.text(k) for k in SEARCH}
        full = _with_concepts(p, False)
        hits = [
            cs for cs in st.registry.all_code_systems() if _matches(partial(getattr, cs.info), crit)
        ]
        entries = [resources.code_system(cs, full) for cs in hits]
        return fhir_response(resources.bundle(entries, st.settings.base_url, request.url))

    # ValueSet

    @bp.route("/ValueSet/$expand", methods=["GET", "POST"])
    @bp.route("/ValueSet/<id_>/$expand", methods=["GET", "POST"])
    def vs_expand(id_: str | None = None) -> Response:
        p, reg = read_request()
        fixed = None
        if id_ is not None:
            vs = _resource(reg, "ValueSet", id_)
            fixed = (vs["url"], vs.get("version"))
        req = wreq.expand_request(
            p, state().settings.expansion_limit, fixed, request.headers.get("Accept-Language")
        )
        result = expand(reg, req)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return fhir_response(
            render.expansion(
                result, f"urn:uuid:{uuid.uuid4()}", now, bool(req.include_definition), r5
            )
        )

    @bp.route("/ValueSet/$validate-code", methods=["GET", "POST"])
    @bp.route("/ValueSet/<id_>/$validate-code", methods=["GET", "POST"])
    def vs_validate(id_: str | None = None) -> Response:
        p, reg = read_request()
        fixed = None
        if id_ is not None:
            vs = _resource(reg, "ValueSet", id_)
            fixed = (vs["url"], vs.get("version"))
        return fhir_response(
            render.validate_code(
                validate_vs_code(
                    reg,
                    wreq.vs_validate_request(p, fixed, request.headers.get("Accept-Language")),
                )
            )
        )

    @bp.route("/ValueSet/$batch-validate-code", methods=["POST"])
    @bp.route("/ValueSet/<id_>/$batch-validate-code", methods=["POST"])
    def vs_batch_validate(id_: str | None = None) -> Response:
        p, reg = read_request()
        fixed = None
        if id_ is not None:
            vs = _resource(reg, "ValueSet", id_)
            fixed = (vs["url"], vs.get("version"))
        entries = wreq.batch_validate_requests(p, fixed, request.headers.get("Accept-Language"))
        return fhir_response(render.batch_validate(batch_validate(reg, entries)))

    # ConceptMap

    @bp.route("/ConceptMap/$translate", methods=["GET", "POST"])
    @bp.route("/ConceptMap/<id_>/$translate", methods=["GET", "POST"])
    def cm_translate(id_: str | None = None) -> Response:
        p, reg = read_request()
        fixed = None
        if id_ is not None:
            cm = _resource(reg, "ConceptMap", id_)
            fixed = (cm["url"], cm.get("version"))
        return fhir_response(
            render.translate(translate(reg, wreq.translate_request(p, fixed, r5)), r5)
        )

    # read and search of canonical resources

    def read(resource_type: str, id_: str) -> Response:
        wparams.from_query(request.args.items(multi=True)).check((), f"{resource_type} read")
        return fhir_response(_resource(state().registry, resource_type, id_))

    def search(resource_type: str) -> Response:
        st = state()
        p = wparams.from_query(request.args.items(multi=True))
        p.check(SEARCH, f"{resource_type} search")
        crit = {k: p.text(k) for k in SEARCH}
        hits = [res for res in st.registry.resources_of(resource_type) if _matches(res.get, crit)]
        return fhir_response(resources.bundle(hits, st.settings.base_url, request.url))

    for rt in ("ValueSet", "ConceptMap"):
        bp.add_url_rule(f"/{rt}/<id_>", f"{rt}_read", partial(read, rt), methods=["GET"])
        bp.add_url_rule(f"/{rt}", f"{rt}_search", partial(search, rt), methods=["GET"])

    return bp
