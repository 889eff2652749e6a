"""The ValueSet engine: compose (include, exclude, concepts, filters, imports) compiled once.

A ``CompiledValueSet`` answers membership (``contains``) without expanding and
enumerates members (``members``) lazily, for every code system the registry
holds. Implicit value sets (``{system}?fhir_vs``, ``?fhir_vs=isa/{code}``)
are compiled from a synthetic compose. Spec:
https://hl7.org/fhir/R4/valueset.html#compositions and
https://hl7.org/fhir/R4/codesystem.html#filters
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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
from ..model import Concept, Designation
from ..registry import Registry, _version_key
from . import limits, members
from . import messages as M
from .contracts import VersionRules
from .versions import more_detailed, newest_first, resolve

# id(code system) -> (the code system, its members as a bitmap): ``members.member_bits``
MemberBits = dict[int, tuple[CodeSystemIndex, int]]
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


@dataclass(frozen=True, slots=True)
class Member:
    """One concept of an expansion; ``display`` honours a compose-level display."""

    cs: CodeSystemIndex
    concept: Concept
    display: str | None
    extensions: tuple[dict[str, Any], ...] = ()  # of the compose's concept entry
    designations: tuple[Designation, ...] = ()  # the compose's concept entry adds

    @property
    def system(self) -> str:
        return self.cs.info.url

    @property
    def code(self) -> str:
        return self.concept.code


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


@dataclass(slots=True)
class Include:
    """One compiled include or exclude: a code system part and/or imported value sets."""

    cs: CodeSystemIndex | None
    concepts: dict[str, str | None] | None = None  # listed code -> compose display
    filters: list[Filter] = field(default_factory=list)
    value_sets: list[CompiledValueSet] = field(default_factory=list)
    stated_version: str | None = None  # the version the compose names for the system, if any
    concept_extensions: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    concept_designations: dict[str, tuple[Designation, ...]] = field(default_factory=dict)
    system: str | None = None  # the code system the compose names (``cs``: the version found)
    refs: tuple[str, ...] = ()  # the references of ``value_sets``, in their order
    # listed code -> its first entry in the compose (None: the include lists no concepts)
    entries: dict[str, dict[str, Any]] | None = None
    filter_defs: tuple[dict[str, Any], ...] = ()  # the compose's filters, as written
    memo: dict[Any, Any] = field(default_factory=dict)  # what clients derive of it, kept

    def whole(self) -> bool:
        """The include takes its code system whole (it lists no concepts and has no filter)."""
        return self.entries is None and not self.filter_defs

    def holds(self, registry: Registry, cs: CodeSystemIndex, c: Concept) -> bool:
        """``c``, a concept of ``cs`` (the version of the include's system meant), is listed
        (when the include lists concepts) and passes the filters, compiled on ``cs``
        (``registry_filter``).

        A filter that cannot be compiled or evaluated (an unknown code in an is-a) admits
        nothing; one that is too costly (a regex over the request's budget) raises
        TooCostly: the answer is not known."""
        if self.entries is not None and c.code not in self.entries:
            return False
        for f in self.filter_defs:
            compiled = registry_filter(registry, cs, f)
            if compiled is None:
                return False
            try:
                if not compiled.test(c):
                    return False
            except TooCostly:
                raise
            except TerminologyError:
                return False
        return True

    def _own(self, system: str, code: str) -> Concept | None:
        cs = self.cs
        if cs is None:
            return None
        if system != cs.info.url:
            return None
        c = cs.get(code)
        if c is None:
            return None
        if self.concepts is not None and c.code not in self.concepts:
            return None
        if not all(f.test(c) for f in self.filters):
            return None
        return c

    def excludes(self, system: str, version: str | None, code: str, versions_match: bool) -> bool:
        """This exclude removes ``system|version#code``: the code is in it and, unless the
        versions of the code system are taken to match, the exclude names no version or the
        entry's version (an exclude of version 1 removes nothing of version 2). ``version``
        None: not known (a code of an imported value set)."""
        if self.contains(system, code) is None:
            return False
        if versions_match or self.cs is None or not self.stated_version or version is None:
            return True
        return (self.cs.info.version or None) == (version or None)

    def contains(self, system: str, code: str) -> Concept | None:
        if self.cs is not None:
            c = self._own(system, code)
            if c is None:
                return None
            if all(vs.contains(system, code) is not None for vs in self.value_sets):
                return c
            return None
        hits = [vs.contains(system, code) for vs in self.value_sets]
        return hits[0] if hits and all(h is not None for h in hits) else None

    def codes(self, cs: CodeSystemIndex) -> Iterable[str]:
        """The codes of ``cs`` (its own code system) this include walks, in its order: its
        concept list, else its first filter's candidates, else every code."""
        if self.concepts is not None:
            return self.concepts
        gen = next((f.candidates for f in self.filters if f.candidates is not None), None)
        return gen() if gen is not None else cs.concepts

    def members(self, known: MemberBits | None = None) -> Iterator[Member]:
        """The members this include yields, in its order; ``known`` (``members.member_bits``
        of the value set walked) lets the walk skip the codes that are no members before
        decoding them."""
        cs = self.cs
        if cs is None:
            first, rest = self.value_sets[0], self.value_sets[1:]
            for m in first.members(known):
                if all(vs.contains(m.system, m.code) is not None for vs in rest):
                    yield m
            return
        codes = self.codes(cs)
        have = known.get(id(cs)) if known is not None else None
        if have is not None:
            codes = members.known(have[1], cs, codes)
        budget = limits.current()
        for n, code in enumerate(codes):
            if not n % limits.CHECK_EVERY:
                # the work between two checks includes what the consumer does with the
                # members yielded (excludes, other includes' duplicates)
                budget.check_cpu("Evaluating the value set")
            c = cs.get(code)
            if c is None or not all(f.test(c) for f in self.filters):
                continue
            if self.value_sets and not all(
                vs.contains(cs.info.url, c.code) is not None for vs in self.value_sets
            ):
                continue
            shown = self.concepts.get(code) if self.concepts is not None else None
            yield Member(
                cs,
                c,
                shown or c.display,
                self.concept_extensions.get(code, ()),
                self.concept_designations.get(code, ()),
            )


@dataclass(slots=True)
class CompiledValueSet:
    url: str | None
    version: str | None
    resource: dict[str, Any]
    includes: list[Include]
    excludes: list[Include]
    inactive: bool | None = None  # compose.inactive
    contained: bool = False  # a resource contained in the value set that imports it ("#id")
    # the versions of a code system are taken to match (versionsMatch): a code is one member
    # whatever the version, and an exclude of one version removes it from every version
    versions_match: bool = False
    memo: dict[str, Any] = field(default_factory=dict)  # what clients derive of it, kept

    @property
    def name(self) -> str:
        """The value set as messages name it: ``url|version``, ``url``, or (unidentified)."""
        return vurl(self.resource)

    def imports(self) -> list[CompiledValueSet]:
        """The value sets the includes and then the excludes import, each reference once."""
        found: list[CompiledValueSet] | None = self.memo.get("imports")
        if found is None:
            seen: dict[str, CompiledValueSet] = {}
            for inc in [*self.includes, *self.excludes]:
                for ref, v in zip(inc.refs, inc.value_sets, strict=True):
                    seen.setdefault(ref, v)
            found = self.memo["imports"] = list(seen.values())
        return found

    def includes_for(self, system: str, version: str) -> list[Include]:
        """The includes a coding of ``system|version`` is tried against, in order: compose
        order, except that the includes of several versions of one code system are tried
        newest stated version first (a code in both is the newer version's); with a version
        in the coding, of the includes of ``system`` naming a version only those of that
        version (or a wildcard it matches), when there are any."""
        incs = self.memo.get("includes_for")
        if incs is None:
            incs = self.memo["includes_for"] = newest_first(
                self.includes, lambda i: i.system, lambda i: i.stated_version
            )
        if not version:
            return incs
        pinned = [
            i
            for i in incs
            if i.system == system
            and i.stated_version
            and (i.stated_version == version or more_detailed(i.stated_version, version))
        ]
        if not pinned:
            return incs
        return [i for i in incs if i.system != system or not i.stated_version or i in pinned]

    def systems_with(self, registry: Registry, rules: VersionRules, code: str) -> list[str]:
        """The code systems of the includes (and of the imported value sets) that hold
        ``code``, in compose order: what a code without a system may be inferred from."""
        systems: list[str] = []
        for inc in self.includes:
            if inc.value_sets or not inc.system:
                for v in self.imports():
                    systems.extend(
                        x for x in v.systems_with(registry, rules, code) if x not in systems
                    )
                continue
            cs = resolve(registry, rules, inc.system, inc.stated_version).cs
            if cs is None or inc.system in systems:
                continue
            c = cs.get(code)
            if c is not None and inc.holds(registry, cs, c):
                systems.append(inc.system)
        return systems

    def include_systems(self) -> list[str]:
        """The code systems the value set draws on (its includes' and its imports'), in order."""
        out: list[str] = []
        for inc in self.includes:
            if inc.system and inc.system not in out:
                out.append(inc.system)
        for v in self.imports():
            out.extend(s for s in v.include_systems() if s not in out)
        return out

    def contains(self, system: str, code: str, version: str | None = None) -> Concept | None:
        """The concept when ``system|code`` is a member, else None (no expansion needed).

        ``version`` limits the answer to the includes drawing on that version of the system.
        """
        for inc in self.includes:
            if version is not None and inc.cs is not None and inc.cs.info.version != version:
                continue
            c = inc.contains(system, code)
            if c is not None:
                found = version
                if found is None and inc.cs is not None:
                    found = inc.cs.info.version
                if self.excluded(system, found, code):
                    return None
                return c
        return None

    def excluded(self, system: str, version: str | None, code: str) -> bool:
        return any(ex.excludes(system, version, code, self.versions_match) for ex in self.excludes)

    def ordered_includes(self) -> list[Include]:
        """The includes in compose order, except that the includes of a code system the
        compose names in a version take that system's places in this order: those naming a
        version, newest version first, then those naming none (in compose order). A code in
        several versions is listed (and, when the versions match, kept) newest stated
        version first, as the reference server lists it."""
        places: dict[str, list[int]] = {}
        for n, inc in enumerate(self.includes):
            if inc.cs is not None:
                places.setdefault(inc.cs.info.url, []).append(n)
        out = list(self.includes)
        for positions in places.values():
            group = [self.includes[n] for n in positions]
            stated = [i for i in group if i.stated_version]
            if not stated or len(group) < 2:
                continue
            stated = sorted(
                stated,
                key=lambda i: _version_key(i.cs.info.version or "" if i.cs else ""),
                reverse=True,
            )
            ordered = stated + [i for i in group if not i.stated_version]
            for n, inc in zip(positions, ordered, strict=True):
                out[n] = inc
        return out

    def members(self, known: MemberBits | None = None) -> Iterator[Member]:
        """Every member once, in compose order (and each code system's own order): once per
        version of its code system, or once in all when the versions match. ``known``:
        the members as bitmaps (``members.member_bits``), to skip the other codes unread."""
        seen: set[tuple[str, str, str]] = set()
        for inc in self.ordered_includes():
            for m in inc.members(known):
                version = m.cs.info.version or ""
                key = (m.system, "" if self.versions_match else version, m.code)
                if key in seen:
                    continue
                seen.add(key)
                if self.excluded(m.system, version or None, m.code):
                    continue
                yield m

    def whole_system(self) -> CodeSystemIndex | None:
        """The code system when this value set is all of one code system, else None."""
        if len(self.includes) != 1 or self.excludes:
            return None
        inc = self.includes[0]
        if inc.cs is None or inc.concepts is not None or inc.filters or inc.value_sets:
            return None
        return inc.cs

    def whole_systems(self) -> list[CodeSystemIndex]:
        """The code systems an include takes whole (no filter, concept list or import)."""
        return [
            inc.cs
            for inc in self.includes
            if inc.cs is not None
            and inc.concepts is None
            and not inc.filters
            and not inc.value_sets
        ]

    def hierarchical(self) -> bool:
        """True when every include draws on a code system's structure (no enumerated concepts,
        no imports): such an expansion may be nested by the code system's hierarchy."""
        return bool(self.includes) and all(
            inc.cs is not None and inc.concepts is None and not inc.value_sets
            for inc in self.includes
        )

    def nests_by_default(self) -> bool:
        """True when every code system drawn on is a FHIR CodeSystem resource: its expansion
        follows the resource's concept tree unless excludeNested says otherwise (as the
        reference server does). Terminologies read from their own release formats
        (ICD-10-CM) expand flat unless nesting is asked for."""
        systems = self.code_systems()
        return bool(systems) and all(
            cs.info.extra.get("resourceType") == "CodeSystem" for cs in systems
        )

    def all_parts(self) -> Iterator[Include]:
        """Every include and exclude, imported value sets' included."""
        for inc in [*self.includes, *self.excludes]:
            yield inc
            for v in inc.value_sets:
                yield from v.all_parts()

    def value_sets_used(self) -> list[tuple[str, str | None]]:
        """(url, version) of every value set imported, at any depth (for used-valueset)."""
        out: list[tuple[str, str | None]] = []
        for inc in [*self.includes, *self.excludes]:
            for v in inc.value_sets:
                own = [] if v.contained else [(v.url or "", v.version)]
                for key in [*own, *v.value_sets_used()]:
                    if key not in out:
                        out.append(key)
        return out

    def multi_version_systems(self) -> set[str]:
        """Code systems the compose names in more than one version (includes and excludes):
        their expansion entries must say which version each comes from."""
        stated: dict[str, set[str]] = {}
        compose = self.resource.get("compose") or {}
        for part in (*compose.get("include", []), *compose.get("exclude", [])):
            if isinstance(part, dict) and part.get("system"):
                stated.setdefault(part["system"], set()).add(str(part.get("version") or ""))
        return {url for url, versions in stated.items() if len(versions) > 1}

    def code_systems(self) -> list[CodeSystemIndex]:
        """The code system versions this value set draws on (for used-codesystem)."""
        out: list[CodeSystemIndex] = []
        for inc in [*self.includes, *self.excludes]:
            for cs in ([inc.cs] if inc.cs is not None else []) + [
                x for v in inc.value_sets for x in v.code_systems()
            ]:
                if cs not in out:
                    out.append(cs)
        return out


def vurl(vs: dict[str, Any]) -> str:
    """A value set as messages name it: ``url|version``, ``url``, or (unidentified)."""
    url = vs.get("url")
    if not url:
        return "(unidentified)"
    return f"{url}|{vs['version']}" if vs.get("version") else str(url)
