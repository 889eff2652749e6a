"""FHIR search in and out: the query of a search, subsetted resources, the searchset Bundle.

``search_request`` reads a search's query into an ``operations.search``
request and the shape of the answer, following FHIR's search page:

- result parameters: ``_count`` (page size; 0 gives the total only),
  ``_offset`` (page start, this server's paging parameter: the content does
  not change while serving, so an offset always names the same page),
  ``_sort`` (url, name, title, version, date, status, id / _id; ``-`` for
  descending; several keys), ``_summary`` (true, false, text, data, count),
  ``_elements``, ``_total`` (none, estimate, accurate). A malformed value is a
  400 naming the values allowed; a result parameter the server does not
  implement (``_include``, ``_revinclude``, ``_contained``...) is ignored with
  a warning in the Bundle, never refused.
- criteria: ``url``, ``version``, ``status``, ``_id``, ``name`` and
  ``title`` (with ``:exact`` and ``:contains``). An unknown or unsupported
  parameter is handled as the client prefers (``Prefer: handling=...``):
  ``lenient`` (the default) ignores it with a warning in the Bundle,
  ``strict`` refuses the search with a 400.

A Bundle's links repeat the parameters the search applied (FHIR: the self
link shows what was used), so ignored ones never appear in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..errors import InvalidRequest
from ..operations.contracts import (
    FIELDS,
    MODIFIERS,
    SORT_FIELDS,
    Criterion,
    Issue,
    SearchRequest,
    SortKey,
)
from .params import GENERAL
from .render import operation_outcome
from .resources import SUBSETTED

DEFAULT_COUNT = 100  # page size when the client sends no _count
SUMMARY_VALUES = ("true", "false", "text", "data", "count")
TOTAL_VALUES = ("none", "estimate", "accurate")
RESULT_PARAMS = frozenset({"_count", "_offset", "_sort", "_summary", "_elements", "_total"})
# Result parameters of FHIR search this server does not implement: ignored with a warning
# whatever the handling (FHIR lets a server ignore them): the client still gets the
# matches, and the warning says what is missing.
IGNORED_RESULT_PARAMS = frozenset(
    {
        "_include",
        "_revinclude",
        "_contained",
        "_containedType",
        "_score",
        "_graph",
        "_maxresults",
    }
)
# GENERAL parameters repeated in the Bundle's links (uuid names one request only)
LINK_GENERAL = ("_format", "_pretty")

_COMMA = re.compile(r"(?<!\\),")


# A search criterion's value and the number of criteria are bounded: the Bundle's links
# repeat every criterion applied, so a 9 MB value (a POST _search form) made a 9 MB answer
# and held ~55 MB in a worker. Canonical URLs, names and titles are far shorter.
MAX_VALUE_LENGTH = 4096
MAX_CRITERIA = 100


def _split(value: str) -> tuple[str, ...]:
    r"""A parameter's comma-separated values; ``\,`` is a comma inside a value."""
    return tuple(v.replace("\\,", ",") for v in _COMMA.split(value))


@dataclass(frozen=True, slots=True)
class Shape:
    """How each matched resource and the Bundle are returned.

    ``summary``: None or one of SUMMARY_VALUES; ``elements``: the element
    names asked for with ``_elements`` (None: all); ``total``: whether
    ``Bundle.total`` is given.
    """

    summary: str | None = None
    elements: frozenset[str] | None = None
    total: bool = True


@dataclass(slots=True)
class ParsedSearch:
    """A search query read: the request, the answer's shape, the parameters applied (in
    order, for the links) and the warnings about the ones ignored."""

    request: SearchRequest
    shape: Shape
    used: list[tuple[str, str]] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)


def handling_strict(prefer: str | None) -> bool:
    """Whether a Prefer header asks for ``handling=strict`` (FHIR http page)."""
    if not prefer:
        return False
    for part in re.split(r"[,;]", prefer):
        name, _, value = part.partition("=")
        if name.strip().lower() == "handling":
            return value.strip().strip('"').lower() == "strict"
    return False


