"""Concepts packed into one buffer and decoded on access; the on-disk form of a parsed release.

A large code system held as Python objects costs ~150 MB per process (about
half a kilobyte of objects per concept) and copy-on-write sharing between
worker processes decays as reference counts touch the pages. Packed, each
concept is a marshal record in one buffer; the cache file that holds the
buffer is memory-mapped, so every worker shares the same page-cache pages and
a process keeps only its code -> position map. Decoding one concept costs a
few microseconds.

File layout: 8-byte magic, 8-byte header length, the header (pickle: code
system metadata, groupings, the code list, the text index's vocabulary and
rank order, the bitmaps' keys and counts, section offsets), then raw sections:
record offsets (uint64), records, the text index's posting lists (int32; empty
for a list that has a bitmap, which is read through the bitmap), and the
columns read without decoding a record (displays, parents, flags, children;
each with its offsets), the text index ordinal of each code (int32, source order),
the property index (for each value of a property with few distinct values, the
concepts having it: a bitmap over the text index ordinals, or their sorted list
when shorter), the end of each code's subtree (int32, source order; empty unless the
codes are the hierarchy's depth-first order, each once), an 8-byte digest of each
record (``digest``), then a 16-byte trailer: the file's length and the CRC-32 of
everything before the trailer. ``load`` checks both (~35 ms for
ICD-10-CM's 51 MB): a truncated, damaged or foreign file is refused with a
message, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import marshal
import mmap
import os
import pickle
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, overload

from .index import CodeSystemIndex, prop_values
from .memo import Memo
from .model import Concept, Designation, Property
from .search import Bits, TextIndex, to_bitmap

RECENT = 4096  # decoded concepts kept per process, all its packed code systems together
# Popular concepts (the short displays a text search ranks first, codes looked up
# often) are decoded once; concepts are read-only after load, so sharing the object is
# safe. One memo for every packed code system of the process, keyed by (store, code): a
# process serves three ICD-10-CM releases, and a memo each kept up to three times as
# many decoded concepts (~2.5 MB per release and worker after the benchmark).
_RECENT: Memo[tuple[int, str], Concept] = Memo(RECENT)
_STORES = itertools.count()
_MISSING: Any = object()

# One int object per position, shared by every release's code -> position map
# (a process holds three releases of ~98,000 codes; the ints would otherwise be
# made three times, and every worker copies the pages their reference counts touch).
_POSITIONS: list[int] = []

MAGIC = b"FTPACK12"
# A packed file is written in pieces of at most this size (the page cache keeps it in
# pieces no larger, so a page fault maps little of it): see _open.
WRITE_CHUNK = 64 * 1024
TRAILER = struct.Struct("<QQ")  # file length before the trailer, CRC-32


def _enc_prop(p: Property) -> tuple[Any, ...]:
    return (p.code, p.type, p.value, p.description, tuple(_enc_prop(s) for s in p.sub))


def _dec_prop(t: tuple[Any, ...]) -> Property:
    return Property(t[0], t[1], t[2], t[3], tuple(_dec_prop(s) for s in t[4]) if t[4] else ())


SHARED_MIN = 32  # a property value found this often is stored once, in the header

# The property index: a property with at most this many distinct values is indexed (ICD-10-CM:
# billable, chapter, block, notSelectable...; not the inclusion terms, each nearly unique).
PROPERTY_INDEX_MAX_VALUES = 2048
# Properties indexed for every concept, whether it states them or not (``prop_values``
# answers them from the concept's flags when it does not).
ALWAYS_INDEXED = ("notSelectable", "inactive")
# Answered from the concept itself (``prop_values``), never from the property index.
NOT_INDEXED = frozenset(("code", "display", "parent", "child"))


def _subtree_ends(ix: CodeSystemIndex, codes: list[str]) -> array[int]:
    """For each source position, the position after its last descendant, when ``codes`` are
    the hierarchy walked depth first from the roots (each concept once: a tree, as
    ICD-10-CM's tabular order is); else empty. A code's subtree is then a slice."""
    pos = {c: i for i, c in enumerate(codes)}
    ends = array("i", bytes(4 * len(codes)))
    seen: set[str] = set()
    order: list[str] = []
    stack: list[tuple[str, bool]] = [(r, False) for r in reversed(ix.roots)]
    while stack:
        code, closing = stack.pop()
        if closing:
            ends[pos[code]] = len(order)
            continue
        if code in seen or code not in pos:
            return array("i")
        seen.add(code)
        order.append(code)
        stack.append((code, True))
        stack.extend((k, False) for k in reversed(ix.concepts[code].children))
    return ends if order == codes else array("i")


def _property_index(
    ix: CodeSystemIndex, codes: list[str], rank: dict[str, int]
) -> tuple[dict[str, dict[str, tuple[str, int, int]]], list[str], bytes]:
    """The property index of ``ix``: (name -> value -> (kind "b" bitmap or "l" int32 list,
    start, length) in the returned bytes; the names with too many values to index)."""
    by_name: dict[str, dict[str, list[int]]] = {}
    for code in codes:
        c = ix.concepts[code]
        r = rank[code]
        for name in dict.fromkeys([*ALWAYS_INDEXED, *(p.code for p in c.properties)]):
            if name in NOT_INDEXED:
                continue
            values = by_name.setdefault(name, {})
            for v in dict.fromkeys(prop_values(c, name)):
                values.setdefault(v, []).append(r)
    n = len(codes)
    nbytes = (n + 7) // 8
    table: dict[str, dict[str, tuple[str, int, int]]] = {}
    unindexed = sorted(k for k, v in by_name.items() if len(v) > PROPERTY_INDEX_MAX_VALUES)
    raw = bytearray()
    for name, values in sorted(by_name.items()):
        if name in unindexed:
            continue
        entries = table[name] = {}
        for value, ordinals in sorted(values.items()):
            ordinals.sort()
            if 4 * len(ordinals) >= nbytes:
                data, kind = to_bitmap(ordinals, n), "b"
            else:
                data, kind = array("i", ordinals).tobytes(), "l"
            raw += b"\0" * (-len(raw) % 4)  # int32 lists aligned, to be cast in place
            entries[value] = (kind, len(raw), len(data))
            raw += data
    return table, unindexed, bytes(raw)


def _shared_key(p: Property) -> Property | None:
    try:
        hash(p)
    except TypeError:  # a Coding value (a dict) cannot be shared
        return None
    return p


def _fields(c: Concept, table: dict[Property, int]) -> tuple[Any, ...]:
    return (
        c.display,
        c.definition,
        tuple((d.value, d.language, d.use, d.extensions) for d in c.designations),
        tuple(table[p] if _shared_key(p) in table else _enc_prop(p) for p in c.properties),
        c.parents,
        c.children,
        c.abstract,
        c.inactive,
        c.status,
        c.extensions,
    )


def encode(c: Concept, shared: dict[Property, int] | None = None) -> bytes:
    """One record; properties found in ``shared`` are written as their index there."""
    return marshal.dumps(_fields(c, shared or {}))


def digest(c: Concept) -> bytes:
    """8 bytes that differ between concepts of one code whose records decode differently:
    a hash of the record as written without the file's table of shared values, in
    marshal format 2 (which, unlike later ones, writes equal values alike whatever
    objects hold them)."""
    return hashlib.blake2b(marshal.dumps(_fields(c, {}), 2), digest_size=8).digest()


def decode(code: str, raw: bytes | memoryview, shared: list[Property] | None = None) -> Concept:
    """The Concept of one record (``encode``'s inverse); ``shared`` the header's table
    of property values that records refer to by index (an int in place of a property)."""
    t = marshal.loads(raw)
    # list comprehensions, not generators, and a test of the empty case first: a
    # $lookup of a random code decodes its record, and this is ~30 % of the decoding
    # (5.5 -> 3.9 us a record, measured on 20,000 ICD-10-CM records)
    ds, ps = t[2], t[3]
    table = shared or []
    return Concept(
        code,
        t[0],
        t[1],
        tuple([Designation(*d) for d in ds]) if ds else (),
        tuple([table[p] if p.__class__ is int else _dec_prop(p) for p in ps]) if ps else (),
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        t[9],
    )


class PackedConcepts(MutableMapping[str, Concept]):
    """code -> Concept over packed records, in source order (the packed ``ConceptStore``).

    Assigning a concept (the editorial layer does, at load) keeps it as an
    object that shadows its record; deleting is not supported.
    """

    def __init__(
        self,
        codes: list[str],
        buf: mmap.mmap | bytes,
        offsets: tuple[memoryview, int],
        display_offsets: tuple[memoryview, int],
        parent_offsets: tuple[memoryview, int],
        child_offsets: tuple[memoryview, int],
        flags: memoryview | bytes,
        ranks: memoryview | None = None,
    ) -> None:
        """``buf`` holds the sections; each ``(offsets, base)`` gives a section's item
        boundaries (uint64, relative) and where the section starts in ``buf``.

        Items are sliced from ``buf`` itself: slicing an mmap or bytes gives bytes in
        one copy, where a memoryview slice needs a second one to decode.
        """
        self._codes = codes
        if len(_POSITIONS) < len(codes):
            _POSITIONS.extend(range(len(_POSITIONS), len(codes)))
        self._pos = dict(zip(codes, _POSITIONS, strict=False))  # _POSITIONS may be longer
        self._buf = buf
        self._offsets, self._rbase = offsets
        self._doff, self._dbase = display_offsets
        # parents and children in separate columns: the walks up (is-a, $subsumes)
        # decode only the parents
        self._poff, self._pbase = parent_offsets
        self._coff, self._cbase = child_offsets
        self._flags = flags
        self._extra: dict[str, Concept] = {}
        self._serial = next(_STORES)  # this store's part of the key in _RECENT
        self._shared: list[Property] = []  # property values records refer to by index
        self._ranks = ranks  # source position -> text index ordinal (int32)
        # the property index: name -> value -> (kind, start, length) in _prop_raw
        self._props: dict[str, dict[str, tuple[str, int, int]]] = {}
        self._unindexed: frozenset[str] = frozenset()
        self._prop_raw: memoryview | bytes = b""
        # source position -> the position after its subtree (None: not in hierarchy order)
        self._ends: memoryview | None = None
        self._digests: memoryview | None = None  # per position: uint64, see ``digest``
        self._base: PackedConcepts | None = None  # see share_records

    def indexed(self) -> bool:
        return self._ranks is not None

    def ranks(self, codes: Iterable[str]) -> list[int] | None:
        """The text index ordinal of each code, -1 for a code the store does not hold."""
        r = self._ranks
        if r is None:
            return None
        get = self._pos.get
        return [-1 if (i := get(c)) is None else r[i] for c in codes]

    def property_bits(self, name: str, values: Iterable[str] | None) -> int | None:
        """The concepts (a bitmap over text index ordinals, as an int) whose values of
        ``name`` (``prop_values``) hold one of ``values``, any when None, as written; None
        when ``name`` is not indexed. A name no concept had when written: 0."""
        if name in NOT_INDEXED or name in self._unindexed or self._ranks is None:
            return None
        table = self._props.get(name, {})
        raw, n = self._prop_raw, len(self._codes)
        out = 0
        for v in table if values is None else dict.fromkeys(values):
            entry = table.get(v)
            if entry is None:
                continue
            kind, start, size = entry
            data = raw[start : start + size]
            if kind == "b":
                out |= int.from_bytes(data, "little")
            else:
                lst = data.cast("i") if isinstance(data, memoryview) else array("i", data)
                out |= int.from_bytes(to_bitmap(lst, n), "little")
        return out

    def subtree_ranks(self, code: str) -> Sequence[int] | None:
        """The text index ordinals of ``code`` and its descendants, ``code``'s first: a
        slice of the rank column. None when the store's codes are not in hierarchy order
        or it does not hold ``code``."""
        i = self._pos.get(code)
        if self._ends is None or self._ranks is None or i is None:
            return None
        return self._ranks[i : self._ends[i]]

    def overridden(self) -> Iterable[str]:
        """The codes whose concepts were set after load (shadowing their records)."""
        return self._extra.keys()

    # Columns read without decoding the whole record: the hierarchy walks and
    # the displays of parents, children and siblings need only these.

    def rows(self, codes: Iterable[str], selectable: bool = False) -> list[tuple[str, str | None]]:
        """(code, display) of each known code in ``codes``, in order; with
        ``selectable``, abstract codes are left out (before their display is read).

        One call for the parents, children or siblings a $lookup lists: the
        columns are read in one loop instead of three method calls per code.
        """
        out: list[tuple[str, str | None]] = []
        pos, extra, flags = self._pos, self._extra, self._flags
        doff, buf, b = self._doff, self._buf, self._dbase
        for code in codes:
            i = pos.get(code)
            if i is None:
                continue
            # concepts set after load shadow their records; most stores have none
            c = extra.get(code) if extra else None
            f = flags[i]
            if c is not None:
                if not (selectable and c.abstract):
                    out.append((code, c.display))
            elif selectable and f & 1:
                continue
            elif f & 4:
                out.append((code, None))
            else:
                out.append((code, buf[b + doff[i] : b + doff[i + 1]].decode()))
        return out

    def is_abstract(self, code: str) -> bool:
        i = self._pos.get(code)
        return i is not None and bool(self._flags[i] & 1)

    def is_inactive(self, code: str) -> bool:
        i = self._pos.get(code)
        return i is not None and bool(self._flags[i] & 2)

    def parents_of(self, code: str) -> tuple[str, ...]:
        """The parents of a code; () for a code the system does not hold."""
        return self._codes_in(code, parents=True)

    def children_of(self, code: str) -> tuple[str, ...]:
        """The children of a code; () for a code the system does not hold."""
        return self._codes_in(code, parents=False)

    def _codes_in(self, code: str, parents: bool) -> tuple[str, ...]:
        i = self._pos.get(code)
        if i is None:
            return ()
        s, i = self._owner(code, i) if self._base is not None else (self, i)
        base, off = (s._pbase, s._poff) if parents else (s._cbase, s._coff)
        t: tuple[str, ...] = marshal.loads(s._buf[base + off[i] : base + off[i + 1]])
        return t

    def has_ancestor(self, ancestor: str, parents: Iterable[str]) -> bool:
        """Is ``ancestor`` one of ``parents`` or above them? The walk up reads the parents
        column in one loop and stops at the first hit."""
        todo = list(parents)
        if ancestor in todo:
            return True
        pos, off, buf, b, loads = self._pos, self._poff, self._buf, self._pbase, marshal.loads
        seen: set[str] = set()
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            i = pos.get(p)
            if i is None:
                continue
            up = loads(buf[b + off[i] : b + off[i + 1]])
            if ancestor in up:
                return True
            todo.extend(up)
        return False

    def __getitem__(self, code: str) -> Concept:
        c = self.get(code, _MISSING)
        if c is _MISSING:
            raise KeyError(code)
        return c  # type: ignore[no-any-return]

    def get(self, code: str, default: Any = None) -> Any:
        c = self._extra.get(code) or _RECENT.get((self._serial, code))
        if c is not None:
            return c
        i = self._pos.get(code)
        if i is None:
            return default
        if self._base is None:
            return self._decoded(code, i)
        s, i = self._owner(code, i)
        # from the store whose record it is, under its key in the memo: one decoded
        # object for the releases that share it (the base's own ``get`` looks at its
        # set concepts first)
        return s._decoded(code, i)

    def share_records(self, base: PackedConcepts) -> bool:
        """Read the records that ``base`` holds alike (equal digests) from ``base``;
        False (and nothing changes) when either file has no digests. Concepts set on
        either store after load (``__setitem__``) are each store's own, as before."""
        if base is self or self._digests is None or base._digests is None:
            return False
        self._base = base
        return True

    def _owner(self, code: str, i: int) -> tuple[PackedConcepts, int]:
        """The store whose file holds the record of ``code`` (at position ``i`` here), and
        the position there: the base's when its record is the same."""
        base = self._base
        if base is not None and self._digests is not None and base._digests is not None:
            j = base._pos.get(code)
            if j is not None and base._digests[j] == self._digests[i]:
                return base, j
        return self, i

    def _decoded(self, code: str, i: int) -> Concept:
        """The concept of the record at position ``i`` of this file, through the memo."""
        key = (self._serial, code)
        c = _RECENT.get(key)
        if c is None:
            b = self._rbase
            c = _RECENT.put(
                key,
                decode(
                    code, self._buf[b + self._offsets[i] : b + self._offsets[i + 1]], self._shared
                ),
            )
        return c

    def __contains__(self, code: object) -> bool:
        return code in self._pos

    def __setitem__(self, code: str, concept: Concept) -> None:
        if code not in self._pos:
            raise KeyError(f"{code}: packed concepts take no new codes")
        self._extra[code] = concept

    def __delitem__(self, code: str) -> None:
        raise TypeError("packed concepts cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


def write(ix: CodeSystemIndex, path: Path) -> None:
    """Write ``ix`` (with its text index) in packed form to ``path``."""
    codes = list(ix.concepts)
    # Values repeated across many concepts (billable, chapter and block with
    # their titles, notSelectable) are stored once: a smaller file touches fewer
    # pages, and decoding shares the objects.
    counts: dict[Property, int] = {}
    for code in codes:
        for prop in ix.concepts[code].properties:
            if _shared_key(prop) is not None:
                counts[prop] = counts.get(prop, 0) + 1
    shared_list = [p for p, n in counts.items() if n >= SHARED_MIN]
    shared = {p: i for i, p in enumerate(shared_list)}
    offsets, doff = array("Q", [0]), array("Q", [0])
    poff, coff = array("Q", [0]), array("Q", [0])
    records, displays, flags = bytearray(), bytearray(), bytearray()
    parents, children, digests = bytearray(), bytearray(), bytearray()
    for code in codes:
        c = ix.concepts[code]
        records += encode(c, shared)
        digests += digest(c)
        offsets.append(len(records))
        displays += (c.display or "").encode()
        doff.append(len(displays))
        parents += marshal.dumps(c.parents)
        poff.append(len(parents))
        children += marshal.dumps(c.children)
        coff.append(len(children))
        flags.append(
            (1 if c.abstract else 0) | (2 if c.inactive else 0) | (4 if c.display is None else 0)
        )
    text = ix.text_index()
    postings = array("i")
    post_off = array("Q", [0])
    for kind, lists in (
        ("v", text.postings),
        ("v", text.display_postings),
        ("p", text.prefix_postings),
        ("p", text.prefix_display),
    ):
        for i, p in enumerate(lists):
            # a list with a bitmap is read through the bitmap only: not stored
            if (kind, i) not in text.bitmaps:
                postings.extend(p)
            post_off.append(len(postings))
    rank = {code: i for i, code in enumerate(text.codes)}
    ranks = array("i", [rank[code] for code in codes])
    prop_table, unindexed, prop_raw = _property_index(ix, codes, rank)
    keys = sorted(text.bitmaps)
    bitmaps = b"".join(bytes(text.bitmaps[k][0]) + bytes(text.bitmaps[k][1]) for k in keys)
    sections = [
        offsets.tobytes(),
        bytes(records),
        post_off.tobytes(),
        postings.tobytes(),
        doff.tobytes(),
        bytes(displays),
        poff.tobytes(),
        bytes(parents),
        bytes(flags),
        bitmaps,
        coff.tobytes(),
        bytes(children),
        ranks.tobytes(),
        prop_raw,
        _subtree_ends(ix, codes).tobytes(),
        bytes(digests),
    ]
    header = {
        "info": ix.info,
        "groupings": ix.groupings,
        "roots": ix.roots,
        "codes": codes,
        "vocab": text.vocab,
        "rank_codes": text.codes,
        "prefixes": list(text.prefixes),
        "shared_properties": shared_list,
        "bitmap_keys": keys,
        "bitmap_counts": [text.bit_counts[k] for k in keys],
        "property_index": prop_table,
        "property_unindexed": unindexed,
        "sizes": [len(s) for s in sections],
    }
    head = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    pad = (-len(head) - 16) % 8
    start = MAGIC + struct.pack("<Q", len(head) + pad) + head + b"\0" * pad
    crc = length = 0
    with path.open("wb", buffering=0) as fh:
        for part in (start, *sections):
            view = memoryview(part)
            # small writes: the page cache keeps a file in pieces of the size it was
            # written in, and a process that maps the file is given a whole piece for
            # any byte it reads (see _open)
            while view:
                view = view[fh.write(view[:WRITE_CHUNK]) :]
            crc, length = zlib.crc32(part, crc), length + len(part)
        fh.write(TRAILER.pack(length, crc))


def _bitmaps(
    keys: list[tuple[str, int]], raw: memoryview, nbytes: int
) -> dict[tuple[str, int], tuple[Bits, Bits]]:
    """key -> (all, display) bitmap views into the packed file."""
    out: dict[tuple[str, int], tuple[Bits, Bits]] = {}
    for i, k in enumerate(keys):
        base = 2 * i * nbytes
        out[(k[0], k[1])] = (raw[base : base + nbytes], raw[base + nbytes : base + 2 * nbytes])
    return out


class Damaged(ValueError):
    """A file that is not a whole packed file of this format: the message says why."""


def _file_crc(fh: BinaryIO, length: int) -> int:
    """CRC-32 of the first ``length`` bytes of the open file, read through the file.

    Not through a mapping: reading a mapping makes every page resident in this process,
    and forked workers inherit them, so the whole file (three releases: ~150 MB) counted
    in the server's PSS before any request came. Read this way the pages stay in the
    page cache only, and are mapped on use."""
    fh.seek(0)
    got = 0
    while length > 0:
        chunk = fh.read(min(length, 1 << 20))
        if not chunk:
            break
        got, length = zlib.crc32(chunk, got), length - len(chunk)
    return got


def check(mm: mmap.mmap | bytes, fh: BinaryIO | None = None) -> None:
    """Raise Damaged unless ``mm`` is a whole packed file of this format (magic,
    length and CRC-32 of the trailer). With ``fh``, the open file ``mm`` maps, the
    CRC-32 is read through the file rather than the mapping (``_file_crc``)."""
    if len(mm) < 16 + TRAILER.size:
        raise Damaged(f"{len(mm)} bytes: too short to be a packed file")
    if mm[:8] != MAGIC:
        found = bytes(mm[:8])
        kind = "another format version" if found.startswith(b"FTPACK") else "not a packed file"
        raise Damaged(f"starts with {found!r}, expected {MAGIC!r} ({kind})")
    length, crc = TRAILER.unpack(mm[-TRAILER.size :])
    if length != len(mm) - TRAILER.size:
        raise Damaged(
            f"{len(mm)} bytes, but its trailer records {length + TRAILER.size} "
            "(truncated, or data written past its end)"
        )
    if fh is not None:
        got = _file_crc(fh, length)
    else:
        body = memoryview(mm)[:length]
        try:
            got = zlib.crc32(body)
        finally:
            body.release()
    if got != crc:
        raise Damaged("its CRC-32 does not match its content (a damaged file)")


def _open(
    path: Path, verify: bool = True
) -> tuple[mmap.mmap, dict[str, Any], list[memoryview], list[int]]:
    """The mapped file, its header and its sections (with their offsets in the file);
    Damaged (a ValueError) with the reason when it is not a whole packed file
    (``verify=False`` skips the CRC-32, for a file checked when it was first loaded)."""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            raise Damaged("the file is empty")
        # A process that reads a byte of a mapped file has the whole page-cache folio
        # holding it mapped, and counted in its memory: Linux makes folios as large
        # as the write or the readahead that filled them (up to 2 MB, and readahead is
        # often megabytes), so one record looked up in an earlier release mapped 2 MB
        # of it. Random access (no readahead) on this descriptor and on the map keeps
        # the pages this process reads (the checksum below, page faults) in 4 KB
        # folios, and write() writes the file in small pieces for the same reason;
        # a fault then maps the 64 KB around the page it needs, not megabytes.
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            mm.madvise(mmap.MADV_RANDOM)
        if verify:
            check(mm, fh)
        if not verify and mm[:8] != MAGIC:
            raise Damaged(f"{path} is not a packed fhirterm file of this version")
        (hlen,) = struct.unpack("<Q", mm[8:16])
        # The header is read through the file, not the map: pages read through the
        # map stay mapped, counted in this process's memory for as long as it runs.
        fh.seek(16)
        header: dict[str, Any] = pickle.loads(fh.read(hlen))
    view = memoryview(mm)
    pos = 16 + hlen
    parts, starts = [], []
    for size in header["sizes"]:
        parts.append(view[pos : pos + size])
        starts.append(pos)
        pos += size
    return mm, header, parts, starts


class _Lists(Sequence[memoryview]):
    """Posting lists ``first``..``first + count - 1`` of the file, each sliced from
    the memory map when asked for: tens of thousands of slice objects held by the
    master would be copied into every worker as their reference counts change."""

    __slots__ = ("_count", "_first", "_off", "_postings")

    def __init__(self, off: memoryview, postings: memoryview, first: int, count: int) -> None:
        self._off, self._postings, self._first, self._count = off, postings, first, count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> memoryview: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[memoryview]: ...
    def __getitem__(self, i: int | slice) -> memoryview | Sequence[memoryview]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if not 0 <= i < self._count:
            if not -self._count <= i < 0:
                raise IndexError(i)
            i += self._count
        j = self._first + i
        return self._postings[self._off[j] : self._off[j + 1]]


def _text(header: dict[str, Any], parts: list[memoryview]) -> TextIndex:
    post_off = parts[2].cast("Q")
    postings = parts[3].cast("i")
    n, m = len(header["vocab"]), len(header["prefixes"])
    return TextIndex.from_parts(
        header["rank_codes"],
        header["vocab"],
        _Lists(post_off, postings, 0, n),
        _Lists(post_off, postings, n, n),
        header["prefixes"],
        _Lists(post_off, postings, 2 * n, m),
        _Lists(post_off, postings, 2 * n + m, m),
        _bitmaps(header["bitmap_keys"], parts[9], (len(header["rank_codes"]) + 7) // 8),
        {
            (k[0], k[1]): n
            for k, n in zip(header["bitmap_keys"], header["bitmap_counts"], strict=True)
        },
    )


def load_text(path: Path) -> TextIndex:
    """Only the text index of a packed file (for ``load(..., lazy_text=True)``)."""
    _mm, header, parts, _starts = _open(path, verify=False)  # checked by load()
    return _text(header, parts)


def load(
    path: Path, lazy_text: bool = False, codes: dict[str, str] | None = None
) -> CodeSystemIndex:
    """Map a packed file; Damaged (a ValueError) with the reason when it is not a whole one.

    With ``lazy_text`` the text index is read from the file on first use, in the process
    that uses it: a release that is rarely searched (an earlier one, chosen by date)
    then costs the server's master no word lists (~12 MB for ICD-10-CM).

    ``codes`` (code -> its string, filled as files load) makes releases loaded with
    the same dict share one string object per code: ~5 MB less per release of
    ICD-10-CM in the master, and in every worker that touches them.
    """
    mm, header, parts, starts = _open(path)
    if codes is not None:
        header["codes"] = [codes.setdefault(c, c) for c in header["codes"]]
        if not lazy_text:  # a lazy text index reads its own header when first used
            header["rank_codes"] = [codes.setdefault(c, c) for c in header["rank_codes"]]
    concepts = PackedConcepts(
        header["codes"],
        mm,
        (parts[0].cast("Q"), starts[1]),
        (parts[4].cast("Q"), starts[5]),
        (parts[6].cast("Q"), starts[7]),
        (parts[10].cast("Q"), starts[11]),
        parts[8],
        parts[12].cast("i"),
    )
    concepts._shared = header["shared_properties"]
    concepts._props = header["property_index"]
    concepts._unindexed = frozenset(header["property_unindexed"])
    concepts._prop_raw = parts[13]
    if len(parts[14]):
        concepts._ends = parts[14].cast("i")
    concepts._digests = parts[15].cast("Q")
    ix = CodeSystemIndex(
        info=header["info"], concepts=concepts, roots=header["roots"], groupings=header["groupings"]
    )
    if lazy_text:
        ix.text_loader = functools.partial(load_text, path)
    else:
        ix._text = _text(header, parts)
    return ix
