"""ValueSet $expand: https://hl7.org/fhir/R4/valueset-operation-expand.html"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any

from ..errors import InvalidRequest, TooCostly
from ..index import CodeSystemIndex
from ..registry import Registry
from . import contains, dates, limits, supplements
from .compose import compile_value_set, compose_parameter, resolve_value_set
from .contracts import (
    ExpandRequest,
    ExpandResult,
    ExpansionItem,
    VersionRules,
    canonical_versions,
)
from .members import member_bits, text_matches
from .members import page as page_of
from .valueset import CompiledValueSet, Member
from .versions import newest_first


def _matches(vs: CompiledValueSet, text: str) -> Iterator[Member] | None:
    """Members matching ``text``, best first, using each code system's text index (each
    version of a code system on its own, or the newest first when the versions match)."""
    systems = vs.code_systems()
    if not systems:
        return None
    if vs.versions_match:
        systems = newest_first(systems, lambda cs: cs.info.url, lambda cs: cs.info.version)

    def gen() -> Iterator[Member]:
        seen: set[tuple[str, str]] = set()
        budget = limits.current()
        for cs in systems:
            m = cs.search_text(text)
            if m is None:
                continue
            for n, code in enumerate(m.top()):
                if not n % limits.CHECK_EVERY:
                    budget.check_cpu("Evaluating the value set")
                c = vs.contains(cs.info.url, code, cs.info.version)
                if c is None:
                    continue
                if vs.versions_match:
                    if (cs.info.url, code) in seen:
                        continue
                    seen.add((cs.info.url, code))
                yield Member(cs, c, c.display)

    return gen()


def _found_page(
    vs: CompiledValueSet, text: str, active_only: bool, offset: int, end: int | None, limit: int
) -> tuple[int, list[Member]] | None:
    """(total, the page ``offset``..``end``) of the members matching ``text``, in
    ``_matches``'s order, from the code systems' bitmaps (``members.text_matches``); None
    when those do not answer. TooCostly when unpaged (``end`` None) and over ``limit``."""
    found = text_matches(vs, text, active_only)
    if found is None:
        return None
    total = sum(len(m) for _, m in found)
    if end is None and total > limit:
        raise _too_costly(vs, limit)
    page: list[Member] = []
    skip = offset
    for cs, m in found:
        size = len(m)
        if skip >= size:
            skip -= size
            continue
        want = None if end is None else end - offset - len(page)
        if want is not None and want <= 0:
            break
        codes = m.top(None if want is None else skip + want)[skip:]
        skip = 0
        page.extend(Member(cs, c, c.display) for c in map(cs.concepts.__getitem__, codes))
    return total, page


_FLAGS = ("activeOnly", "excludeNested", "includeDesignations", "includeDefinition")
_FLAG_FIELDS = {
    "activeOnly": "active_only",
    "excludeNested": "exclude_nested",
    "includeDesignations": "include_designations",
    "includeDefinition": "include_definition",
}


def _vs_defaults(req: ExpandRequest, vs: dict[str, Any]) -> ExpandRequest:
    """Expansion parameters the value set itself sets (compose extension), where the request has none."""
    compose = vs.get("compose")
    if not isinstance(compose, dict):
        return req
    changes: dict[str, Any] = {}
    language = compose_parameter(compose, "displayLanguage")
    if req.display_language is None and language:
        changes["display_language"] = str(language)
    for name, name_field in _FLAG_FIELDS.items():
        value = compose_parameter(compose, name)
        if getattr(req, name_field) is None and isinstance(value, bool):
            changes[name_field] = value
    return replace(req, **changes) if changes else req


def expand(registry: Registry, req: ExpandRequest) -> ExpandResult:
    """Expand a value set (by url, or given inline), with text filter and paging.

    ``total`` counts every member after filtering; ``items`` is the page
    ``offset``..``offset+count``, nested by the code systems' hierarchy unless
    ``excludeNested`` is true or the request pages. Raises InvalidRequest for
    bad parameters, NotFound for unknown value sets or code systems, TooCostly
    when an unpaged expansion would exceed ``req.limit``.
    """
    vs_res = _value_set_of(registry, req)
    offset = _offset(req)
    req = _vs_defaults(req, vs_res)
    registry, used_supplements = supplements.apply(
        registry, supplements.requested(vs_res, req.use_supplements)
    )
    rules = VersionRules.parse(
        req.system_versions, req.check_system_versions, req.force_system_versions
    )
    vs = compile_value_set(
        registry,
        vs_res,
        # the date of service chooses the version of a code system with dated versions
        versions=dates.rules_on(registry, rules, req.date) or None,
        vs_defaults=canonical_versions(req.default_valueset_versions, "default-valueset-version"),
        versions_match=req.versions_match,
    )
    text_search = bool(req.filter and req.filter.strip())
    # refused before listing anything: without excludes, the expansion holds at least
    # every code of a code system an include takes whole
    if (
        req.count is None
        and not text_search
        and not vs.excludes
        and any(len(cs) > req.limit for cs in vs.whole_systems())
    ):
        raise _too_costly(vs, req.limit)
    whole = vs.whole_system()
    if whole is not None and req.filter and not req.active_only:
        # Fast path, the common picker case: text search over one whole code
        # system needs no membership tests, and only the page gets sorted.
        found = whole.search_text(req.filter)
        if found is not None:
            n = None if req.count is None else offset + req.count
            if n is None and len(found) > req.limit:
                raise _too_costly(vs, req.limit)
            codes = found.top(n)[offset:]
            hits = [Member(whole, c, c.display) for c in map(whole.concepts.__getitem__, codes)]
            return _result(vs, vs_res, req, len(found), hits, False, used_supplements)
    total, page = _page(vs, req, whole, text_search, offset)
    paged = req.offset is not None or req.count is not None
    # Nested when asked (excludeNested=false) or, unasked, for FHIR CodeSystem content unless
    # the expansion is a text search over a whole code system (a ranked list of matches).
    wanted = req.exclude_nested is False or (
        req.exclude_nested is None
        and vs.nests_by_default()
        and not (text_search and whole is not None)
    )
    nest = wanted and not paged and vs.hierarchical()
    return _result(vs, vs_res, req, total, page, nest, used_supplements)


def _value_set_of(registry: Registry, req: ExpandRequest) -> dict[str, Any]:
    """The ValueSet to expand: sent (``valueSet``) or named (``url``)."""
    if req.value_set is not None and req.url is not None:
        raise InvalidRequest("Send url or valueSet, not both", expression="url")
    if req.value_set is not None:
        return req.value_set
    if req.url:
        return resolve_value_set(registry, req.url, req.value_set_version)
    raise InvalidRequest(
        "Nothing to expand: send url (or call ValueSet/{id}/$expand) or valueSet",
        expression="url",
    )


def _offset(req: ExpandRequest) -> int:
    """The page's first index; InvalidRequest for a negative offset or count, TooCostly for
    a count over the server's page size."""
    offset = req.offset or 0
    if offset < 0 or (req.count is not None and req.count < 0):
        raise InvalidRequest("offset and count must not be negative", expression="offset")
    most = limits.current().limits.expand_max_count
    if req.count is not None and req.count > most:
        raise TooCostly(
            f"count {req.count:,} asks for more codes than this server returns in one page "
            f"({most:,}, FHIRTERM_EXPAND_MAX_COUNT): send count={most} or less and page with "
            "offset, or narrow the expansion with a filter",
            expression="count",
        )
    return offset


