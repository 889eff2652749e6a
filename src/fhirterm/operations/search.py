"""Search of the canonical resources (CodeSystem, ValueSet, ConceptMap): match, sort, page.

The FHIR meaning of a search, free of HTTP and JSON: which records match the
criteria, in which order, and which page of them a request gets. A record is
anything with the search fields; the caller passes a function that reads
field ``name`` of a record (``id``, ``url``, ``version``, ``name``,
``title``, ``status``, ``date``).

Matching follows FHIR search: a parameter's values separated by commas are
alternatives (any may match), repeated parameters must all match. ``url``,
``version``, ``status`` and ``_id`` match exactly; ``name`` and ``title``
match the start of the value ignoring case, ``:exact`` the whole value
exactly, ``:contains`` any part of it ignoring case.

The default order is the registry's (by url, then version), which is
stable, so pages taken with ``offset`` never overlap or skip: the content
does not change while the server runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .contracts import FIELDS, Criterion, SearchPage, SearchRequest, SortKey

T = TypeVar("T")

STRING_PARAMS = frozenset({"name", "title"})  # the others are tokens or uris: exact


def _matches_one(crit: Criterion, have: Any) -> bool:
    if have is None:
        return False
    text = str(have)
    if crit.name not in STRING_PARAMS or crit.modifier == "exact":
        return text in crit.values
    folded = text.casefold()
    if crit.modifier == "contains":
        return any(v.casefold() in folded for v in crit.values)
    return any(folded.startswith(v.casefold()) for v in crit.values)


def matches(get: Callable[[str], Any], criteria: Sequence[Criterion]) -> bool:
    """Whether the record read by ``get`` meets every criterion."""
    return all(_matches_one(c, get(FIELDS[c.name])) for c in criteria)


def _sorted(
    records: list[T], getters: list[Callable[[str], Any]], keys: Sequence[SortKey]
) -> list[T]:
    """``records`` ordered by ``keys`` (the first key first); records without a value last.

    Sorted by the last key first, each sort stable, so earlier keys decide
    and ties keep the previous order.
    """
    order = list(range(len(records)))
    for key in reversed(keys):
        present = [i for i in order if getters[i](key.field) is not None]
        missing = [i for i in order if getters[i](key.field) is None]
        present.sort(key=lambda i: str(getters[i](key.field)), reverse=key.descending)
        order = present + missing
    return [records[i] for i in order]


def search(
    records: Sequence[T], get: Callable[[T], Callable[[str], Any]], req: SearchRequest
) -> SearchPage:
    """The page of ``records`` that ``req`` asks for, and how many matched in all.

    ``get(record)`` returns the function that reads a field of that record.
    """
    getters = [get(r) for r in records]
    hits = [i for i, g in enumerate(getters) if matches(g, req.criteria)]
    if req.sort:
        hits = _sorted(hits, [getters[i] for i in hits], req.sort)
    page = hits[req.offset : req.offset + req.count] if req.count > 0 else []
    return SearchPage([records[i] for i in page], len(hits))
