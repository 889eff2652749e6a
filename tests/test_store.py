"""The concept stores behind ``CodeSystemIndex``: in memory (``ConceptDict``), packed
(``PackedConcepts``) and supplemented (``Supplemented`` over either) answer every question
of the ``ConceptStore`` protocol alike, for every code of the small tabular release; and
the memo all bounded memos share (``fhirterm.memo.Memo``) keeps to its size and its rule.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from fhirterm import packed
from fhirterm.index import CodeSystemIndex, ConceptDict, ConceptStore
from fhirterm.memo import Memo, memo_in
from fhirterm.model import CodeSystemInfo, Concept, Designation
from fhirterm.operations.supplements import Supplemented, _merge
from fhirterm.providers import icd10cm

from .conftest import SMALL_XML

# a code no store holds, with a parent and a child asked about too
UNKNOWN = "ZZZ.99"


@pytest.fixture(scope="module")
def memory() -> CodeSystemIndex:
    return icd10cm.load(SMALL_XML)


@pytest.fixture(scope="module")
def stores(
    memory: CodeSystemIndex, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ConceptStore]:
    path = Path(tmp_path_factory.mktemp("store")) / "small.packed"
    packed.write(memory, path)
    on_disk = packed.load(path)
    # a supplement that gives the first concept one more designation
    first = next(iter(memory.concepts))
    supp = CodeSystemIndex(
        info=CodeSystemInfo(url="urn:supp", version="1", id="supp", content="supplement"),
        concepts=ConceptDict({first: Concept(code=first, designations=(Designation("x", "nl"),))}),
    )
    return {
        "memory": memory.concepts,
        "packed": on_disk.concepts,
        "supplemented memory": _merge(memory, supp).concepts,
        "supplemented packed": _merge(on_disk, supp).concepts,
    }


def test_the_stores_are_what_they_say(stores: dict[str, ConceptStore]) -> None:
    assert isinstance(stores["memory"], ConceptDict)
    assert isinstance(stores["packed"], packed.PackedConcepts)
    assert isinstance(stores["supplemented packed"], Supplemented)


def test_every_store_answers_alike(stores: dict[str, ConceptStore]) -> None:
    ref = stores["memory"]
    codes = list(ref)
    assert len(codes) > 20
    asked = [*codes, UNKNOWN]
    rnd = random.Random(7)
    pairs = [(rnd.choice(codes), rnd.choice(codes)) for _ in range(500)]
    for name, store in stores.items():
        assert list(store) == codes, name
        assert len(store) == len(codes), name
        assert UNKNOWN not in store and store.get(UNKNOWN) is None, name
        for code in asked:
            assert store.is_abstract(code) == ref.is_abstract(code), (name, code)
            assert store.is_inactive(code) == ref.is_inactive(code), (name, code)
            assert store.parents_of(code) == ref.parents_of(code), (name, code)
            assert store.children_of(code) == ref.children_of(code), (name, code)
        for selectable in (False, True):
            assert store.rows(asked, selectable) == ref.rows(asked, selectable), name
        for a, b in pairs:
            ps = ref.parents_of(b)
            assert store.has_ancestor(a, ps) == ref.has_ancestor(a, ps), (name, a, b)
        for code in codes[:50]:
            c, r = store.get(code), ref[code]
            assert c is not None and c.code == r.code and c.display == r.display, name


def test_rows_leave_out_unknown_and_abstract_codes(memory: CodeSystemIndex) -> None:
    store = memory.concepts
    header = next(c for c in store if store.is_abstract(c))
    leaf = next(c for c in store if not store.is_abstract(c))
    rows = store.rows([header, UNKNOWN, leaf])
    assert [r[0] for r in rows] == [header, leaf]
    assert [r[0] for r in store.rows([header, UNKNOWN, leaf], selectable=True)] == [leaf]


def test_has_ancestor_walks_up_and_not_down(memory: CodeSystemIndex) -> None:
    store = memory.concepts
    child = next(c for c in store if len(list(memory.ancestors(c))) > 1)
    top = list(memory.ancestors(child))[-1]
    assert store.has_ancestor(top, store.parents_of(child))
    assert not store.has_ancestor(child, store.parents_of(top))
    assert not store.has_ancestor(UNKNOWN, store.parents_of(child))


def test_memo_is_emptied_when_full() -> None:
    m: Memo[int, str] = Memo(3)
    for i in range(3):
        assert m.put(i, str(i)) == str(i)
    assert dict(m) == {0: "0", 1: "1", 2: "2"}
    m.put(1, "one")  # a key it holds is replaced, nothing dropped
    assert len(m) == 3 and m.get(1) == "one"
    m.put(3, "3")  # full: emptied, then the new entry
    assert dict(m) == {3: "3"}
    for i in range(100):
        m.put(i, "")
        assert 0 < len(m) <= 3


def test_memo_in_makes_one_memo_per_name() -> None:
    derived: dict[str, object] = {}
    a = memo_in(derived, "a", 2)
    assert memo_in(derived, "a", 2) is a and a.size == 2
    assert memo_in(derived, "b", 5) is not a
    with pytest.raises(ValueError, match="at least one"):
        Memo(0)


def test_an_earlier_release_reads_its_unchanged_records_from_the_base(
    memory: CodeSystemIndex, tmp_path: Path
) -> None:
    """``share_records``: a concept whose record is the same in both files is read from the
    base's file; one that differs in any field (display, children, a property) is read
    from its own; concepts set after load stay each store's own."""
    codes = list(memory.concepts)
    retitled, childless, extra_prop = codes[3], codes[0], codes[5]
    old_concepts = {c: memory.concepts[c] for c in codes}
    old_concepts[retitled] = replace(old_concepts[retitled], display="an earlier title")
    old_concepts[childless] = replace(old_concepts[childless], children=())
    first = old_concepts[extra_prop]
    old_concepts[extra_prop] = replace(first, properties=(*first.properties, first.properties[0]))
    old_ix = CodeSystemIndex(
        info=memory.info, concepts=ConceptDict(old_concepts), roots=memory.roots
    )
    packed.write(memory, tmp_path / "new.packed")
    packed.write(old_ix, tmp_path / "old.packed")
    new = packed.load(tmp_path / "new.packed").concepts
    old = packed.load(tmp_path / "old.packed").concepts
    assert isinstance(new, packed.PackedConcepts) and isinstance(old, packed.PackedConcepts)
    assert old.share_records(new) and not new.share_records(new)
    changed = {retitled, childless, extra_prop}
    for code in codes:
        owner, _ = old._owner(code, old._pos[code])
        assert (owner is old) == (code in changed), code
        assert old[code] == old_concepts[code]
        assert old.children_of(code) == old_concepts[code].children
        assert old.parents_of(code) == old_concepts[code].parents
    # a concept set on the base after load is the base's only, and the reverse
    new[codes[7]] = replace(new[codes[7]], display="set on the base")
    old[codes[8]] = replace(old[codes[8]], display="set on the earlier release")
    assert old[codes[7]] == old_concepts[codes[7]]
    assert new[codes[8]] == memory.concepts[codes[8]]
    assert old[codes[8]].display == "set on the earlier release"


def test_a_file_without_digests_shares_nothing(memory: CodeSystemIndex, tmp_path: Path) -> None:
    packed.write(memory, tmp_path / "a.packed")
    a = packed.load(tmp_path / "a.packed").concepts
    b = packed.load(tmp_path / "a.packed").concepts
    assert isinstance(a, packed.PackedConcepts) and isinstance(b, packed.PackedConcepts)
    b._digests = None
    assert not a.share_records(b) and not b.share_records(a)
    code = next(iter(a))
    assert a._owner(code, a._pos[code]) == (a, a._pos[code])