def _page(
    vs: CompiledValueSet,
    req: ExpandRequest,
    whole: CodeSystemIndex | None,
    text_search: bool,
    offset: int,
) -> tuple[int, list[Member]]:
    """(total, the page ``offset``..``offset+count``) of the members (matching the text
    filter); ``whole``: the one code system the value set takes whole, if so. TooCostly
    when unpaged and over ``req.limit``."""
    members: Iterator[Member] | None = None
    active_only = bool(req.active_only or vs.inactive is False)
    end = None if req.count is None else offset + req.count
    counted = None
    if req.filter and text_search:
        # the text index's matches intersected with the members as bitmaps: no member test
        # one by one, and only the page is read
        counted = _found_page(vs, req.filter, active_only, offset, end, req.limit)
        if counted is None:
            members = _matches(vs, req.filter)
    known = None
    if members is None and counted is None:
        known = member_bits(vs, active_only) if whole is None else None
        members = vs.members(known)
    if active_only and members is not None:
        members = (m for m in members if not m.concept.inactive)
    page: list[Member] = []
    total = 0
    if counted is not None:
        total, page = counted
    elif known is not None and members is not None:
        # counted from the bitmaps; only the members up to the page's end are read
        total = sum(bits.bit_count() for _, bits in known.values())
        if req.count is None and total > req.limit:
            raise _too_costly(vs, req.limit)
        paged_from = page_of(vs, known, offset, end)
        page = paged_from if paged_from is not None else list(islice(members, offset, end))
    elif whole is not None and not text_search:
        # every (active) code of one code system: counted from the codes (and the inactive
        # flags), and only the page's concepts are read (count=0 asks for the total alone)
        listed: Iterable[str] = whole.concepts
        if active_only:
            listed = [code for code in listed if not whole.is_inactive(code)]
            total = len(listed)
        else:
            total = len(whole)
        page = [
            Member(whole, c, c.display)
            for c in map(whole.concepts.__getitem__, islice(listed, offset, end))
        ]
    elif members is not None:
        for m in members:
            if offset <= total and (end is None or total < end):
                page.append(m)
            total += 1
            if req.count is None and total > req.limit:
                raise _too_costly(vs, req.limit)
    return total, page


