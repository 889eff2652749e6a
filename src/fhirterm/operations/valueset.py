"""The ValueSet engine: a compose (include, exclude, concepts, filters, imports) compiled
once (``compose.py`` compiles it; ``filters.py`` its filters).

A ``CompiledValueSet`` answers membership (``contains``) without expanding and
enumerates members (``members``) lazily, for every code system the registry
holds; what $validate-code reads of it (the includes a coding is tried against,
``Include.holds``) is here too. Spec: https://hl7.org/fhir/R4/valueset.html#compositions
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    TerminologyError,
    TooCostly,
)
from ..index import CodeSystemIndex
from ..model import Concept, Designation
from ..registry import Registry, _version_key
from . import limits, members
from .contracts import VersionRules
from .filters import Filter, registry_filter
from .versions import more_detailed, newest_first, resolve

# id(code system) -> (the code system, its members as a bitmap): ``members.member_bits``
MemberBits = dict[int, tuple[CodeSystemIndex, int]]


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
