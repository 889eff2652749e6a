"""Code system supplements (CodeSystem ``content: supplement``) applied for one request.

A supplement adds designations and properties to the concepts of the code system it
supplements (https://hl7.org/fhir/R5/codesystem.html#supplements). It is applied only when
asked for (ValueSet extension ``valueset-supplement`` or the ``useSupplement`` parameter),
in a throwaway registry: the shared concepts are never changed, the ones a supplement
touches are copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import NotFound
from ..index import CodeSystemIndex, ConceptStore
from ..model import Concept
from ..registry import Registry
from ..search import concept_words, words

VALUESET_SUPPLEMENT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def requested(vs: dict[str, Any], use: Iterable[str] = ()) -> list[str]:
    """Canonicals of the supplements a value set (extension) and the request (useSupplement) name."""
    out = [
        str(e["valueCanonical"])
        for e in vs.get("extension", [])
        if isinstance(e, dict) and e.get("url") == VALUESET_SUPPLEMENT and e.get("valueCanonical")
    ]
    out.extend(u for u in use if u not in out)
    return out


def _find(registry: Registry, canonical: str) -> CodeSystemIndex | None:
    url, _, version = canonical.partition("|")
    cs = registry.find_code_system(url, version or None)
    return cs if cs is not None and cs.info.content == "supplement" else None


def apply(registry: Registry, canonicals: list[str]) -> tuple[Registry, list[CodeSystemIndex]]:
    """The registry with the named supplements merged into their code systems, and the
    supplements used. NotFound for a supplement the registry does not hold."""
    if not canonicals:
        return registry, []
    used: list[CodeSystemIndex] = []
    merged: dict[tuple[str, str], CodeSystemIndex] = {}
    for canonical in canonicals:
        supp = _find(registry, canonical)
        if supp is None:
            raise NotFound(f"Required supplement not found: {canonical}")
        target_url, _, target_version = str(supp.info.extra.get("supplements", "")).partition("|")
        if not registry.has_system(target_url):
            raise NotFound(
                f"The supplement {canonical} supplements '{target_url}', which is not known"
            )
        base = registry.find_code_system(
            target_url, target_version or None
        ) or registry.code_system(target_url)
        key = (base.info.url, base.info.version or "")
        base = merged.get(key, base)
        merged[key] = _merge(base, supp)
        used.append(supp)
    return registry.overlay(list(merged.values()), []), used


def canonical_of(cs: CodeSystemIndex) -> str:
    """url|version of a code system (a supplement), or url when it has no version."""
    return f"{cs.info.url}|{cs.info.version}" if cs.info.version else cs.info.url


class Supplemented(MutableMapping[str, Concept]):
    """The concepts of a code system with the few a supplement touches replaced (a
    ``ConceptStore``).

    The base store (in memory, or packed) is neither copied nor iterated: only the
    supplement's concepts are, so supplementing a large code system costs what the
    supplement is. The hierarchy, flags and displays are the base's, which a supplement
    does not change (it adds designations, properties and extensions).
    """

    __slots__ = ("_base", "_changed")

    def __init__(self, base: ConceptStore, changed: dict[str, Concept]) -> None:
        self._base = base
        self._changed = changed

    def __getitem__(self, code: str) -> Concept:
        c = self._changed.get(code)
        return c if c is not None else self._base[code]

    def __setitem__(self, code: str, concept: Concept) -> None:
        self._changed[code] = concept

    def __delitem__(self, code: str) -> None:
        raise TypeError("the concepts of a supplemented code system are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)

    def __contains__(self, code: object) -> bool:
        return code in self._base

    def rows(self, codes: Iterable[str], selectable: bool = False) -> list[tuple[str, str | None]]:
        return self._base.rows(codes, selectable)

    def is_abstract(self, code: str) -> bool:
        return self._base.is_abstract(code)

    def is_inactive(self, code: str) -> bool:
        return self._base.is_inactive(code)

    def parents_of(self, code: str) -> tuple[str, ...]:
        return self._base.parents_of(code)

    def children_of(self, code: str) -> tuple[str, ...]:
        return self._base.children_of(code)

    def has_ancestor(self, ancestor: str, parents: Iterable[str]) -> bool:
        return self._base.has_ancestor(ancestor, parents)

    def indexed(self) -> bool:
        return self._base.indexed()

    def ranks(self, codes: Iterable[str]) -> list[int] | None:
        return self._base.ranks(codes)

    def property_bits(self, name: str, values: Iterable[str] | None) -> int | None:
        return self._base.property_bits(name, values)

    def subtree_ranks(self, code: str) -> Sequence[int] | None:
        return self._base.subtree_ranks(code)

    def overridden(self) -> list[str]:
        """The codes set over the base's records: the base's, and the changed ones."""
        return [*self._base.overridden(), *self._changed]


def _merge(base: CodeSystemIndex, supp: CodeSystemIndex) -> CodeSystemIndex:
    changed: dict[str, Concept] = {}
    source = canonical_of(supp)
    for code, sc in supp.concepts.items():
        c = base.concepts.get(code)
        if c is None:
            continue
        changed[code] = replace(
            c,
            designations=(
                *c.designations,
                *(d._replace(source=d.source or source) for d in sc.designations),
            ),
            properties=(*c.properties, *sc.properties),
            extensions=(*c.extensions, *sc.extensions),
        )
    known = {d.code for d in base.info.property_defs}
    info = replace(
        base.info,
        property_defs=(
            *base.info.property_defs,
            *(d for d in supp.info.property_defs if d.code not in known),
        ),
    )
    concepts = (
        Supplemented(base.concepts._base, {**base.concepts._changed, **changed})
        if isinstance(base.concepts, Supplemented)
        else Supplemented(base.concepts, changed)
    )
    # Codes are the base's, so are its folded codes and its text index (built on first use,
    # by the base, which keeps it): the words of the
    # designations the supplement adds are searched beside the index, for the few
    # concepts that have them (rebuilding the index of ICD-10-CM took 3.4 s a request).
    added = dict(base._added_words)
    for code, sc in supp.concepts.items():
        c = base.concepts.get(code)
        if c is None or not sc.designations:
            continue
        before, more = added.get(code, (frozenset(concept_words(c)), frozenset()))
        new = {w for d in sc.designations for w in words(d.value)}
        added[code] = (before, more | (new - before))
    return CodeSystemIndex(
        info=info,
        concepts=concepts,
        roots=base.roots,
        groupings=base.groupings,
        _folded=base._folded,
        _text=base._text,
        _added_words=added,
        _text_of=base._text_of or base,
    )
