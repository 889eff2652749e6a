"""The in-memory index of one code system version: code -> concept, hierarchy, is-a.

Built once at load time, then read-only. Answers data questions only; the FHIR
meaning of a lookup or a validation lives in ``fhirterm.operations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .model import CodeSystemInfo, Concept, Grouping
from .search import TextIndex


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
    concepts: dict[str, Concept]
    roots: tuple[str, ...] = ()
    groupings: dict[str, Grouping] = field(default_factory=dict)
    _folded: dict[str, str] | None = None
    _text: TextIndex | None = None

    @classmethod
    def build(
        cls,
        info: CodeSystemInfo,
        concepts: dict[str, Concept],
        groupings: dict[str, Grouping] | None = None,
    ) -> CodeSystemIndex:
        """Index concepts whose ``parents``/``children`` may be given on either side.

        Missing reverse links are filled in, so a source may state only parents
        (FHIR ``parent`` properties) or only children (nesting).
        """
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
            self._text = TextIndex.build(self.concepts.values())
        return self._text

    def suggest(self, text: str) -> str | None:
        """A real code that ``text`` is a case, dot or space variant of, if any."""
        real = self.folded().get(_fold(text))
        return real if real != text else None

    def ancestors(self, code: str) -> Iterator[str]:
        """Every ancestor of ``code`` (each once), nearest first."""
        seen: set[str] = set()
        stack = list(self.concepts[code].parents) if code in self.concepts else []
        while stack:
            p = stack.pop(0)
            if p in seen:
                continue
            seen.add(p)
            yield p
            pc = self.concepts.get(p)
            if pc is not None:
                stack.extend(pc.parents)

    def descendants(self, code: str) -> Iterator[str]:
        """Every descendant of ``code`` (each once), depth first in source order."""
        seen: set[str] = set()
        c = self.concepts.get(code)
        stack = list(reversed(c.children)) if c else []
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            yield k
            kc = self.concepts.get(k)
            if kc is not None:
                stack.extend(reversed(kc.children))

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True when ``ancestor`` is ``code`` or one of its ancestors (is-a)."""
        return ancestor == code or any(a == ancestor for a in self.ancestors(code))
