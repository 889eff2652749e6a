"""Text search over the full ICD-10-CM, built in memory and read back from the packed file,
against a brute-force reference that shares no code with the index.

The packed file stores no posting list for a word or prefix that has a bitmap
(those are read through the bitmap), so both forms must answer every kind of
query alike: single words rare and common, prefixes precomputed or merged on
the fly, and combinations of rare and common words.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirterm import packed
from fhirterm.index import CodeSystemIndex
from fhirterm.providers import icd10cm
from fhirterm.search import BITMAP_MIN, TextIndex, words

pytestmark = pytest.mark.full


@pytest.fixture(scope="module")
def built() -> CodeSystemIndex:
    return icd10cm.load(None)


@pytest.fixture(scope="module")
def packed_path(built: CodeSystemIndex, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("packed")) / "icd10cm.packed"
    packed.write(built, path)
    return path


@pytest.fixture(scope="module")
def reread(packed_path: Path) -> CodeSystemIndex:
    return packed.load(packed_path)


def _mapped_kb(path: Path) -> int:
    """Kilobytes of ``path`` mapped into this process (Rss over its mappings)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc only")
def test_reading_a_record_maps_kilobytes_not_megabytes(packed_path: Path) -> None:
    """Linux maps a whole page-cache folio for a fault in a file mapping, and folios are
    as large as the write or readahead that filled them (2 MB here when the file was
    written in one piece): the file is written in small pieces and read at random."""
    before = _mapped_kb(packed_path)
    mm, _header, parts, _starts = packed._open(packed_path)
    try:
        records = parts[1]
        assert records[len(records) // 2] is not None  # one byte of one record
        assert _mapped_kb(packed_path) - before <= 256
    finally:
        del records, parts
        mm.close()


class Reference:
    """Which concepts hold every query word as a word prefix: by scanning every concept's
    words (code, display, designations), ranked as the index promises (display matches
    first, each tier in rank order: shorter displays first, then code)."""

    def __init__(self, ix: CodeSystemIndex) -> None:
        items = sorted(ix.concepts.values(), key=lambda c: (len(c.display or ""), c.code))
        self.codes = [c.code for c in items]
        self.display_words = [set(words(c.code)) | set(words(c.display or "")) for c in items]
        self.all_words = [
            d | {w for des in c.designations for w in words(des.value)}
            for d, c in zip(self.display_words, items, strict=True)
        ]
        self.vocab = sorted(set().union(*self.all_words))

    def expand(self, prefix: str) -> set[str]:
        return {w for w in self.vocab if w.startswith(prefix)}

    def search(self, text: str) -> tuple[int, list[str]]:
        """(how many match, the codes best first)."""
        qs = [self.expand(q) for q in dict.fromkeys(words(text))]
        first, rest = [], []
        for o, (aw, dw) in enumerate(zip(self.all_words, self.display_words, strict=True)):
            if all(aw & q for q in qs):
                (first if all(dw & q for q in qs) else rest).append(self.codes[o])
        return len(first) + len(rest), first + rest


def _queries(text: TextIndex) -> Iterator[str]:
    """Every kind of query, drawn with a fixed seed from the index's own vocabulary."""
    rng = random.Random(20261206)
    sizes = [len(p) for p in text.postings]
    common = [w for w, n in zip(text.vocab, sizes, strict=True) if n >= BITMAP_MIN]
    middling = [w for w, n in zip(text.vocab, sizes, strict=True) if 50 <= n < BITMAP_MIN]
    rare = [w for w, n in zip(text.vocab, sizes, strict=True) if n < 50]
    assert len(common) >= 10 and middling and rare
    precomputed = [p for p in text.prefixes if p in text.bitmaps or len(p) > 1]
    yield from rng.sample(common, 4)  # one word with a bitmap
    yield from rng.sample(middling, 3)
    yield from rng.sample(rare, 3)
    yield from rng.sample(precomputed, 4)  # a prefix of several words
    yield from (w[:3] for w in rng.sample(rare, 3))  # short prefixes, merged or precomputed
    for _ in range(4):
        yield " ".join(rng.sample(common, 2))  # all common: bitmaps ANDed
    for _ in range(4):
        yield f"{rng.choice(common)} {rng.choice(middling)}"  # a list tested against bitmaps
    for _ in range(3):
        yield f"{rng.choice(rare)} {rng.choice(common)} {rng.choice(middling)}"
    yield "fracture femur"
    yield "diab mell"
    yield "zzzznotaword"


def test_text_search_built_and_packed_agree_with_a_brute_force_scan(
    built: CodeSystemIndex, reread: CodeSystemIndex
) -> None:
    ref = Reference(built)
    text_built, text_packed = built.text_index(), reread.text_index()
    assert text_packed.bitmaps.keys() == text_built.bitmaps.keys() != set()
    # the packed file holds no posting list for a key with a bitmap
    key = next(iter(text_packed.bitmaps))
    lists = text_packed.postings if key[0] == "v" else text_packed.prefix_postings
    assert len(lists[key[1]]) == 0
    checked: list[str] = []
    for q in _queries(text_built):
        n, best = ref.search(q)
        for label, text in (("built", text_built), ("packed", text_packed)):
            m: Any = text.search(q)
            assert m is not None, q
            assert len(m) == n, (label, q)
            assert m.top(25) == best[:25], (label, q)
            if n <= 3000:
                assert m.top() == best, (label, q)
        checked.append(q)
    assert len(checked) >= 30
