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
from dataclasses import dataclass, field

from .model import Concept

_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+")


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits, accents kept)."""
    return _WORD.findall(text.casefold())


# A posting list: sorted ordinals, as an array or a zero-copy view of a packed file.
Postings = Sequence[int]
# A bitmap of ordinals (bit o of byte o // 8), as bytes or a view of a packed file.
Bits = bytes | memoryview
BITMAP_MIN = 2000  # posting lists this long get a bitmap


def to_bitmap(ordinals: Postings, size: int) -> bytes:
    out = bytearray((size + 7) // 8)
    for o in ordinals:
        out[o >> 3] |= 1 << (o & 7)
    return bytes(out)


# Prefixes (and whole words) that match several words with this many
# postings or more get their union precomputed, so a query never merges them.
PREFIX_MIN_POSTINGS = 500


def _has(sorted_list: Postings, o: int) -> bool:
    i = bisect.bisect_left(sorted_list, o)
    return i < len(sorted_list) and sorted_list[i] == o


_NONZERO = re.compile(rb"[^\x00]")

# (count, all ordinals, display ordinals, bitmaps of both or None): one query word
_Word = tuple[int, Postings, Postings, tuple[Bits, Bits] | None]


# the bit positions set in each byte value
_BITS = [tuple(b for b in range(8) if v >> b & 1) for v in range(256)]


def _ordinals(bits: Bits, n: int | None = None) -> list[int]:
    """The first ``n`` ordinals set in a bitmap (all when None), in order: a regex scan
    finds the non-zero bytes, a table gives their bits."""
    out: list[int] = []
    for m in _NONZERO.finditer(bits):
        i = m.start()
        base = i * 8
        out += [base + b for b in _BITS[bits[i]]]
        if n is not None and len(out) >= n:
            return out[:n]
    return out


def concept_words(c: Concept) -> set[str]:
    """The words a text index finds ``c`` by: of its code, display and designations."""
    out = set(words(c.code))
    out.update(words(c.display or ""))
    for d in c.designations:
        out.update(words(d.value))
    return out


def _has_all(qwords: list[str], have: Iterable[str]) -> bool:
    """Every query word is a prefix of one of ``have``."""
    return all(any(w.startswith(q) for w in have) for q in qwords)


@dataclass(slots=True)
class TextIndex:
    codes: list[str]  # ordinal -> code
    vocab: list[str]  # sorted distinct words
    # Posting lists are lists when built here and lazy sequences over the
    # memory map when read from a packed file (fhirterm.packed): a list of
    # ~50,000 slice objects would be held by every process, copied on write.
    postings: Sequence[Postings]  # vocab position -> ordinals having the word anywhere
    display_postings: Sequence[Postings]  # vocab position -> ordinals having it in the display
    prefixes: dict[str, int]  # short prefix -> position in the prefix lists
    prefix_postings: Sequence[Postings]  # union of the postings of every word with the prefix
    prefix_display: Sequence[Postings]  # the same for display words
    # Bitmaps (one bit per ordinal) of the big posting lists, keyed ("v", vocab
    # position) or ("p", prefix position): intersecting two big lists is then one
    # integer AND, not a set walk. A list with a bitmap is read only through it
    # (ordinals are rank order, so the lowest bits are the best matches), so the
    # packed form stores no posting list for it (~29 MB less of ICD-10-CM's file).
    bitmaps: dict[tuple[str, int], tuple[Bits, Bits]] = field(default_factory=dict)
    bit_counts: dict[tuple[str, int], int] = field(default_factory=dict)  # matches per bitmap

    @classmethod
    def from_parts(
        cls,
        codes: list[str],
        vocab: list[str],
        postings: Sequence[Postings],
        display_postings: Sequence[Postings],
        prefixes: list[str] | None = None,
        prefix_postings: Sequence[Postings] = (),
        prefix_display: Sequence[Postings] = (),
        bitmaps: dict[tuple[str, int], tuple[Bits, Bits]] | None = None,
        bit_counts: dict[tuple[str, int], int] | None = None,
    ) -> TextIndex:
        """Assemble an index; prefix unions and bitmaps are computed when not given
        (``bit_counts``, the matches of each bitmap, come with given ``bitmaps``; the
        posting lists of keys with a bitmap may then be empty: they are not read).
        Given ``prefixes``, the sequences are kept as they are (not copied)."""
        ix = cls(codes, vocab, postings, display_postings, {}, prefix_postings, prefix_display)
        if prefixes is None:
            pre_all: list[Postings] = []
            pre_disp: list[Postings] = []
            ix.postings, ix.display_postings = list(postings), list(display_postings)
            ix.prefix_postings, ix.prefix_display = pre_all, pre_disp
            prefixes = []
            sizes = [len(p) for p in ix.postings]
            for cand in sorted({w[:n] for w in vocab for n in range(1, len(w) + 1)}):
                lo, hi = ix._range(cand)
                if hi - lo > 1 and sum(sizes[lo:hi]) >= PREFIX_MIN_POSTINGS:
                    prefixes.append(cand)
                    pre_all.append(array("i", sorted(ix._union(ix.postings, lo, hi))))
                    pre_disp.append(array("i", sorted(ix._union(ix.display_postings, lo, hi))))
        ix.prefixes = {p: i for i, p in enumerate(prefixes)}
        if bitmaps is None:
            n = len(codes)
            for kind, alls, disps in (
                ("v", ix.postings, ix.display_postings),
                ("p", ix.prefix_postings, ix.prefix_display),
            ):
                for i, (a, d) in enumerate(zip(alls, disps, strict=True)):
                    if len(a) >= BITMAP_MIN:
                        ix.bitmaps[(kind, i)] = (to_bitmap(a, n), to_bitmap(d, n))
                        ix.bit_counts[(kind, i)] = len(a)
        else:
            ix.bitmaps = bitmaps
            ix.bit_counts = bit_counts if bit_counts is not None else {}
            if ix.bit_counts.keys() != bitmaps.keys():
                raise ValueError("every bitmap needs its count of matches")
        return ix

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
        return cls.from_parts(
            codes,
            vocab,
            [array("i", by_word[w]) for w in vocab],
            [array("i", by_display.get(w, ())) for w in vocab],
        )

    def _range(self, prefix: str) -> tuple[int, int]:
        lo = bisect.bisect_left(self.vocab, prefix)
        hi = bisect.bisect_left(self.vocab, prefix + "\uffff", lo)
        return lo, hi

    def _union(self, lists: Sequence[Postings], lo: int, hi: int) -> set[int]:
        out: set[int] = set()
        for i in range(lo, hi):
            out.update(lists[i])
        return out

    def _word(self, w: str) -> _Word:
        """The concepts having a word starting with ``w``: their count, sorted (all,
        display) ordinals, and the lists' bitmaps when they are big (then the lists
        are not to be read: the packed form leaves them empty)."""
        lo, hi = self._range(w)
        if hi - lo == 1:
            key: tuple[str, int] = ("v", lo)
            a, d = self.postings[lo], self.display_postings[lo]
        elif (i := self.prefixes.get(w)) is not None:
            key = ("p", i)
            a, d = self.prefix_postings[i], self.prefix_display[i]
        elif hi == lo:
            return 0, (), (), None
        else:
            u = array("i", sorted(self._union(self.postings, lo, hi)))
            return len(u), u, array("i", sorted(self._union(self.display_postings, lo, hi))), None
        bm = self.bitmaps.get(key)
        return (len(a), a, d, None) if bm is None else (self.bit_counts[key], a, d, bm)

    def search(self, text: str) -> Matches | BitMatches | None:
        """Concepts matching every word of ``text`` as a word prefix.

        None when ``text`` has no words (no filtering).
        """
        qwords = list(dict.fromkeys(words(text)))
        if not qwords:
            return None
        lists = sorted((self._word(w) for w in qwords), key=lambda x: x[0])
        if len(lists) == 1:
            n, a, d, bm = lists[0]
            return Matches(self.codes, a, d) if bm is None else BitMatches(self.codes, *bm, n)
        if all(bm is not None for _, _, _, bm in lists):
            # every word is common: AND their bitmaps as integers
            a_bits = d_bits = -1
            for _, _, _, bm in lists:
                assert bm is not None
                a_bits &= int.from_bytes(bm[0], "little")
                d_bits &= int.from_bytes(bm[1], "little")
            return BitMatches.of_ints(self.codes, a_bits, d_bits)
        # Start from the rarest word (a list without a bitmap: the rarest is common
        # only when all are); test the others by bitmap (common words) or by binary
        # search in their sorted lists.
        first = lists[0]
        cands = list(first[1]) if first[3] is None else _ordinals(first[3][0])
        for _, all_, _, bm in lists[1:]:
            if bm is not None:
                bits = bm[0]
                cands = [o for o in cands if bits[o >> 3] >> (o & 7) & 1]
            elif len(cands) * 16 < len(all_):
                cands = [o for o in cands if _has(all_, o)]
            else:
                keep = set(cands).intersection(all_)
                cands = [o for o in cands if o in keep]
        display = cands
        for _, _, disp, bm in lists:
            if bm is not None:
                bits = bm[1]
                display = [o for o in display if bits[o >> 3] >> (o & 7) & 1]
            else:
                display = [o for o in display if _has(disp, o)]
        return Matches(self.codes, cands, display)


@dataclass(slots=True)
class BitMatches:
    """Search results as bitmaps: ``all`` and ``display`` (a subset), ``count`` bits set
    in ``all``. Views of the packed file for a one-word query: nothing is copied."""

    codes: list[str]
    all: Bits
    display: Bits
    count: int

    @classmethod
    def of_ints(cls, codes: list[str], all_: int, display: int) -> BitMatches:
        size = (len(codes) + 7) // 8
        return cls(
            codes, all_.to_bytes(size, "little"), display.to_bytes(size, "little"), all_.bit_count()
        )

    def __len__(self) -> int:
        return self.count

    def top(self, n: int | None = None) -> list[str]:
        """The first ``n`` codes best first (all when None)."""
        limit = self.count if n is None else n
        first = _ordinals(self.display, limit)
        if len(first) < limit:
            rest = int.from_bytes(self.all, "little") & ~int.from_bytes(self.display, "little")
            first += _ordinals(rest.to_bytes(len(self.all), "little"), limit - len(first))
        return [self.codes[o] for o in first]


@dataclass(slots=True)
class Matches:
    """The result of a search: best first on demand, without sorting what is not asked for.

    Best first: concepts whose display holds every word come before those
    matched only through a designation (an inclusion term); within each tier,
    shorter displays first. ``all`` and ``display`` are sorted ordinals,
    ``display`` a subset of ``all``.
    """

    codes: list[str]
    all: Postings | set[int]
    display: Postings | set[int]

    def __len__(self) -> int:
        return len(self.all)

    def top(self, n: int | None = None) -> list[str]:
        """The first ``n`` codes best first (all when None)."""
        limit = len(self.all) if n is None else n
        if isinstance(self.all, set):
            # Sets from an intersection: only the page asked for gets sorted.
            disp = set(self.display)
            first = heapq.nsmallest(limit, disp)
            if len(first) < limit:
                first += heapq.nsmallest(limit - len(first), self.all - disp)
            return [self.codes[o] for o in first]
        assert not isinstance(self.display, set)
        ordered = list(self.display[:limit])
        if len(ordered) < limit and len(self.display) < len(self.all):
            for o in self.all:
                if not _has(self.display, o):
                    ordered.append(o)
                    if len(ordered) >= limit:
                        break
        return [self.codes[o] for o in ordered]


# code -> (the words the base index finds the concept by, the words added to it)
AddedWords = dict[str, tuple[frozenset[str], frozenset[str]]]


@dataclass(slots=True)
class Extended:
    """Matches of a base index, and after them concepts found only by added words."""

    found: Matches | BitMatches
    extra: list[str]

    def __len__(self) -> int:
        return len(self.found) + len(self.extra)

    def top(self, n: int | None = None) -> list[str]:
        """The first ``n`` codes (all when None): the base's best first, then the added."""
        first = self.found.top(n)
        if n is None:
            return first + self.extra
        return first + self.extra[: max(n - len(first), 0)]


def search_with_added(
    index: TextIndex, added: AddedWords, text: str
) -> Matches | BitMatches | Extended | None:
    """``index.search(text)`` over concepts some of which have words added (a supplement's
    designations): the index is not rebuilt, the few changed concepts are tested on their own.

    A concept the base index matches already is not repeated; one matched only with its
    added words comes after the base's matches (it matches through a designation, the
    lower tier of the ranking).
    """
    found = index.search(text)
    if found is None or not added:
        return found
    qwords = list(dict.fromkeys(words(text)))
    extra = [
        code
        for code, (base, more) in added.items()
        if not _has_all(qwords, base) and _has_all(qwords, base | more)
    ]
    return Extended(found, extra) if extra else found