def _canonical(cs: CodeSystemIndex) -> str:
    return f"{cs.info.url}|{cs.info.version}" if cs.info.version else cs.info.url


def _too_costly(vs: CompiledValueSet, limit: int) -> TooCostly:
    name = f"{vs.url}|{vs.version}" if vs.url and vs.version else vs.url
    return TooCostly(
        f"The value set '{name}' expansion has too many codes to produce (>{limit}); this "
        "expansion is too costly to return unpaged: send count (and offset) to page through "
        "it, or a filter"
    )


def _echo(req: ExpandRequest) -> list[tuple[str, str, Any]]:
    """The request's expansion controls, as the expansion reports them (only those sent)."""
    out: list[tuple[str, str, Any]] = []
    if req.filter:
        out.append(("filter", "string", req.filter))
    if req.count is not None:
        out.append(("count", "integer", req.count))
    if req.offset is not None:
        out.append(("offset", "integer", req.offset))
    for name in _FLAGS:
        flag = getattr(req, _FLAG_FIELDS[name])
        if flag is not None:
            out.append((name, "boolean", flag))
    if req.display_language:
        out.append(("displayLanguage", "code", contains.language_list_text(req.display_language)))
    out.extend(("designation", "string", d) for d in req.designations)
    out.extend(("force-system-version", "uri", v) for v in req.force_system_versions)
    out.extend(("default-valueset-version", "uri", v) for v in req.default_valueset_versions)
    if req.date:
        out.append(("date", "dateTime", req.date))
    return out


def _rules_applied(vs: CompiledValueSet, rules: VersionRules) -> list[tuple[str, str, Any]]:
    """system-version and check-system-version values that chose a version (the compose named
    none and no version was forced): the expansion reports those."""
    out: list[tuple[str, str, Any]] = []
    for inc in vs.all_parts():
        if inc.cs is None or inc.stated_version or inc.cs.info.url in rules.force:
            continue
        url = inc.cs.info.url
        name, versions = (
            ("system-version", rules.default[url])
            if url in rules.default
            else ("check-system-version", rules.check.get(url, ()))
        )
        for v in versions:
            if (name, "uri", f"{url}|{v}") not in out:
                out.append((name, "uri", f"{url}|{v}"))
    return out


