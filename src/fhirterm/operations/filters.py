"""Compose filters: a ValueSet include's ``filter`` compiled on one code system.

A ``Filter`` tests a concept (``test``) and, for the hierarchy operators and code lists,
names the codes that can pass (``candidates``), so that members are found without
scanning the whole code system. Regular expressions are sized before they are compiled
and their compiled patterns kept in a bounded memo; a regex filter draws on the
request's time budget (``limits``). Filters are compiled once per registry, code system
and (property, op, value) (``registry_filter``). Spec:
https://hl7.org/fhir/R4/valueset.html#compositions and
https://hl7.org/fhir/R4/codesystem.html#filters
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import regex

from ..errors import (
    InvalidRequest,
    InvalidValueSet,
    NotFound,
    NotSupported,
    TerminologyError,
    TooCostly,
    clip,
)
from ..index import CodeSystemIndex, prop_values
from ..memo import Memo, memo_in
from ..model import Concept
from ..registry import Registry
from . import limits
from . import messages as M

HIERARCHY_OPS = ("is-a", "descendent-of", "is-not-a", "generalizes", "child-of", "descendent-leaf")
FILTER_OPS = (*HIERARCHY_OPS, "regex", "=", "in", "not-in", "exists")
# R4 has no code for R5's filter operators child-of and descendent-leaf: R4 content carries
# them as this cross-version extension on the op element (as the HL7 version converter,
# VersionConvertor_40_50 ValueSet40_50.convertFilterOperator, writes them).
R5_FILTER_OP = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op"
)


def filter_op(f: dict[str, Any]) -> Any:
    """A compose filter's operator: `op`, else its R4 form (R5_FILTER_OP on `_op`)."""
    op = f.get("op")
    if op is not None:
        return op
    meta = f.get("_op")
    if isinstance(meta, dict) and isinstance(meta.get("extension"), list):
        for ext in meta["extension"]:
            if isinstance(ext, dict) and ext.get("url") == R5_FILTER_OP:
                return ext.get("valueCode")
    return None


@dataclass(slots=True)
class Filter:
    """One compiled compose filter on one code system.

    ``test`` says whether a concept passes; ``candidates`` (when not None)
    enumerates the codes that can pass, so hierarchy filters never scan the
    whole code system.
    """

    test: Callable[[Concept], bool]
    candidates: Callable[[], Iterable[str]] | None = None
    # (property, op, value) of a filter whose members depend on the code system alone (not a
    # regex, which holds the request's time budget): its member bitmap is kept per code
    # system (``members.filter_bits``)
    key: tuple[str, str, str] | None = None


def _values_of(cs: CodeSystemIndex, prop: str) -> Callable[[Concept], list[str]]:
    """How a filter reads ``prop``. A FHIR CodeSystem resource states notSelectable where it
    is known (a concept without it is neither selectable nor not); other sources (ICD-10-CM)
    know it for every code."""
    if prop == "notSelectable" and cs.info.extra.get("resourceType") == "CodeSystem":
        return lambda c: [
            ("true" if p.value else "false") if isinstance(p.value, bool) else str(p.value)
            for p in c.properties
            if p.code == prop and p.value is not None
        ]
    return lambda c: prop_values(c, prop)


def compile_filter(cs: CodeSystemIndex, f: dict[str, Any], where: str) -> Filter:
    compiled = _compile_filter(cs, f, where)
    op = filter_op(f)
    if op != "regex":
        compiled.key = (str(f.get("property")), str(op), str(f.get("value")))
    return compiled


