"""The FHIR blueprint: negotiation, reads and searches, and the operation endpoints.

The operations are mounted from ``endpoints.OPERATIONS``: a view reads the
parameters (query or Parameters body), layers ``tx-resource`` over the
content for that request only, and calls the endpoint. The FHIR meaning lives
in ``fhirterm.operations``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request

from ..errors import InvalidRequest
from ..wire import params as wparams
from ..wire import resources
from . import negotiation as neg
from .endpoints import OPERATIONS, Call, Endpoint, State, code_system, prepare, resource
from .errors import CHOICE, fhir_response, outcome

LARGE = 1000  # concepts above which a read leaves them out unless asked
SEARCH = ("url", "version", "name", "title", "status", "_id")


def state() -> State:
    s: State = current_app.extensions["fhirterm"]
    return s


def _negotiate(r5: bool) -> Response | None:
    """Negotiate the format (``negotiation``) and leave it in the environ; 406/415/400 else.

    Runs before every view of the blueprint. A POST body must be JSON (any
    parameters; a ``fhirVersion`` must be this endpoint's).
    """
    env = request.environ
    fmt = request.args.get("_format")
    got = neg.choose(env.get("HTTP_ACCEPT", ""), r5) if fmt is None else neg.from_format(fmt, r5)
    if isinstance(got, neg.Refusal):
        return outcome(got.status, "error", "not-supported", got.message)
    try:
        if neg.pretty(request.args.get("_pretty")):
            got = replace(got, pretty=True)
    except ValueError as e:
        return outcome(400, "error", "invalid", str(e), expression="_pretty")
    env[CHOICE] = got
    if request.method == "POST":
        body = neg.body_type(env.get("CONTENT_TYPE", ""), r5)
        if isinstance(body, neg.Refusal):
            return outcome(body.status, "error", "not-supported", body.message)
    return None


def read_params() -> wparams.Params:
    """Operation parameters from the query (GET, HEAD) or a Parameters body (POST)."""
    if request.method in ("GET", "HEAD"):
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
    r5 = fhir_version.startswith("5")
    bp.before_request(partial(_negotiate, r5))

    @bp.get("/metadata")
    def metadata() -> Response:
        st = state()
        mode = request.args.get("mode")
        base, systems = st.settings.base_url, st.content(r5).all_code_systems()
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

    @bp.get("/CodeSystem/<id_>")
    def cs_read(id_: str) -> Response:
        p = wparams.from_query(request.args.items(multi=True))
        p.check(("_summary",), "CodeSystem read")
        cs = code_system(state().content(r5), id_)
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
            cs
            for cs in st.content(r5).all_code_systems()
            if _matches(partial(getattr, cs.info), crit)
        ]
        entries = [resources.code_system(cs, full) for cs in hits]
        return fhir_response(resources.bundle(entries, st.settings.base_url, request.url))

    # the operations: one view per endpoint of endpoints.OPERATIONS

    def operation(endpoint: Endpoint, id_: str | None = None) -> Response:
        p, reg = prepare(read_params(), state().content(r5), request.path)
        call = Call(p, reg, state().settings, id_, request.headers.get("Accept-Language"), r5)
        return fhir_response(endpoint(call))

    for (rt, op), (endpoint, methods) in OPERATIONS.items():
        view = partial(operation, endpoint)
        name = f"{rt}_{op}".replace("-", "_")
        bp.add_url_rule(f"/{rt}/${op}", name, view, methods=list(methods))
        bp.add_url_rule(f"/{rt}/<id_>/${op}", f"{name}_instance", view, methods=list(methods))

    # read and search of canonical resources

    def read(resource_type: str, id_: str) -> Response:
        wparams.from_query(request.args.items(multi=True)).check((), f"{resource_type} read")
        return fhir_response(resource(state().content(r5), resource_type, id_))

    def search(resource_type: str) -> Response:
        st = state()
        p = wparams.from_query(request.args.items(multi=True))
        p.check(SEARCH, f"{resource_type} search")
        crit = {k: p.text(k) for k in SEARCH}
        hits = [
            res for res in st.content(r5).resources_of(resource_type) if _matches(res.get, crit)
        ]
        return fhir_response(resources.bundle(hits, st.settings.base_url, request.url))

    for rt in ("ValueSet", "ConceptMap"):
        bp.add_url_rule(f"/{rt}/<id_>", f"{rt}_read", partial(read, rt), methods=["GET"])
        bp.add_url_rule(f"/{rt}", f"{rt}_search", partial(search, rt), methods=["GET"])

    return bp
