"""A value set's members on one code system as a bitmap, without decoding its concepts.

A set of concepts of a code system is an integer whose bit ``r`` is the concept of text
index ordinal ``r`` (``CodeSystemIndex.ranks``, the rank order of the text index). In
that form a compose is set algebra: an include is the AND of its filters, concept list
and imports, the value set the OR of its includes less the OR of its excludes; a text
search's matches (bitmaps or sorted ordinals in the same order) are intersected with it
and keep their best-first order; and the total of an expansion is a bit count.

A filter's bitmap depends on the code system alone, so it is computed once and kept in
``CodeSystemIndex.derived`` (bounded): a packed store answers hierarchy filters from its
columns and property filters from its property index, and tests only the concepts set over
its records (editorial content, a supplement's additions); an in-memory code system tests
its concepts. Anything this cannot answer exactly (a regex filter, a property a packed
store has not indexed, a code system drawn on in more than one version...) is None, and
the caller walks the members as before: answers are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING

from ..index import CodeSystemIndex
from ..memo import Memo, memo_in
from ..search import BitMatches, Extended, Matches, to_bitmap
from . import limits

if TYPE_CHECKING:
    from .filters import Filter
    from .valueset import CompiledValueSet, Include, Member

MEMO = "members.filter_bits"  # key of the filter bitmap memo in CodeSystemIndex.derived
# Filter bitmaps kept per code system (emptied when full): each is at most one bit per
# concept (12 KB for ICD-10-CM), so the memo holds at most ~1.5 MB per code system.
MEMO_MAX = 128
_CODE = ("concept", "code")
_HIERARCHY = frozenset(
    ("is-a", "descendent-of", "is-not-a", "generalizes", "child-of", "descendent-leaf")
)


def _bits(ordinals: Iterable[int], n: int) -> int:
    return int.from_bytes(to_bitmap([r for r in ordinals if r >= 0], n), "little")


def _all(cs: CodeSystemIndex) -> int:
    return (1 << len(cs)) - 1


def filter_bits(cs: CodeSystemIndex, f: Filter) -> int | None:
    """The concepts of ``cs`` that pass ``f`` (a bitmap), None when not known exactly."""
    if f.key is None:
        return None
    memo: Memo[tuple[str, str, str], int | None] = memo_in(cs.derived, MEMO, MEMO_MAX)
    if f.key in memo:
        return memo[f.key]
    bits = _filter_bits(cs, f, f.key)
    prop, op, _ = f.key
    if bits is not None and cs.indexed() and op not in _HIERARCHY and prop not in _CODE:
        # a packed store's property index shows its records: the concepts set over them
        # (editorial content, a supplement: properties, designations and definitions added,
        # never the hierarchy or the codes) are tested on their own
        for code, r in zip(over := list(cs.overridden()), cs.ranks(over), strict=True):
            c = cs.get(code)
            if r < 0 or c is None:
                continue
            bits = bits | (1 << r) if f.test(c) else bits & ~(1 << r)
    return memo.put(f.key, bits)


def _filter_bits(cs: CodeSystemIndex, f: Filter, key: tuple[str, str, str]) -> int | None:
    n = len(cs)
    if not cs.indexed():
        # concepts held as objects: test them (the members a walk would yield, by the same
        # test the walk applies to the same candidates)
        codes = f.candidates() if f.candidates is not None else cs.concepts
        passed = []
        for code in codes:
            c = cs.get(code)
            if c is not None and f.test(c):
                passed.append(c.code)
        return _bits(cs.ranks(passed), n)
    prop, op, value = key
    if op in ("is-a", "descendent-of", "is-not-a"):
        sub = cs.subtree_ranks(value)  # a slice of a column: no walk down the hierarchy
        if sub is not None:
            below = _bits(sub[1:] if op == "descendent-of" else sub, n)
            return _all(cs) & ~below if op == "is-not-a" else below
    if f.candidates is not None:  # hierarchy filters, and code = / in
        return _bits(cs.ranks(f.candidates()), n)
    if op == "is-not-a":
        return _all(cs) & ~_bits(cs.ranks([value, *cs.descendants(value)]), n)
    if op in _HIERARCHY:
        return None
    if prop in _CODE:
        if op == "not-in":
            return _all(cs) & ~_bits(cs.ranks(v.strip() for v in value.split(",")), n)
        return None
    if prop == "notSelectable" and cs.info.extra.get("resourceType") == "CodeSystem":
        return None  # read from the stated property only (filters._values_of)
    if op == "exists":
        has = cs.property_bits(prop, None)
        if has is None:
            return None
        return has if value == "true" else _all(cs) & ~has
    values = [value] if op == "=" else [v.strip() for v in value.split(",")]
    found = cs.property_bits(prop, values)
    if found is None:
        return None
    if op == "not-in":
        return _all(cs) & ~found
    return found if op in ("=", "in") else None


def _same_url_once(vs: CompiledValueSet, cs: CodeSystemIndex) -> bool:
    """Every part of the compose that draws on ``cs``'s code system draws on ``cs`` itself
    (one version): membership by code is then membership of ``cs``'s concepts."""
    url = cs.info.url
    return all(
        part.cs is None or part.cs is cs or part.cs.info.url != url for part in vs.all_parts()
    )