def _compile_filter(cs: CodeSystemIndex, f: dict[str, Any], where: str) -> Filter:
    prop, op, value = f.get("property"), filter_op(f), f.get("value")
    if prop and op and value in (None, ""):
        raise InvalidValueSet(
            M.FILTER_NO_VALUE.format(system=cs.info.url, prop=prop, op=op),
            expression=f"ValueSet.{where}",
        )
    if not prop or not op or value is None:
        raise InvalidRequest(f"{where} needs property, op and value", expression=where)
    if op not in FILTER_OPS:
        raise NotSupported(
            f"{where}: the filter operator '{op}' is not supported; supported: "
            f"{', '.join(FILTER_OPS)}",
            expression=f"{where}.op",
        )
    value = str(value)
    read = _values_of(cs, prop)
    if op in HIERARCHY_OPS:
        if prop not in ("concept", "code", "parent", "child") and prop != cs.info.extra.get(
            "hierarchy_property"
        ):
            raise NotSupported(
                f"{where}: '{op}' applies to the hierarchy (property 'concept'), not '{prop}'",
                expression=f"{where}.property",
            )
        if value not in cs.concepts:
            raise NotFound(
                f"{where}: the code '{value}' of the filter is not in {cs.info.url}",
                expression=f"{where}.value",
            )
        return _hierarchy_filter(cs, op, value)
    if op == "regex":
        pattern = compile_regex(value, where)
        budget = limits.current()

        def test_regex(c: Concept) -> bool:
            # one deadline for the whole request, however many filters and concepts it tests
            remaining = budget.regex_remaining()
            try:
                if remaining <= 0:
                    raise TimeoutError
                return any(pattern.fullmatch(v, timeout=remaining) for v in read(c))
            except TimeoutError:
                raise TooCostly(
                    f"{where}: the regular expression '{clip(value)}' took more than the "
                    f"{budget.limits.regex_budget_ms / 1000:g} s this server gives the regex filters of "
                    "one request (FHIRTERM_REGEX_BUDGET_MS); use a simpler pattern, or "
                    "narrow the include with another filter",
                    expression=f"{where}.value",
                ) from None

        return Filter(test_regex)
    if op == "exists":
        if value not in ("true", "false"):
            raise InvalidRequest(
                f"{where}: 'exists' takes true or false, found '{value}'",
                expression=f"{where}.value",
            )
        want = value == "true"
        return Filter(lambda c: bool(read(c)) == want)
    ordered = [value] if op == "=" else list(dict.fromkeys(v.strip() for v in value.split(",")))
    values = set(ordered)
    if prop in ("concept", "code"):
        if op == "not-in":
            return Filter(lambda c: c.code not in values)
        return Filter(lambda c: c.code in values, lambda: [v for v in ordered if v in cs.concepts])
    if op == "not-in":
        return Filter(lambda c: not values.intersection(read(c)))
    return Filter(lambda c: bool(values.intersection(read(c))))


# Compiled patterns: a value set's regex filter is compiled for each request that
# evaluates it. Bounded in entries, and only patterns of a small expanded size are kept
# (a compiled pattern's memory grows with that size).
PATTERN_CACHE_MAX = 64
_PATTERNS: Memo[str, regex.Pattern[str]] = Memo(PATTERN_CACHE_MAX)
PATTERN_CACHE_SIZE = 1_000


def regex_size(pattern: str, stop: int) -> int:
    """An upper estimate of the size of ``pattern`` with its counted repeats written out
    (``(ab){3}`` is 6, ``a{2}{3}`` at most 6): what compiling it costs, in time and memory,
    grows with it (the regex engine writes a repeat of at least n out n times). Counting
    stops above ``stop``.

    Every atom (a character, an escape, a set) is 1; a group is the sum of its parts; a
    repeat ``{m,n}`` multiplies the atom or group before it by the larger of its bounds.
    """
    totals: list[int] = []  # the enclosing groups' sizes so far
    cur = last = 0  # the current group's size so far; the size of its last atom or group
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "\\":
            if i < n and pattern[i] in "pPNxuUg" and i + 1 < n and pattern[i + 1] == "{":
                close = pattern.find("}", i)
                i = n if close < 0 else close + 1
            else:
                i += 1
            cur, last = cur + 1, 1
        elif ch == "[":
            depth = 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and depth:
                c = pattern[i]
                i += 2 if c == "\\" else 1
                depth += 1 if c == "[" else -1 if c == "]" else 0
            cur, last = cur + 1, 1
        elif ch == "(":
            if i < n and pattern[i] == "?":
                # (?:, (?P<name>, (?<=, (?i) ...: the group's prefix is no atom
                while (
                    i < n
                    and pattern[i] not in ":)"
                    and not (pattern[i] == ">" or (pattern[i] in "=!" and pattern[i - 1] in "?<"))
                ):
                    i += 1
                if i < n and pattern[i] != ")":
                    i += 1
            totals.append(cur)
            cur = last = 0
        elif ch == ")":
            group = cur
            cur = (totals.pop() if totals else 0) + group
            last = group
        elif ch == "{":
            close = pattern.find("}", i)
            bounds = pattern[i:close].split(",") if close > 0 else []
            if (
                close > 0
                and 1 <= len(bounds) <= 2
                and all(b.strip().isdigit() or not b.strip() for b in bounds)
            ):
                factor = max([int(b) for b in bounds if b.strip()] or [1])
                cur += last * (factor - 1)
                last *= factor
                i = close + 1
            else:  # a literal brace
                cur, last = cur + 1, 1
        elif ch == "|":
            last = 0
        elif ch in "*+?":
            pass  # a repeat of no count: the engine loops, it does not write it out
        else:
            cur, last = cur + 1, 1
        if cur > stop or sum(totals) > stop:
            return stop + 1
    return cur + sum(totals)


