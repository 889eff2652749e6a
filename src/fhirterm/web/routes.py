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
from werkzeug.exceptions import UnsupportedMediaType

from .. import __version__
from ..errors import InvalidRequest, NotFound, TooCostly
from ..index import CodeSystemIndex
from ..memo import Memo, memo_in
from ..operations.limits import begin, end
from ..operations.search import search
from ..registry import Registry
from ..wire import forms, opdefs, resources
from ..wire import params as wparams
from ..wire import search as wsearch
from ..wire import xml as wxml
from . import negotiation as neg
from .endpoints import OPERATIONS, Call, Endpoint, State, code_system, prepare, resource
from .errors import CHOICE, fhir_response, outcome
from .headers import PAGES

BODY = "fhirterm.body"  # environ key: the format of a POST body (json or xml)
LARGE = 1000  # concepts above which a read leaves them out unless asked


def state() -> State:
    s: State = current_app.extensions["fhirterm"]
    return s


def _negotiate(r5: bool) -> Response | None:
    """Negotiate the format (``negotiation``) and leave it in the environ; 406/415/400 else.

    Runs before every view of the blueprint. A POST body must be FHIR JSON or
    XML (any parameters; a ``fhirVersion`` must be this endpoint's); its format
    is left in the environ for ``read_params``. A search's (``_search``) is a
    form instead (``_search_query`` checks it).
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
    if request.method == "POST" and not request.path.endswith("/_search"):
        body = neg.body_type(env.get("CONTENT_TYPE", ""), r5)
        if isinstance(body, neg.Refusal):
            return outcome(body.status, "error", "not-supported", body.message)
        env[BODY] = body
    return None


def read_params(r5: bool) -> wparams.Params:
    """Operation parameters from the query (GET, HEAD) or a Parameters body (POST), JSON or XML."""
    if request.method in ("GET", "HEAD"):
        return wparams.from_query(request.args.items(multi=True))
    raw = request.get_data(cache=False)
    if not raw:
        raise InvalidRequest("The POST body is empty; send a Parameters resource")
    if request.environ.get(BODY) == neg.XML:
        body = wxml.loads(raw, r5, state().settings.xml_max_elements)
    else:
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


FORMS_MEMO = "web.forms"  # key of the served-forms memo in Registry.derived
FORMS_MEMO_MAX = 1024


def served(reg: Registry, res: dict[str, Any], r5: bool) -> dict[str, Any]:
    """``res`` in the form of the endpoint's FHIR release, converted once per registry
    (kept in ``reg.derived``, which is emptied when content is added)."""
    # one registry may serve both releases (``Registry.edition`` without release content)
    memo: Memo[tuple[str, str, bool], dict[str, Any]] = memo_in(
        reg.derived, FORMS_MEMO, FORMS_MEMO_MAX
    )
    key = (res["resourceType"], res["id"], r5)
    out = memo.get(key)
    if out is None:
        out = memo.put(key, forms.for_release(res, r5))
    return out


def public_base(base_url: str, mount: str) -> str:
    """The public address of the FHIR base mounted as ``mount`` (fhir, r4, r5).

    ``base_url`` (``Settings.base_url``) is the public address of the
    ``fhir`` base; the others are its siblings (``.../fhir`` -> ``.../r5``).
    Links are built from the setting, never from the request's Host header,
    which a client can set to anything.
    """
    if mount == "fhir":
        return base_url
    root, sep, _ = base_url.rpartition("/")
    if not sep or root.endswith(("/", ":")):  # no path: http://host
        return f"{base_url}/{mount}"
    return f"{root}/{mount}"


FORM = "application/x-www-form-urlencoded"


def _search_query(resource_type: str) -> wsearch.ParsedSearch:
    """The search of this request: the query, and for ``POST [type]/_search`` the form too.

    FHIR's http page: a POST search sends its parameters as a form body
    (and may send some in the query as well); 415 for another body.
    """
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        if request.mimetype != FORM:
            raise UnsupportedMediaType(
                f"A search by POST sends its parameters as {FORM}, "
                f"found '{request.mimetype or '(no Content-Type)'}'"
            )
        pairs += request.form.items(multi=True)
    return wsearch.search_request(
        pairs,
        resource_type,
        wsearch.handling_strict(request.headers.get("Prefer")),
        state().settings.search_max_count,
    )


def _with_concepts(shape: wsearch.Shape, default: bool) -> bool:
    """Whether a CodeSystem is rendered with its concepts.

    ``_summary=false`` or ``data``, or ``_elements`` naming ``concept``, ask
    for them; ``true`` and ``text`` leave them out; otherwise ``default``
    (reads: small code systems whole; searches: none).
    """
    if shape.elements is not None:
        return "concept" in shape.elements
    if shape.summary is None:
        return default
    return shape.summary in ("false", "data")


def _check_size(cs: CodeSystemIndex, shape: wsearch.Shape, most: int) -> None:
    """TooCostly when ``cs`` is to be rendered with more than ``most`` concepts.

    An answer is built whole before it is sent: ICD-10-CM with its 98,186
    concepts is 29 MB of JSON (1 s of CPU, a worker ~130 MB larger after it) and
    42 MB of XML (9 s, ~440 MB). Its concepts are read in pages of an expansion.
    """
    n = len(cs.concepts)
    if n <= most:
        return
    url = cs.info.url
    asked = "_elements=concept" if shape.elements is not None else f"_summary={shape.summary}"
    raise TooCostly(
        f"CodeSystem {cs.info.id} has {n:,} concepts, more than the {most:,} this server "
        f"sends in one resource (FHIRTERM_READ_MAX_CONCEPTS); read it without {asked} for "
        f"its description, page its concepts with ValueSet/$expand?url={url}?fhir_vs"
        "&count=1000&offset=0, or look codes up with CodeSystem/$lookup",
        expression=asked.partition("=")[0],
    )


def _info_getter(cs: CodeSystemIndex) -> Callable[[str], Any]:
    return partial(getattr, cs.info)


def _dict_getter(res: dict[str, Any]) -> Callable[[str], Any]:
    return res.get


def fhir_blueprint(name: str = "fhir", fhir_version: str = "4.0.1") -> Blueprint:
    """The FHIR endpoints for one FHIR version (4.0.1 or 5.0.0), mountable under any prefix.

    The host app must hold a ``State`` in ``app.extensions["fhirterm"]`` (as
    ``create_app`` does) and install ``fhirterm.web.errors.register``.
    """
    bp = Blueprint(name, __name__)
    r5 = fhir_version.startswith("5")
    bp.before_request(partial(_negotiate, r5))
    mount = name

    def base() -> str:
        return public_base(state().settings.base_url, mount)

    @bp.get("/metadata")
    def metadata() -> Response:
        st = state()
        mode = request.args.get("mode")
        here, systems = base(), st.content(r5).all_code_systems()
        if mode in (None, "full", "normative"):
            pages = public_base(st.settings.base_url, PAGES.strip("/"))
            return fhir_response(
                resources.capability_statement(here, systems, st.started, fhir_version, pages)
            )
        if mode == "terminology":
            return fhir_response(resources.terminology_capabilities(here, systems, st.started, r5))
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
        shape = wsearch.read_shape(request.args.items(multi=True), "CodeSystem")
        cs = code_system(state().content(r5), id_)
        most = state().settings.read_max_concepts
        full = _with_concepts(shape, len(cs.concepts) <= min(LARGE, most))
        if full:
            _check_size(cs, shape, most)
        return fhir_response(wsearch.subset(resources.code_system(cs, full, r5), shape, r5))

    @bp.get("/CodeSystem")
    @bp.post("/CodeSystem/_search")
    def cs_search() -> Response:
        parsed = _search_query("CodeSystem")
        full = _with_concepts(parsed.shape, False)
        page = search(state().content(r5).all_code_systems(), _info_getter, parsed.request)
        if full:
            for cs in page.records:
                _check_size(cs, parsed.shape, state().settings.read_max_concepts)
        entries = [
            wsearch.subset(resources.code_system(cs, full, r5), parsed.shape, r5)
            for cs in page.records
        ]
        return fhir_response(wsearch.bundle("CodeSystem", base(), entries, page.total, parsed))

    # the operations: one view per endpoint of endpoints.OPERATIONS

    def operation(endpoint: Endpoint, id_: str | None = None) -> Response:
        budget = begin(state().settings)
        try:
            p, reg = prepare(read_params(r5), state().content(r5), request.path)
            call = Call(p, reg, state().settings, id_, request.headers.get("Accept-Language"), r5)
            return fhir_response(endpoint(call))
        finally:
            end(budget)

    for (rt, op), (endpoint, methods) in OPERATIONS.items():
        view = partial(operation, endpoint)
        name = f"{rt}_{op}".replace("-", "_")
        bp.add_url_rule(f"/{rt}/${op}", name, view, methods=list(methods))
        bp.add_url_rule(f"/{rt}/<id_>/${op}", f"{name}_instance", view, methods=list(methods))

    # the definitions of the operations, as this server takes them

    @bp.get("/OperationDefinition/<id_>")
    def operation_definition(id_: str) -> Response:
        wparams.from_query(request.args.items(multi=True)).check((), "OperationDefinition read")
        op = opdefs.by_id(r5).get(id_)
        if op is None:
            known = ", ".join(opdefs.by_id(r5))
            raise NotFound(f"OperationDefinition/{id_} is not known to this server; it has {known}")
        return fhir_response(opdefs.definition(op, base(), fhir_version, __version__))

    # read and search of canonical resources

    def read(resource_type: str, id_: str) -> Response:
        shape = wsearch.read_shape(request.args.items(multi=True), resource_type)
        reg = state().content(r5)
        res = served(reg, resource(reg, resource_type, id_), r5)
        return fhir_response(wsearch.subset(res, shape, r5))

    def search_type(resource_type: str) -> Response:
        parsed = _search_query(resource_type)
        reg = state().content(r5)
        served_ = [served(reg, res, r5) for res in reg.resources_of(resource_type)]
        page = search(served_, _dict_getter, parsed.request)
        entries = [wsearch.subset(res, parsed.shape, r5) for res in page.records]
        return fhir_response(wsearch.bundle(resource_type, base(), entries, page.total, parsed))

    for rt in ("ValueSet", "ConceptMap"):
        bp.add_url_rule(f"/{rt}/<id_>", f"{rt}_read", partial(read, rt), methods=["GET"])
        bp.add_url_rule(f"/{rt}", f"{rt}_search", partial(search_type, rt), methods=["GET"])
        bp.add_url_rule(
            f"/{rt}/_search", f"{rt}_search_post", partial(search_type, rt), methods=["POST"]
        )

    return bp