def value_set_bits(vs: CompiledValueSet, cs: CodeSystemIndex) -> int | None:
    """The members of ``vs`` among the concepts of ``cs`` (what ``vs.contains`` answers for
    the codes of ``cs`` in its version, and ``vs.members`` yields of ``cs``), or None."""
    if not _same_url_once(vs, cs):
        return None
    return _vs_bits(vs, cs)


def _vs_bits(vs: CompiledValueSet, cs: CodeSystemIndex) -> int | None:
    out = 0
    for inc in vs.includes:
        b = _include_bits(inc, cs)
        if b is None:
            return None
        out |= b
    for ex in vs.excludes if out else ():
        b = _include_bits(ex, cs)
        if b is None:
            return None
        out &= ~b
    return out


def _include_bits(inc: Include, cs: CodeSystemIndex) -> int | None:
    if inc.cs is None:
        found: int | None = None
        for v in inc.value_sets:
            b = _vs_bits(v, cs)
            if b is None:
                return None
            found = b if found is None else found & b
        return found or 0
    if inc.cs is not cs:
        return 0
    if inc.concepts is not None:
        listed = [code for code in inc.concepts if code in cs.concepts]
        if not cs.info.case_sensitive and len(listed) < len(inc.concepts):
            return None  # a walk finds a listed code in another case: not answered here
        bits = _bits(cs.ranks(listed), len(cs))
    else:
        bits = _all(cs)
    for f in inc.filters:
        b = filter_bits(cs, f)
        if b is None:
            return None
        bits &= b
    for v in inc.value_sets:
        b = _vs_bits(v, cs)
        if b is None:
            return None
        bits &= b
    return bits


def inactive_bits(cs: CodeSystemIndex) -> int | None:
    """The inactive concepts of ``cs`` (a bitmap), None when not known."""
    from .filters import Filter

    return filter_bits(cs, Filter(lambda c: c.inactive, key=("inactive", "=", "true")))


def _members(vs: CompiledValueSet, cs: CodeSystemIndex, active_only: bool) -> int | None:
    """``value_set_bits``, less the inactive concepts with ``active_only``."""
    bits = value_set_bits(vs, cs)
    if bits is not None and active_only and bits:
        inactive = inactive_bits(cs)
        bits = None if inactive is None else bits & ~inactive
    return bits


def member_bits(
    vs: CompiledValueSet, active_only: bool, ranked_only: bool = True
) -> dict[int, tuple[CodeSystemIndex, int]] | None:
    """id(cs) -> (cs, its members) for every code system ``vs`` draws on; None when one is
    not known. With ``ranked_only``, None also when a code system would need a text index
    built for it (an in-memory one: a walk of its members costs no decoding)."""
    out: dict[int, tuple[CodeSystemIndex, int]] = {}
    for cs in vs.code_systems():
        if ranked_only and not cs.ranked():
            return None
        bits = _members(vs, cs, active_only)
        if bits is None:
            return None
        out[id(cs)] = (cs, bits)
    return out


