"""The index of one code system version: code -> concept, hierarchy, is-a.

Built once at load time, then read-only. Answers data questions only; the FHIR
meaning of a lookup or a validation lives in ``fhirterm.operations``.

The concepts are held by a store (``ConceptStore``): in memory (``ConceptDict``), or
packed and memory-mapped (``fhirterm.packed.PackedConcepts``), or a supplemented view
of either (``fhirterm.operations.supplements.Supplemented``). Each answers the questions
the index asks (hierarchy, flags, displays) its own way: the packed store from columns,
without decoding whole concepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .memo import Memo
from .model import CodeSystemInfo, Concept, Grouping
from .search import AddedWords, BitMatches, Extended, Matches, TextIndex, search_with_added


def prop_values(concept: Concept, name: str) -> list[str]:
    """A concept's values for a property, as text (booleans as true/false).

    ``code``, ``display``, ``parent``, ``child``, ``notSelectable`` and
    ``inactive`` are answered from the concept itself.
    """
    if name == "code":
        return [concept.code]
    if name == "display":
        return [concept.display] if concept.display is not None else []
    if name == "parent":
        return list(concept.parents)
    if name == "child":
        return list(concept.children)
    if name == "notSelectable" and not any(p.code == name for p in concept.properties):
        return ["true" if concept.abstract else "false"]
    if name == "inactive":
        return ["true" if concept.inactive else "false"]
    out = []
    for p in concept.properties:
        if p.code == name and p.value is not None:
            v = p.value
            out.append(
                ("true" if v else "false")
                if isinstance(v, bool)
                else (v.get("code", "") if isinstance(v, dict) else str(v))
            )
    return out


class ConceptStore(Protocol):
    """code -> Concept of one code system version, in source order (iteration gives the
    codes), with the hierarchy and flags read without decoding whole concepts.

    Unknown codes are no error for the column reads: ``rows`` leaves them out, the flags
    are False, the hierarchy (). Setting a concept replaces a known one (the editorial
    layer does, at load); a store need not take new codes.
    """

    def __getitem__(self, code: str, /) -> Concept: ...
    def __setitem__(self, code: str, concept: Concept, /) -> None: ...
    def __contains__(self, code: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def get(self, code: str, /) -> Concept | None: ...
    def values(self) -> Iterable[Concept]: ...
    def items(self) -> Iterable[tuple[str, Concept]]: ...

    def rows(self, codes: Iterable[str], selectable: bool = False) -> list[tuple[str, str | None]]:
        """(code, display) of each known code in ``codes``, in order; unknown ones left out,
        and abstract ones too with ``selectable``."""
        ...

    def is_abstract(self, code: str) -> bool: ...
    def is_inactive(self, code: str) -> bool: ...
    def parents_of(self, code: str) -> tuple[str, ...]: ...
    def children_of(self, code: str) -> tuple[str, ...]: ...

    def has_ancestor(self, ancestor: str, parents: Iterable[str]) -> bool:
        """Is ``ancestor`` one of ``parents`` or an ancestor of one? Stops at the first hit."""
        ...

    # Sets of concepts as bitmaps over the text index's ordinals (rank order), from a
    # packed store's columns; a store without them answers None (the index then reads
    # the ranks from its text index, and the concepts are tested one by one).

    def indexed(self) -> bool:
        """Whether ``ranks``, ``property_bits`` and ``subtree_ranks`` answer from columns."""
        ...

    def ranks(self, codes: Iterable[str]) -> list[int] | None:
        """The text index ordinal of each code (-1 for an unknown one); None: no column."""
        ...

    def property_bits(self, name: str, values: Iterable[str] | None) -> int | None:
        """The concepts (a bitmap over ``ranks``) whose ``prop_values`` for ``name`` hold
        one of ``values`` (any value when None), as written; None when not indexed."""
        ...

    def subtree_ranks(self, code: str) -> Sequence[int] | None:
        """The ``ranks`` of ``code`` and its descendants, ``code``'s first; None when the
        store cannot slice them from a column."""
        ...

    def overridden(self) -> Iterable[str]:
        """The codes whose concepts were set over the written records (editorial content,
        a supplement's additions): ``property_bits`` does not show them."""
        ...


class ConceptDict(dict[str, Concept]):
    """The in-memory store: a dict of the concepts, answering from them.

    A dict itself (not a wrapper around one), so reading a concept, testing a code and
    iterating stay the dict's own operations.
    """

    __slots__ = ()

    def rows(self, codes: Iterable[str], selectable: bool = False) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for code in codes:
            c = self.get(code)
            if c is not None and not (selectable and c.abstract):
                out.append((code, c.display))
        return out

    def is_abstract(self, code: str) -> bool:
        c = self.get(code)
        return c is not None and c.abstract

    def is_inactive(self, code: str) -> bool:
        c = self.get(code)
        return c is not None and c.inactive

    def parents_of(self, code: str) -> tuple[str, ...]:
        c = self.get(code)
        return c.parents if c is not None else ()

    def children_of(self, code: str) -> tuple[str, ...]:
        c = self.get(code)
        return c.children if c is not None else ()

    def has_ancestor(self, ancestor: str, parents: Iterable[str]) -> bool:
        seen: set[str] = set()
        todo = list(parents)
        while todo:
            p = todo.pop()
            if p == ancestor:
                return True
            if p in seen:
                continue
            seen.add(p)
            c = self.get(p)
            if c is not None:
                todo.extend(c.parents)
        return False

    def indexed(self) -> bool:
        return False

    def ranks(self, codes: Iterable[str]) -> list[int] | None:
        return None

    def property_bits(self, name: str, values: Iterable[str] | None) -> int | None:
        return None

    def subtree_ranks(self, code: str) -> Sequence[int] | None:
        return None

    def overridden(self) -> Iterable[str]:
        return ()


def _fold(code: str) -> str:
    """The key under which variants of a code meet: no case, no dots, no spaces."""
    return code.replace(".", "").replace(" ", "").upper()


@dataclass(slots=True)
class CodeSystemIndex:
    """One version of one code system: its metadata and its concepts.

    ``concepts`` keeps the source order; ``roots`` are the codes without
    parents; ``groupings`` hold things that look like codes but are not (ICD-10-CM
    chapters and blocks), so that a validation can say what they are.
    """

    info: CodeSystemInfo
    concepts: ConceptStore
    roots: tuple[str, ...] = ()
    groupings: dict[str, Grouping] = field(default_factory=dict)
    _folded: dict[str, str] | None = None
    _text: TextIndex | None = None
    # words added to a few concepts over ``_text`` (a supplement's designations): searched
    # without rebuilding the index (``search_text``)
    _added_words: AddedWords = field(default_factory=dict)
    # the code system whose text index this one shares (a supplemented one's base)
    _text_of: CodeSystemIndex | None = None
    # reads the text index on first use instead of building it (a packed release whose
    # word lists are kept out of memory until searched: fhirterm.packed.load)
    text_loader: Callable[[], TextIndex] | None = None
    # the selectable descendants of the codes asked most recently (selectable_descendants)
    _selectable: Memo[str, tuple[str, ...]] = field(default_factory=lambda: Memo(4096))
    # Facts the operations derive from ``info`` on first use (which properties
    # are presentation-only, whether siblings are listed...): info never changes
    # after load, so each is computed once per code system instead of per request.
    derived: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        info: CodeSystemInfo,
        concepts: dict[str, Concept],
        groupings: dict[str, Grouping] | None = None,
    ) -> CodeSystemIndex:
        """Index concepts whose ``parents``/``children`` may be given on either side.

        Missing reverse links are filled in, so a source may state only parents
        (FHIR ``parent`` properties) or only children (nesting). The concepts are kept
        in memory, in ``concepts`` itself when it is a ``ConceptDict``.
        """
        if not isinstance(concepts, ConceptDict):
            concepts = ConceptDict(concepts)
        child_links: dict[str, list[str]] = {}
        parent_links: dict[str, list[str]] = {}
        for c in concepts.values():
            for p in c.parents:
                child_links.setdefault(p, []).append(c.code)
            for ch in c.children:
                parent_links.setdefault(ch, []).append(c.code)
        for code, kids in child_links.items():
            pc = concepts.get(code)
            if pc is not None:
                missing = [k for k in kids if k not in pc.children]
                if missing:
                    pc.children = pc.children + tuple(missing)
        for code, pars in parent_links.items():
            cc = concepts.get(code)
            if cc is not None:
                missing = [p for p in pars if p not in cc.parents]
                if missing:
                    cc.parents = cc.parents + tuple(missing)
        roots = tuple(c.code for c in concepts.values() if not c.parents)
        return cls(info=info, concepts=concepts, roots=roots, groupings=groupings or {})

    def __len__(self) -> int:
        return len(self.concepts)

    def get(self, code: str) -> Concept | None:
        """The concept for ``code``, honouring the code system's case sensitivity."""
        c = self.concepts.get(code)
        if c is None and not self.info.case_sensitive:
            real = self.folded().get(_fold(code))
            if real is not None and real.lower() == code.lower():
                c = self.concepts.get(real)
        return c

    def folded(self) -> dict[str, str]:
        """Map of folded keys (no case, dots or spaces) to real codes, built on first use."""
        if self._folded is None:
            self._folded = {_fold(k): k for k in self.concepts}
        return self._folded

    def text_index(self) -> TextIndex:
        """The text search index, built on first use (about a second for ICD-10-CM)."""
        if self._text is None:
            if self._text_of is not None:
                return self._text_of.text_index()  # built once, kept by the base
            if self.text_loader is not None:
                self._text = self.text_loader()
            else:
                self._text = TextIndex.build(self.concepts.values())
        return self._text

    def search_text(self, text: str) -> Matches | BitMatches | Extended | None:
        """The concepts whose words (code, display, designations) match every word of
        ``text`` as a prefix, best first; None when ``text`` has no words."""
        return search_with_added(self.text_index(), self._added_words, text)

    # Above this size, suggestions try the likely spellings of a code instead of
    # holding a folded map of every code (~15 MB per worker for ICD-10-CM).
    FOLD_MAP_LIMIT = 20_000

    def longest_code(self) -> int:
        """The length of the longest code (computed on first use and kept in ``derived``)."""
        n: int | None = self.derived.get("longest_code")
        if n is None:
            n = self.derived["longest_code"] = max(map(len, self.concepts), default=0)
        return n

    def suggest(self, text: str) -> str | None:
        """A real code that ``text`` is a case, dot or space variant of, if any.

        Linear in the length of ``text``: text that is longer than every code once its dots
        and spaces are taken out is no variant of one, and is not looked at further (the
        candidates below are quadratic in the length).
        """
        raw = text.replace(".", "").replace(" ", "")
        if len(raw) > self.longest_code():
            return None
        if len(self.concepts) <= self.FOLD_MAP_LIMIT:
            real = self.folded().get(raw.upper())
            return real if real != text else None
        for base in dict.fromkeys((raw, raw.upper(), raw.lower())):
            # the code as written without dots, and with a dot after each position
            for cand in (base, *(base[:i] + "." + base[i:] for i in range(1, len(base)))):
                if cand != text and cand in self.concepts:
                    return cand
        return None

    # Hierarchy, flags and displays: the store's (a packed one reads them from columns,
    # without decoding whole concepts).

    def ranked(self) -> bool:
        """Whether ``ranks`` answers without building a text index (a packed store, or an
        index whose text index is at hand)."""
        return (
            self.concepts.indexed()
            or self._text is not None
            or (self._text_of is not None and self._text_of._text is not None)
        )

    def indexed(self) -> bool:
        """Whether the store answers ``ranks``, ``property_bits`` and ``subtree_ranks`` from
        its own columns (a packed store), rather than from the concepts."""
        return self.concepts.indexed()

    def ranks(self, codes: Iterable[str]) -> list[int]:
        """The text index ordinal (rank order) of each of ``codes``, -1 for an unknown one.

        Sets of concepts are bitmaps over these ordinals (value set members, a text
        search's matches), so that one can be intersected with the other as integers.
        """
        found = self.concepts.ranks(codes)
        if found is not None:
            return found
        rank: dict[str, int] | None = self.derived.get("ranks")
        if rank is None:
            rank = self.derived["ranks"] = {c: i for i, c in enumerate(self.text_index().codes)}
        get = rank.get
        return [get(c, -1) for c in codes]

    def property_bits(self, name: str, values: Iterable[str] | None) -> int | None:
        """The concepts (a bitmap over ``ranks``) whose ``prop_values`` for ``name`` hold
        one of ``values`` (any value when None), as stored, from a packed store's property
        index; None when the store has no index of ``name``. Concepts set after the store
        was written (``overridden``) are not reflected: callers test those on their own."""
        return self.concepts.property_bits(name, values)

    def subtree_ranks(self, code: str) -> Sequence[int] | None:
        """The ``ranks`` of ``code`` and its descendants, ``code``'s first, from a packed
        store whose codes are in hierarchy order; None otherwise."""
        return self.concepts.subtree_ranks(code)

    def overridden(self) -> Iterable[str]:
        """The codes whose concepts were set over a packed store's records (editorial
        content, a supplement's additions): its property index does not show them."""
        return self.concepts.overridden()

    def rows(self, codes: Iterable[str], selectable: bool = False) -> list[tuple[str, str | None]]:
        """(code, display) of each known code in ``codes``, in order; unknown ones
        left out, and abstract ones too with ``selectable``."""
        return self.concepts.rows(codes, selectable)

    def is_abstract(self, code: str) -> bool:
        return self.concepts.is_abstract(code)

    def is_inactive(self, code: str) -> bool:
        return self.concepts.is_inactive(code)

    def parents_of(self, code: str) -> tuple[str, ...]:
        return self.concepts.parents_of(code)

    def children_of(self, code: str) -> tuple[str, ...]:
        return self.concepts.children_of(code)

    def ancestors(self, code: str) -> Iterator[str]:
        """Every ancestor of ``code`` (each once), nearest first."""
        return self._above(self.parents_of(code))

    def _above(self, parents: Iterable[str]) -> Iterator[str]:
        """``parents`` and every ancestor of them (each once), nearest first."""
        seen: set[str] = set()
        stack = list(parents)
        while stack:
            p = stack.pop(0)
            if p in seen:
                continue
            seen.add(p)
            yield p
            stack.extend(self.parents_of(p))

    def descendants(self, code: str) -> Iterator[str]:
        """Every descendant of ``code`` (each once), depth first in source order."""
        seen: set[str] = set()
        stack = list(reversed(self.children_of(code)))
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            yield k
            stack.extend(reversed(self.children_of(k)))

    def selectable_descendants(self, code: str) -> tuple[str, ...]:
        """The descendants of ``code`` that are not abstract, depth first in source order.

        Remembered for the codes asked (the index is read-only after load; a memo of
        4096): a header such as S72 has hundreds of descendants, and a validation of a
        header lists them in its message.
        """
        found = self._selectable.get(code)
        if found is None:
            found = self._selectable.put(
                code, tuple(d for d in self.descendants(code) if not self.is_abstract(d))
            )
        return found

    def has_ancestor(self, ancestor: str, parents: Iterable[str]) -> bool:
        """Is ``ancestor`` one of ``parents`` or an ancestor of one? Stops at the first hit.

        Taking the parents (not a code) lets a caller that holds a decoded concept start
        from its ``parents`` without reading them again.
        """
        return self.concepts.has_ancestor(ancestor, parents)

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True when ``ancestor`` is ``code`` or one of its ancestors (is-a)."""
        return ancestor == code or (
            code in self.concepts and self.has_ancestor(ancestor, self.parents_of(code))
        )