def _result(
    vs: CompiledValueSet,
    vs_res: dict[str, Any],
    req: ExpandRequest,
    total: int,
    page: list[Member],
    nest: bool,
    used_supplements: tuple[CodeSystemIndex, ...] | list[CodeSystemIndex] = (),
) -> ExpandResult:
    langs = contains.languages(req.display_language)
    versioned = vs.multi_version_systems()
    presentation: dict[int, frozenset[str]] = {}
    for m in page:
        if id(m.cs) not in presentation:
            presentation[id(m.cs)] = frozenset(
                d.code for d in m.cs.info.property_defs if d.uri in contains.PRESENTATION_URIS
            )
    budget = limits.current()
    items: list[ExpansionItem] = []
    for m in page:
        # an item's cost grows with the properties, designations and languages asked for
        budget.check_cpu(
            "Building the expansion",
            "ask for fewer codes a page (count), properties, designations or languages",
        )
        items.append(contains.item(m, req, langs, m.system in versioned, presentation[id(m.cs)]))
    if nest:
        items = contains.nest(page, items)
    params = _echo(req)
    rules = VersionRules.parse(
        req.system_versions, req.check_system_versions, req.force_system_versions
    )
    if rules:
        params.extend(_rules_applied(vs, rules))
    if vs.versions_match:
        params.append(("versionsMatch", "boolean", True))
    systems = vs.code_systems()
    for cs in systems:
        params.append(("used-codesystem", "uri", _canonical(cs)))
    # a code system that is only a fragment: the expansion may be missing codes
    fragments = [cs for cs in systems if cs.info.content == "fragment"]
    params.extend(("used-fragment", "uri", _canonical(cs)) for cs in fragments)
    for url, version in vs.value_sets_used():
        params.append(("used-valueset", "uri", f"{url}|{version}" if version else url))
    for sup in used_supplements:
        i = sup.info
        params.append(("used-supplement", "uri", f"{i.url}|{i.version}" if i.version else i.url))
    params.extend(_warnings(vs))
    declared: list[tuple[str, str | None]] = []
    reported = list(req.properties)
    for code in contains.property_codes(items):
        if code not in reported:
            reported.append(code)
    for code in reported:
        uri = contains.STANDARD_PROPERTY_URIS.get(code)
        for cs in vs.code_systems():
            d = next((d for d in cs.info.property_defs if d.code == code), None)
            if d is not None and d.uri:
                uri = d.uri
                break
        if (code, uri) not in declared:
            declared.append((code, uri))
    return ExpandResult(
        vs_res,
        total,
        req.offset,
        items,
        params,
        declared,
        # (the reference server's wording)
        [
            f"This extension is based on a fragment of the code system {cs.info.url}"
            for cs in fragments
        ],
    )


STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


def _standards_status(resource: dict[str, Any]) -> str | None:
    return next(
        (
            e.get("valueCode")
            for e in resource.get("extension", [])
            if isinstance(e, dict) and e.get("url") == STANDARDS_STATUS
        ),
        None,
    )


def _warnings(vs: CompiledValueSet) -> list[tuple[str, str, Any]]:
    """warning-{status} parameters: code systems that are experimental, draft, deprecated or
    withdrawn, and value sets (this one or imported) that are deprecated or withdrawn."""
    out: list[tuple[str, str, Any]] = []

    def add(name: str, url: str, version: str | None) -> None:
        item = (name, "uri", f"{url}|{version}" if version else url)
        if item not in out:
            out.append(item)

    for cs in vs.code_systems():
        i = cs.info
        if i.experimental:
            add("warning-experimental", i.url, i.version)
        if i.status == "draft":
            add("warning-draft", i.url, i.version)
        status = _standards_status(i.extra)
        if status in ("deprecated", "withdrawn"):
            add(f"warning-{status}", i.url, i.version)
    stack = [vs]
    while stack:
        v = stack.pop()
        status = _standards_status(v.resource)
        if status in ("deprecated", "withdrawn") and v.url:
            add(f"warning-{status}", v.url, v.version)
        stack.extend(x for inc in [*v.includes, *v.excludes] for x in inc.value_sets)
    return out