def page(
    vs: CompiledValueSet,
    known: dict[int, tuple[CodeSystemIndex, int]],
    offset: int,
    end: int | None,
) -> list[Member] | None:
    """The members ``offset``..``end`` of ``vs`` in ``vs.members()``'s order, from its
    bitmaps (``member_bits``, whose bits are the members less the excluded and, when
    asked, the inactive): each include's codes in its order, a code at its first include,
    and only the page's concepts decoded. None when an include imports value sets without
    a code system of its own (its order is the imported value set's walk)."""
    from .valueset import Member

    out: list[Member] = []
    if end is not None and end <= offset:
        return out
    seen: dict[int, int] = {}  # id(cs) -> the codes listed already
    n = 0
    budget = limits.current()
    for inc in vs.ordered_includes():
        cs = inc.cs
        if cs is None:
            return None
        mine = _include_bits(inc, cs)
        have = known.get(id(cs))
        if mine is None or have is None:
            return None
        bits = mine & have[1] & ~seen.get(id(cs), 0)
        if not bits:
            continue
        seen[id(cs)] = seen.get(id(cs), 0) | bits
        count = bits.bit_count()
        if n + count <= offset:  # the whole include comes before the page
            n += count
            continue
        for code in _known(bits, cs, inc.codes(cs), budget):
            if n >= offset:
                c = cs.concepts[code]
                shown = inc.concepts.get(code) if inc.concepts is not None else None
                out.append(
                    Member(
                        cs,
                        c,
                        shown or c.display,
                        inc.concept_extensions.get(code, ()),
                        inc.concept_designations.get(code, ()),
                    )
                )
            n += 1
            if end is not None and n >= end:
                return out
    return out


def known(bits: int, cs: CodeSystemIndex, codes: Iterable[str]) -> Iterator[str]:
    """The codes among ``codes`` whose bit is set, in their order (a walk skips the others
    before decoding them)."""
    return _known(bits, cs, codes, limits.current())


def _known(
    bits: int, cs: CodeSystemIndex, codes: Iterable[str], budget: limits.Budget
) -> Iterator[str]:
    table = bits.to_bytes((len(cs) + 7) // 8, "little")
    it = iter(codes)
    while chunk := list(islice(it, 4096)):
        budget.check_cpu("Evaluating the value set")
        for code, r in zip(chunk, cs.ranks(chunk), strict=True):
            if r >= 0 and table[r >> 3] >> (r & 7) & 1:
                yield code


def intersect(found: Matches | BitMatches, bits: int) -> Matches | BitMatches:
    """The matches of a text search that are among ``bits``, in the same best-first order."""
    if isinstance(found, BitMatches):
        return BitMatches.of_ints(
            found.codes,
            int.from_bytes(found.all, "little") & bits,
            int.from_bytes(found.display, "little") & bits,
        )
    table = bits.to_bytes((len(found.codes) + 7) // 8, "little")
    if isinstance(found.all, set):
        return Matches(
            found.codes,
            {o for o in found.all if table[o >> 3] >> (o & 7) & 1},
            {o for o in found.display if table[o >> 3] >> (o & 7) & 1},
        )
    assert not isinstance(found.display, set)
    return Matches(
        found.codes,
        [o for o in found.all if table[o >> 3] >> (o & 7) & 1],
        [o for o in found.display if table[o >> 3] >> (o & 7) & 1],
    )


def text_matches(
    vs: CompiledValueSet, text: str, active_only: bool
) -> list[tuple[CodeSystemIndex, Matches | BitMatches]] | None:
    """The members of ``vs`` matching ``text``, per code system in ``vs.code_systems()``
    order, each best first (a code system where ``text`` has no words adds none); None when
    not known here (the caller tests the matches one by one)."""
    systems = vs.code_systems()
    if vs.versions_match and len({cs.info.url for cs in systems}) < len(systems):
        return None  # one code in several versions is one member: not a bitmap's answer
    out: list[tuple[CodeSystemIndex, Matches | BitMatches]] = []
    for cs in systems:
        found = cs.search_text(text)
        if found is None:
            continue
        if isinstance(found, Extended):
            return None
        bits = _members(vs, cs, active_only)
        if bits is None:
            return None
        out.append((cs, intersect(found, bits)))
    return out