def compile_regex(value: str, where: str) -> regex.Pattern[str]:
    """The compiled pattern of a regex filter; InvalidRequest when it is not a regular
    expression, TooCostly when it is longer or larger (``regex_size``) than the limits."""
    pattern = _PATTERNS.get(value)
    if pattern is not None:
        return pattern
    lim = limits.current().limits
    if len(value) > lim.regex_max_length:
        raise TooCostly(
            f"{where}: the regular expression '{clip(value)}' is longer than the "
            f"{lim.regex_max_length} characters this server compiles "
            "(FHIRTERM_REGEX_MAX_LENGTH); use a shorter pattern",
            expression=f"{where}.value",
        )
    size = regex_size(value, lim.regex_max_size)
    if size > lim.regex_max_size:
        raise TooCostly(
            f"{where}: the regular expression '{clip(value)}' is too large to compile: "
            f"with its counted repeats written out it has more than {lim.regex_max_size} "
            "parts (FHIRTERM_REGEX_MAX_SIZE); use smaller repeat counts (or * and +)",
            expression=f"{where}.value",
        )
    try:
        # not the regex module's own cache: it is unbounded in the memory it keeps
        pattern = regex.compile(value, cache_pattern=False)
    except regex.error as e:
        raise InvalidRequest(
            f"{where}: '{clip(value)}' is not a valid regular expression: {e}",
            expression=f"{where}.value",
        ) from None
    if size <= PATTERN_CACHE_SIZE:
        _PATTERNS.put(value, pattern)
    return pattern


def is_a(cs: CodeSystemIndex, ancestor: str, c: Concept) -> bool:
    """True when ``c`` is ``ancestor`` or one of its descendants (``cs.subsumes(ancestor,
    c.code)``).

    The walk up starts from the concept's own parents, already decoded with it (they are
    the hierarchy's: ``cs.parents_of(c.code)``), so a packed code system decodes one tree
    record fewer per test; it stops at the first hit.
    """
    return c.code == ancestor or cs.has_ancestor(ancestor, c.parents)


FILTER_MEMO = "valueset.filters"  # key of the compiled filter memo in Registry.derived
FILTER_MEMO_MAX = 4096


def registry_filter(registry: Registry, cs: CodeSystemIndex, f: dict[str, Any]) -> Filter | None:
    """The compose filter ``f`` compiled on ``cs``, a code system of ``registry``; None when
    it cannot be compiled (a TerminologyError: an unknown operator, or code of an is-a).

    Compiled once per registry, code system and (property, op, value), and remembered in
    ``registry.derived``: a per-request registry (tx-resource, supplements) has its own,
    and adding content empties it. Bounded (emptied when full). A regex filter is compiled
    for each request (its pattern comes from a bounded cache): it holds the request's time
    budget. A regex filter that is too costly raises TooCostly rather than giving None.
    """
    prop, op, value = f.get("property"), filter_op(f), f.get("value")
    if type(prop) is not str or type(op) is not str or type(value) is not str or op == "regex":
        try:
            return compile_filter(cs, f, "filter")
        except TooCostly:
            raise
        except TerminologyError:
            return None
    memo: Memo[tuple[int, str, str, str], tuple[CodeSystemIndex, Filter | None]] = memo_in(
        registry.derived, FILTER_MEMO, FILTER_MEMO_MAX
    )
    # the entry holds ``cs`` itself, so its id is not reused while the entry lives
    key = (id(cs), prop, op, value)
    hit = memo.get(key)
    if hit is not None and hit[0] is cs:
        return hit[1]
    compiled: Filter | None
    try:
        compiled = compile_filter(cs, f, "filter")
    except TerminologyError:
        compiled = None
    memo.put(key, (cs, compiled))
    return compiled


def _hierarchy_filter(cs: CodeSystemIndex, op: str, value: str) -> Filter:
    if op == "is-a":
        return Filter(lambda c: is_a(cs, value, c), lambda: [value, *cs.descendants(value)])
    if op == "descendent-of":
        return Filter(
            lambda c: c.code != value and cs.subsumes(value, c.code), lambda: cs.descendants(value)
        )
    if op == "is-not-a":
        return Filter(lambda c: not cs.subsumes(value, c.code))
    if op == "generalizes":
        return Filter(lambda c: cs.subsumes(c.code, value), lambda: [value, *cs.ancestors(value)])
    if op == "child-of":
        return Filter(lambda c: value in c.parents, lambda: cs.children_of(value))
    # descendent-leaf
    return Filter(
        lambda c: not c.children and c.code != value and cs.subsumes(value, c.code),
        lambda: (d for d in cs.descendants(value) if not cs.children_of(d)),
    )
