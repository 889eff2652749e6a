"""ValueSet $expand: https://hl7.org/fhir/R4/valueset-operation-expand.html"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest, TooCostly
from ..model import Designation, Property
from ..registry import Registry
from .valueset import CompiledValueSet, Member, compile_value_set, resolve


@dataclass(frozen=True, slots=True)
class ExpandRequest:
    url: str | None = None
    value_set: dict[str, Any] | None = None
    value_set_version: str | None = None
    filter: str | None = None
    offset: int = 0
    count: int | None = None
    active_only: bool = False
    include_designations: bool = False
    include_definition: bool = False
    exclude_nested: bool = True
    display_language: str | None = None
    properties: tuple[str, ...] = ()
    limit: int = 10_000  # the largest unpaged expansion


@dataclass(frozen=True, slots=True)
class ExpansionItem:
    system: str
    version: str | None
    code: str
    display: str | None
    abstract: bool
    inactive: bool
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()


@dataclass(slots=True)
class ExpandResult:
    value_set: dict[str, Any]  # the resource expanded (metadata; compose if includeDefinition)
    total: int
    offset: int
    items: list[ExpansionItem]
    parameters: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, FHIR type, value)


def _matches(vs: CompiledValueSet, text: str) -> Iterator[Member] | None:
    """Members matching ``text``, best first, using each code system's text index."""
    systems = vs.code_systems()
    if not systems:
        return None

    def gen() -> Iterator[Member]:
        for cs in systems:
            m = cs.text_index().search(text)
            if m is None:
                continue
            for code in m.top():
                c = vs.contains(cs.info.url, code)
                if c is not None:
                    yield Member(cs, c, c.display)

    return gen()


def expand(registry: Registry, req: ExpandRequest) -> ExpandResult:
    """Expand a value set (by url, or given inline), with text filter and paging.

    ``total`` counts every member after filtering; ``items`` is the page
    ``offset``..``offset+count``. Raises InvalidRequest for bad parameters,
    NotFound for unknown value sets or code systems, TooCostly when an unpaged
    expansion would exceed ``req.limit``.
    """
    if req.value_set is not None and req.url is not None:
        raise InvalidRequest("Send url or valueSet, not both", expression="url")
    if req.value_set is not None:
        vs_res = req.value_set
    elif req.url:
        vs_res = resolve(registry, req.url, req.value_set_version)
    else:
        raise InvalidRequest(
            "Nothing to expand: send url (or call ValueSet/{id}/$expand) or valueSet",
            expression="url",
        )
    if req.offset < 0 or (req.count is not None and req.count < 0):
        raise InvalidRequest("offset and count must not be negative", expression="offset")
    vs = compile_value_set(registry, vs_res)
    members: Iterator[Member] | None = None
    whole = vs.whole_system()
    if whole is not None and req.filter and not req.active_only:
        # Fast path, the common picker case: text search over one whole code
        # system needs no membership tests, and only the page gets sorted.
        found = whole.text_index().search(req.filter)
        if found is not None:
            n = None if req.count is None else req.offset + req.count
            if n is None and len(found) > req.limit:
                raise _too_costly(vs, req)
            codes = found.top(n)[req.offset :]
            hits = [Member(whole, whole.concepts[c], whole.concepts[c].display) for c in codes]
            return _result(vs, vs_res, req, len(found), hits)
    if req.filter and req.filter.strip():
        members = _matches(vs, req.filter)
    if members is None:
        members = vs.members()
    if req.active_only or vs.inactive is False:
        members = (m for m in members if not m.concept.inactive)
    end = None if req.count is None else req.offset + req.count
    page: list[Member] = []
    total = 0
    for m in members:
        if req.offset <= total and (end is None or total < end):
            page.append(m)
        total += 1
        if req.count is None and total > req.limit:
            raise _too_costly(vs, req)
    return _result(vs, vs_res, req, total, page)


def _too_costly(vs: CompiledValueSet, req: ExpandRequest) -> TooCostly:
    return TooCostly(
        f"The value set '{vs.url}' has more than {req.limit} codes; this expansion is too costly "
        "to return unpaged: send count (and offset) to page through it, or a filter",
        expression="count",
    )


def _result(
    vs: CompiledValueSet, vs_res: dict[str, Any], req: ExpandRequest, total: int, page: list[Member]
) -> ExpandResult:
    items = [_item(m, req) for m in page]
    params: list[tuple[str, str, Any]] = []
    if req.filter:
        params.append(("filter", "string", req.filter))
    params.append(("offset", "integer", req.offset))
    if req.count is not None:
        params.append(("count", "integer", req.count))
    for name, flag in (
        ("activeOnly", req.active_only),
        ("includeDesignations", req.include_designations),
        ("includeDefinition", req.include_definition),
    ):
        if flag:
            params.append((name, "boolean", True))
    if req.display_language:
        params.append(("displayLanguage", "code", req.display_language))
    for cs in vs.code_systems():
        params.append(
            (
                "used-codesystem",
                "uri",
                f"{cs.info.url}|{cs.info.version}" if cs.info.version else cs.info.url,
            )
        )
    return ExpandResult(vs_res, total, req.offset, items, params)


def _item(m: Member, req: ExpandRequest) -> ExpansionItem:
    c = m.concept
    display = m.display
    if req.display_language:
        lang = req.display_language.lower()
        alt = next(
            (d.value for d in c.designations if d.language and d.language.lower().startswith(lang)),
            None,
        )
        if alt is not None:
            display = alt
    props: tuple[Property, ...] = ()
    if req.properties:
        wanted = set(req.properties)
        props = tuple(p for p in c.properties if p.code in wanted and p.value is not None)
        if "definition" in wanted and c.definition:
            props = (*props, Property("definition", "string", c.definition))
    return ExpansionItem(
        m.system,
        m.cs.info.version,
        c.code,
        display,
        c.abstract,
        c.inactive,
        c.designations if req.include_designations else (),
        props,
    )
