"""The FHIR operation endpoints, free of any web framework.

Each endpoint reads a ``Call`` (parameters, the registry to answer from, the
headers that matter) and returns the FHIR JSON body as plain dicts; it raises
a ``TerminologyError`` for anything the client got wrong. ``OPERATIONS`` is the
one table of operation routes: the Flask blueprint (``routes.py``) mounts it,
and the fast path (``fast.py``) answers its GET requests without entering
Flask. So both paths run the same code and give the same answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..config import Settings
from ..errors import ContentError, InvalidRequest, NotFound
from ..index import CodeSystemIndex
from ..loading import overlay
from ..operations import limits as wlimits
from ..operations.expand import expand
from ..operations.lookup import lookup
from ..operations.subsumes import subsumes
from ..operations.translate import translate
from ..operations.validate_code import validate_code
from ..operations.vs_validate import batch_validate, validate_vs_code
from ..registry import Registry
from ..wire import params as wparams
from ..wire import render
from ..wire import requests as wreq

log = logging.getLogger("fhirterm")

GET_POST = ("GET", "POST")


@dataclass(slots=True)
class State:
    """What every request reads: the settings, the loaded content, the start time."""

    settings: Settings
    registry: Registry
    started: str

    def content(self, r5: bool) -> Registry:
        """What an endpoint of FHIR R5 (or R4) serves: the shared content and that release's."""
        return self.registry.edition("r5" if r5 else "r4")


@dataclass(slots=True)
class Call:
    """One operation request, as every endpoint sees it; read-only by contract.

    Not a frozen dataclass: building a frozen one costs ~1.5 µs more per request
    (a guarded ``object.__setattr__`` per field).

    ``params`` no longer holds ``tx-resource`` (``prepare`` took them);
    ``registry`` is the server's content with those resources layered over it.
    ``id_`` is the instance named in the path (``CodeSystem/{id}/$lookup``),
    ``accept_language`` the raw Accept-Language header.
    """

    params: wparams.Params
    registry: Registry
    settings: Settings
    id_: str | None
    accept_language: str | None
    r5: bool


def prepare(p: wparams.Params, registry: Registry, path: str) -> tuple[wparams.Params, Registry]:
    """Take ``tx-resource`` out of ``p``; the registry to answer from (those resources over ours).

    InvalidRequest when a tx-resource is not a resource, has an element of the wrong
    JSON type (``wire.checks``) or does not parse (through the same parser as
    ``codesystems/``). Runs in the request's budget
    (``operations.limits.begin``); TooCostly when the tx-resources carry more concepts than
    the request's ``max_tx_concepts``.
    """
    if (rid := p.all("uuid")) and log.isEnabledFor(logging.DEBUG):
        log.debug("request %s %s", rid[0][1], path)
    if not p.all("tx-resource"):
        return p, registry
    # counted before the resources are checked and read: both cost in proportion
    wlimits.check_tx_concepts([v for _, v in p.all("tx-resource")])
    extra = wreq.tx_resources(p)
    try:
        return p, overlay(registry, extra)
    except ContentError as e:
        raise InvalidRequest(
            f"{e.source}: {e.field}: {e.message}", expression="tx-resource"
        ) from None


def resource(reg: Registry, resource_type: str, id_: str) -> dict[str, Any]:
    """The canonical resource ``resource_type/id_``; NotFound when the server has none."""
    res = reg.resources.get((resource_type, id_))
    if res is None:
        raise NotFound(f"{resource_type}/{id_} is not known to this server")
    return res


def code_system(reg: Registry, id_: str) -> CodeSystemIndex:
    """The code system with resource id ``id_``; NotFound when the server has none."""
    cs = reg.code_system_by_id(id_)
    if cs is None:
        raise NotFound(f"CodeSystem/{id_} is not known to this server")
    return cs


def _pinned(c: Call, resource_type: str) -> tuple[str, str | None] | None:
    """(url, version) of the instance named in the path, or None at type level."""
    if c.id_ is None:
        return None
    res = resource(c.registry, resource_type, c.id_)
    return res["url"], res.get("version")


def cs_lookup(c: Call) -> dict[str, Any]:
    req = wreq.lookup_request(c.params)
    if c.id_ is not None:
        cs = code_system(c.registry, c.id_)
        if req.system and req.system != cs.info.url:
            raise InvalidRequest(
                f"system '{req.system}' is not the code system '{cs.info.url}' named in the path",
                expression="system",
            )
        req = replace(req, system=cs.info.url, version=req.version or cs.info.version)
    return render.lookup(lookup(c.registry, req))


def cs_validate(c: Call) -> dict[str, Any]:
    if c.id_ is None:
        req = wreq.cs_validate_request(c.params, accept_language=c.accept_language)
    else:
        cs = code_system(c.registry, c.id_)
        req = wreq.cs_validate_request(c.params, cs.info.url, cs.info.version, c.accept_language)
    return render.validate_code(validate_code(c.registry, req))


def cs_subsumes(c: Call) -> dict[str, Any]:
    fixed = None
    if c.id_ is not None:
        cs = code_system(c.registry, c.id_)
        fixed = (cs.info.url, cs.info.version)
    return render.subsumes(subsumes(c.registry, wreq.subsumes_request(c.params, fixed)))


def vs_expand(c: Call) -> dict[str, Any]:
    req = wreq.expand_request(
        c.params, c.settings.expansion_limit, _pinned(c, "ValueSet"), c.accept_language
    )
    result = expand(c.registry, req)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return render.expansion(
        result, f"urn:uuid:{uuid.uuid4()}", now, bool(req.include_definition), c.r5
    )


def vs_validate(c: Call) -> dict[str, Any]:
    req = wreq.vs_validate_request(c.params, _pinned(c, "ValueSet"), c.accept_language)
    return render.validate_code(validate_vs_code(c.registry, req))


def vs_batch_validate(c: Call) -> dict[str, Any]:
    entries = wreq.batch_validate_requests(c.params, _pinned(c, "ValueSet"), c.accept_language)
    return render.batch_validate(batch_validate(c.registry, entries))


def cm_translate(c: Call) -> dict[str, Any]:
    req = wreq.translate_request(c.params, _pinned(c, "ConceptMap"), c.r5)
    return render.translate(translate(c.registry, req), c.r5)


Endpoint = Callable[[Call], dict[str, Any]]

# (resource type, operation) -> (endpoint, HTTP methods). Each is served at
# type level (/CodeSystem/$lookup) and instance level (/CodeSystem/{id}/$lookup).
OPERATIONS: dict[tuple[str, str], tuple[Endpoint, tuple[str, ...]]] = {
    ("CodeSystem", "lookup"): (cs_lookup, GET_POST),
    ("CodeSystem", "validate-code"): (cs_validate, GET_POST),
    ("CodeSystem", "subsumes"): (cs_subsumes, GET_POST),
    ("ValueSet", "expand"): (vs_expand, GET_POST),
    ("ValueSet", "validate-code"): (vs_validate, GET_POST),
    ("ValueSet", "batch-validate-code"): (vs_batch_validate, ("POST",)),
    ("ConceptMap", "translate"): (cm_translate, GET_POST),
}

# URL prefix -> whether it serves R5 (else R4)
BASES: dict[str, bool] = {"fhir": False, "r4": False, "r5": True}