def _non_negative(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidRequest(
            f"{name} must be a whole number from 0 to 999999999, found {value[:40]!r}",
            expression=name,
        )
    return int(value)


MAX_LISTED = 10  # parameter names a warning lists (the rest are counted)


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters: what a client sent is quoted, not echoed whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"'{_short(n)}'" for n in names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _one_of(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidRequest(
            f"{name} '{value[:40]}' is not a value of {name}; use one of: {', '.join(allowed)}",
            expression=name,
        )
    return value


def search_request(
    pairs: Iterable[tuple[str, str]], resource_type: str, strict: bool, max_count: int
) -> ParsedSearch:
    """Read a search query (name/value pairs in order); see the module docstring.

    InvalidRequest for a malformed value of a result parameter, a result
    parameter given twice, and (when ``strict``) an unknown or unsupported
    search parameter.
    """
    criteria: list[Criterion] = []
    used: list[tuple[str, str]] = []
    notes: list[Issue] = []
    result: dict[str, str] = {}
    general: list[tuple[str, str]] = []
    ignored: dict[str, list[str]] = {}  # why -> the parameters ignored for that reason

    def ignore(name: str, why: str) -> None:
        ignored.setdefault(why, []).append(name)

    for name, value in pairs:
        base, _, modifier = name.partition(":")
        if name in GENERAL:
            if name in LINK_GENERAL:
                general.append((name, value))
        elif name in RESULT_PARAMS:
            if name in result:
                raise InvalidRequest(
                    f"{name} may appear once, found it more than once", expression=name
                )
            result[name] = value
        elif base in IGNORED_RESULT_PARAMS:
            ignore(name, "this server does not implement it")
        elif base in FIELDS and (not modifier or modifier in MODIFIERS.get(base, ())):
            if value == "":
                ignore(name, "no value")
                continue
            if len(value) > MAX_VALUE_LENGTH:
                raise InvalidRequest(
                    f"The value of search parameter '{name}' is {len(value):,} characters long; "
                    f"a search value may have at most {MAX_VALUE_LENGTH:,}",
                    expression=name,
                )
            if len(criteria) == MAX_CRITERIA:
                raise InvalidRequest(
                    f"More than {MAX_CRITERIA} search criteria; send at most {MAX_CRITERIA} "
                    "(several values of one parameter may be joined with commas)",
                    expression=name,
                )
            criteria.append(Criterion(base, modifier or None, _split(value)))
            used.append((name, value))
        else:
            known = ", ".join((*FIELDS, *(f"{p}:{m}" for p, ms in MODIFIERS.items() for m in ms)))
            why = (
                f"not a search parameter of {resource_type} on this server; "
                f"the search parameters are: {known}"
            )
            if strict:
                raise InvalidRequest(
                    f"Unknown search parameter '{_short(name)}': {why}", expression=_short(name)
                )
            ignore(name, why)

    sort: list[SortKey] = []
    if (v := result.get("_sort")) is not None:
        for key in (k.strip() for k in v.split(",")):
            desc = key.startswith("-")
            f = SORT_FIELDS.get(key.lstrip("-"))
            if f is None:
                if key:
                    ignore(
                        f"_sort={key}",
                        f"results cannot be sorted by it; sort by: {', '.join(SORT_FIELDS)}",
                    )
                continue
            sort.append(SortKey(f, desc))
        if sort:
            used.append(
                ("_sort", ",".join(("-" if k.descending else "") + _sort_name(k) for k in sort))
            )
    summary = result.get("_summary")
    if summary is not None:
        _one_of("_summary", summary, SUMMARY_VALUES)
    elements: frozenset[str] | None = None
    if (v := result.get("_elements")) is not None:
        # fhirpy adds resourceType to the list; it is always there
        names = [e.strip() for e in v.split(",") if e.strip() and e.strip() != "resourceType"]
        unknown = [e for e in names if e not in ELEMENTS[resource_type]]
        for e in unknown:
            ignore(f"_elements={e}", f"{resource_type} has no such element")
        elements = frozenset(e for e in names if e not in unknown)
        if summary is not None and summary != "count":
            ignore(
                f"_summary={summary}", "_elements was given as well, and it decides the elements"
            )
            summary = None
    notes += [
        Issue(
            "warning",
            "not-supported",
            f"Parameter{'s' if len(names) > 1 else ''} {_listed(names)} "
            f"{'were' if len(names) > 1 else 'was'} ignored: {why}",
        )
        for why, names in ignored.items()
    ]
    total = True
    if (v := result.get("_total")) is not None:
        total = _one_of("_total", v, TOTAL_VALUES) != "none"
        used.append(("_total", v))
    if summary is not None:
        used.append(("_summary", summary))
    if elements is not None:
        used.append(("_elements", ",".join(sorted(elements))))
    count = DEFAULT_COUNT if max_count >= DEFAULT_COUNT else max_count
    if (v := result.get("_count")) is not None:
        count = _non_negative("_count", v)
        if count > max_count:
            notes.append(
                Issue(
                    "information",
                    "informational",
                    f"_count {count} is more than this server returns in one page; pages hold "
                    f"{max_count} resources: follow the Bundle's next link for the rest",
                )
            )
            count = max_count
    if summary == "count":
        count = 0
    offset = _non_negative("_offset", result.get("_offset", "0"))
    used += general
    return ParsedSearch(
        SearchRequest(tuple(criteria), tuple(sort), count, offset),
        Shape(summary, elements, total or summary == "count"),
        used,
        notes,
    )


def read_shape(pairs: Iterable[tuple[str, str]], resource_type: str) -> Shape:
    """The ``_summary`` and ``_elements`` of a read (``GET CodeSystem/{id}``).

    A read has no Bundle to carry warnings, so anything it cannot apply is a
    400 naming what it takes: another parameter, ``_summary=count`` (a
    search's), an element the resource type does not have.
    """
    summary: str | None = None
    elements: frozenset[str] | None = None
    for name, value in pairs:
        if name in GENERAL:
            continue
        if name == "_summary":
            summary = _one_of("_summary", value, ("true", "false", "text", "data"))
        elif name == "_elements":
            names = frozenset(e.strip() for e in value.split(",") if e.strip()) - {"resourceType"}
            unknown = sorted(names - ELEMENTS[resource_type])
            if unknown:
                raise InvalidRequest(
                    f"_elements: {resource_type} has no element '{_short(unknown[0])}'",
                    expression="_elements",
                )
            elements = names
        else:
            raise InvalidRequest(
                f"Unknown parameter '{_short(name)}' for {resource_type} read; expected one of: "
                "_elements, _summary",
                expression=_short(name),
            )
    return Shape(None if elements is not None else summary, elements)


def _sort_name(k: SortKey) -> str:
    return "_id" if k.field == "id" else k.field


# The elements of each resource type, its summary elements and its mandatory ones (choice
# elements by their name without the type: versionAlgorithm). R4 (4.0.1, the same in R4B)
# and R5; tests/test_search.py checks them against fhir.resources' models.
_COMMON = "id meta implicitRules language text contained extension modifierExtension"
_CANONICAL_R5 = (
    "versionAlgorithm copyrightLabel approvalDate lastReviewDate effectivePeriod "
    "topic author editor reviewer endorser relatedArtifact"
)
_ALL = {
    "CodeSystem": f"{_COMMON} url identifier version name title status experimental date "
    "publisher contact description useContext jurisdiction purpose copyright caseSensitive "
    "valueSet hierarchyMeaning compositional versionNeeded content supplements count filter "
    "property concept",
    "ValueSet": f"{_COMMON} url identifier version name title status experimental date "
    "publisher contact description useContext jurisdiction immutable purpose copyright "
    "compose expansion",
    "ConceptMap": f"{_COMMON} url identifier version name title status experimental date "
    "publisher contact description useContext jurisdiction purpose copyright source target "
    "group",
}
# R4 elements renamed in R5 (ConceptMap.source[x] -> sourceScope[x])
_ALL_R4_ONLY = {"ConceptMap": "source target"}
_ALL_R5_ONLY = {
    "CodeSystem": _CANONICAL_R5,
    "ValueSet": f"{_CANONICAL_R5} scope",
    "ConceptMap": f"{_CANONICAL_R5} property additionalAttribute sourceScope targetScope",
}
_SUMMARY_COMMON = (
    "id meta implicitRules url identifier version name title status experimental date "
    "publisher contact useContext jurisdiction"
)
_SUMMARY = {
    "CodeSystem": f"{_SUMMARY_COMMON} caseSensitive valueSet hierarchyMeaning compositional "
    "versionNeeded content supplements count filter property",
    "ValueSet": f"{_SUMMARY_COMMON} immutable",
    "ConceptMap": f"{_SUMMARY_COMMON} source target",
}
_SUMMARY_R5 = {
    "CodeSystem": f"{_SUMMARY['CodeSystem']} modifierExtension versionAlgorithm effectivePeriod",
    "ValueSet": f"{_SUMMARY['ValueSet']} modifierExtension versionAlgorithm effectivePeriod",
    "ConceptMap": f"{_SUMMARY_COMMON} modifierExtension versionAlgorithm effectivePeriod "
    "property additionalAttribute sourceScope targetScope",
}
REQUIRED = {
    "CodeSystem": frozenset({"status", "content"}),
    "ValueSet": frozenset({"status"}),
    "ConceptMap": frozenset({"status"}),
}
# element names accepted in _elements (either release's: a client may ask /r5 for source)
ELEMENTS = {rt: frozenset(f"{v} {_ALL_R5_ONLY[rt]}".split()) for rt, v in _ALL.items()}
SUMMARY = {
    (rt, r5): frozenset((_SUMMARY_R5 if r5 else _SUMMARY)[rt].split())
    for rt in _ALL
    for r5 in (False, True)
}
_CHOICE = re.compile(r"^(versionAlgorithm|sourceScope|targetScope|source|target)[A-Z]")


def _element(key: str) -> str:
    """The element a JSON key holds: ``_status`` -> status, ``sourceUri`` -> source."""
    name = key.lstrip("_")
    m = _CHOICE.match(name)
    return m.group(1) if m else name


def _tagged(resource: dict[str, Any], keep: frozenset[str] | None) -> dict[str, Any]:
    """A copy of ``resource`` with only the ``keep`` elements (None: all) and meta.tag SUBSETTED."""
    out = {
        k: v
        for k, v in resource.items()
        if keep is None or k == "resourceType" or _element(k) in keep
    }
    meta = dict(out.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" for t in tags if isinstance(t, dict)):
        tags.append(SUBSETTED)
    meta["tag"] = tags
    out["meta"] = meta
    return out


def subset(resource: dict[str, Any], shape: Shape, r5: bool) -> dict[str, Any]:
    """``resource`` as ``shape`` asks: summary or chosen elements, marked SUBSETTED.

    The resource itself is never changed (it is the server's content): a
    subset is a new dict. ``_summary=data`` drops the narrative only;
    ``true`` keeps the summary elements, ``text`` the narrative, id, meta and
    mandatory elements; ``_elements`` the named ones plus id, meta and the
    mandatory ones (FHIR: servers SHOULD return mandatory elements).
    """
    rt = resource.get("resourceType", "")
    if shape.elements is not None:
        return _tagged(resource, shape.elements | REQUIRED.get(rt, frozenset()) | {"id", "meta"})
    if shape.summary == "true":
        return _tagged(resource, SUMMARY.get((rt, r5), frozenset({"id", "meta"})))
    if shape.summary == "text":
        return _tagged(resource, REQUIRED.get(rt, frozenset()) | {"id", "meta", "text"})
    if shape.summary == "data" and "text" in resource:
        return {k: v for k, v in resource.items() if k != "text"}
    return resource


def link_url(base: str, resource_type: str, params: Sequence[tuple[str, str]]) -> str:
    query = "&".join(f"{quote(k, safe=':_-')}={quote(v, safe=':/|,._-')}" for k, v in params)
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


def bundle(
    resource_type: str,
    base: str,
    entries: list[dict[str, Any]],
    total: int,
    parsed: ParsedSearch,
) -> dict[str, Any]:
    """The searchset Bundle of one page: links from the public ``base``, matches, notes.

    Links: ``self`` (the parameters applied), and when a page size is set,
    ``first``, ``previous``, ``next`` and ``last`` by ``_offset``. The
    warnings about ignored parameters are an OperationOutcome entry with
    ``search.mode`` outcome. ``entry`` is left out when there is none (FHIR
    JSON has no empty arrays).
    """
    req, shape = parsed.request, parsed.shape
    count, offset = req.count, req.offset

    def url(at: int) -> str:
        paging = [("_count", str(count))]
        if at:
            paging.append(("_offset", str(at)))
        return link_url(base, resource_type, [*parsed.used, *paging])

    if count == 0:
        # the number of matches only: no pages to link
        only = parsed.used if shape.summary == "count" else [*parsed.used, ("_count", "0")]
        links = [{"relation": "self", "url": link_url(base, resource_type, only)}]
    else:
        last = max(0, (total - 1) // count * count)
        links = [{"relation": "self", "url": url(offset)}, {"relation": "first", "url": url(0)}]
        if offset > 0:
            back = max(0, min(offset, last + count) - count)
            links.append({"relation": "previous", "url": url(back)})
        if offset + count < total:
            links.append({"relation": "next", "url": url(offset + count)})
        links.append({"relation": "last", "url": url(last)})
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if shape.total:
        out["total"] = total
    out["link"] = links
    items = [
        {
            "fullUrl": f"{base}/{resource_type}/{e['id']}",
            "resource": e,
            "search": {"mode": "match"},
        }
        for e in entries
    ]
    if parsed.notes:
        items.append({"resource": operation_outcome(parsed.notes), "search": {"mode": "outcome"}})
    if items:
        out["entry"] = items
    return out
