"""Text search over one code system: words in any order, word prefixes, best match first.

Each concept is indexed by the words of its display and designations. Concepts
get an ordinal in a static rank order (shorter, more general displays first),
so a posting list sorted by ordinal is already sorted by rank. A query starts
from its most selective word (estimated in O(log n) from cumulative posting
sizes) and intersects the others into it; only the page asked for is sorted.

Built once per code system on first use (or read from a packed file), then
read-only.
"""

from __future__ import annotations

import bisect
import heapq
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Concept

_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+")


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits, accents kept)."""
    return _WORD.findall(text.casefold())


# A posting list: sorted ordinals, as an array or a zero-copy view of a packed file.
Postings = Sequence[int]


@dataclass(slots=True)
class TextIndex:
    codes: list[str]  # ordinal -> code
    vocab: list[str]  # sorted distinct words
    postings: list[Postings]  # vocab position -> ordinals having the word anywhere
    display_postings: list[Postings]  # vocab position -> ordinals having it in the display
    cumulative: array[int]  # cumulative posting sizes, for O(1) range estimates

    @classmethod
    def from_parts(cls, codes: list[str], vocab: list[str], postings: Sequence[Postings],
                   display_postings: Sequence[Postings]) -> TextIndex:
        cumulative = array("q", [0])
        total = 0
        for p in postings:
            total += len(p)
            cumulative.append(total)
        return cls(codes, vocab, list(postings), list(display_postings), cumulative)

    @classmethod
    def build(cls, concepts: Iterable[Concept]) -> TextIndex:
        items = sorted(concepts, key=lambda c: (len(c.display or ""), c.code))
        codes = [c.code for c in items]
        by_word: dict[str, list[int]] = {}
        by_display: dict[str, list[int]] = {}
        for ordinal, c in enumerate(items):
            own = list(dict.fromkeys([*words(c.code), *words(c.display or "")]))
            for w in own:
                by_display.setdefault(w, []).append(ordinal)
            for d in c.designations:
                for w in words(d.value):
                    if w not in own:
                        own.append(w)
            for w in own:
                by_word.setdefault(w, []).append(ordinal)
        vocab = sorted(by_word)
        return cls.from_parts(codes, vocab, [array("i", by_word[w]) for w in vocab],
                              [array("i", by_display.get(w, ())) for w in vocab])

    def _range(self, prefix: str) -> tuple[int, int]:
        lo = bisect.bisect_left(self.vocab, prefix)
        hi = bisect.bisect_left(self.vocab, prefix + "\uffff", lo)
        return lo, hi

    def _union(self, lists: list[Postings], lo: int, hi: int) -> set[int]:
        out: set[int] = set()
        for p in lists[lo:hi]:
            out.update(p)
        return out

    def search(self, text: str) -> Matches | None:
        """Concepts matching every word of ``text`` as a word prefix.

        None when ``text`` has no words (no filtering).
        """
        qwords = list(dict.fromkeys(words(text)))
        if not qwords:
            return None
        ranges = sorted(
            (
                (self.cumulative[hi] - self.cumulative[lo], w, lo, hi)
                for w in qwords
                for lo, hi in [self._range(w)]
            )
        )
        if ranges[0][0] == 0:
            return Matches(self.codes, set(), set())
        _, _, lo, hi = ranges[0]
        cands = self._union(self.postings, lo, hi)
        display = self._union(self.display_postings, lo, hi)
        for _, _, lo, hi in ranges[1:]:
            cands &= self._union(self.postings, lo, hi)
            display &= self._union(self.display_postings, lo, hi)
        return Matches(self.codes, display, cands - display)


@dataclass(slots=True)
class Matches:
    """The result of a search: best first on demand, without sorting what is not asked for.

    Best first: concepts whose display holds every word come before those
    matched only through a designation (an inclusion term); within each tier,
    shorter displays first.
    """

    codes: list[str]
    display: set[int]
    rest: set[int]

    def __len__(self) -> int:
        return len(self.display) + len(self.rest)

    def top(self, n: int | None = None) -> list[str]:
        """The first ``n`` codes best first (all when None)."""
        if n is None:
            ordered = sorted(self.display) + sorted(self.rest)
        else:
            ordered = heapq.nsmallest(n, self.display)
            if len(ordered) < n:
                ordered += heapq.nsmallest(n - len(ordered), self.rest)
        return [self.codes[o] for o in ordered]
