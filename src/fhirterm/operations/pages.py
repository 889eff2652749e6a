"""The read model of the human-readable pages: one code, one grouping, one code system, a search.

Everything here is read from the content the FHIR operations read: a code page
is the code's ``$lookup`` answer (``lookup.lookup``), arranged in sections,
plus what the hierarchy and the groupings say (the breadcrumb, the notes a
code inherits from its category, the 7th-character table); a search is the
``$expand`` text search (``expand.expand``) of each code system's implicit
value set. Nothing is copied or stored beside the content; the chapter and
block outline of a code system is derived once per code system and kept in
``CodeSystemIndex.derived``. The pages layer (``web/pages``) only renders
these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import TerminologyError
from ..index import CodeSystemIndex
from ..model import Grouping, Property
from ..registry import Registry
from .contracts import ExpandRequest, LookupRequest, LookupResult, Match
from .expand import expand
from .lookup import lookup, siblings
from .page_text import NOTE_KINDS, Editorial, Note, editorial, tabular_notes
from .translate import links, related

EDITORIAL = (
    "region",
    "documentation-tip",
    "coding-pitfall",
    "clinical-context",
    "faq",
    "source",
    "verified",
    "provenance",
)
# properties a page shows in a section of its own (the rest go to the property table)
SHOWN = frozenset(
    (
        *NOTE_KINDS,
        *EDITORIAL,
        "parent",
        "child",
        "sibling",
        "billable",
        "notSelectable",
        "chapter",
        "block",
        "seventh-character",
        "related-cpt",
        "inactive",
    )
)
LIST_LIMIT = 200  # most billable codes listed under a header (the count says how many in all)
SMALL = 1000  # a code system this small shows all its concepts on its top page


@dataclass(slots=True)
class Row:
    """A code as a line of a list: code, display, and whether it is billable (None: the
    code system has no notion of billable, only of selectable)."""

    code: str
    display: str | None
    billable: bool | None = None


@dataclass(slots=True)
class NoteGroup:
    """The notes stated at one code (``code``): the code's own, or an ancestor's."""

    code: str
    display: str | None
    own: bool
    notes: list[Note]


@dataclass(slots=True)
class Related:
    """A link of a concept map to a related code (a CPT procedure), with why and from where."""

    system: str
    code: str
    display: str | None
    comment: str | None
    link_source: str | None
    page_id: str | None  # the id of the code system of ``code``, when the server holds it
    map_url: str
    map_title: str | None
    map_id: str | None


@dataclass(slots=True)
class SystemRef:
    """A code system as the pages name it: its resource id (the address), url, version, title."""

    id: str
    url: str
    version: str | None
    title: str
    count: int
    newest: bool


@dataclass(slots=True)
class CodePage:
    system: SystemRef
    code: str
    display: str | None
    definition: str | None
    abstract: bool
    inactive: bool
    billable: bool | None
    chapter: Grouping | None
    block: Grouping | None
    breadcrumb: list[Row]  # the ancestors, the root first
    children: list[Row]
    siblings: list[Row]
    billable_under: list[Row]  # a header's billable descendants (at most LIST_LIMIT)
    billable_under_count: int
    notes: list[NoteGroup]  # the code's own notes first, then its ancestors', nearest first
    seventh: tuple[str, list[tuple[str, str]]] | None  # (code stating them, [(char, label)])
    related: list[Related]
    linked_from: list[Related]  # the links of concept maps to this code, seen from their source
    editorial: Editorial
    editorial_system: bool  # the code system has an editorial layer (some codes reviewed)
    designations: list[tuple[str, str | None, str | None]]  # (value, language, use)
    other: list[tuple[str, str, str | None]]  # (property, value as text, its description)


@dataclass(slots=True)
class GroupingPage:
    """A chapter (its blocks) or a block (its categories) of a code system."""

    system: SystemRef
    grouping: Grouping
    chapter: Grouping | None  # a block's chapter
    blocks: list[Grouping]
    rows: list[Row]


@dataclass(slots=True)
class SystemPage:
    """The top of a code system: its chapters, or its concepts (all of a small one, as a
    tree: (depth, row)), or the first of its root concepts."""

    system: SystemRef
    description: str | None
    publisher: str | None
    copyright: str | None
    chapters: list[Grouping]
    tree: list[tuple[int, Row]]
    roots_total: int


@dataclass(slots=True)
class Hits:
    """Search results in one code system: best match first."""

    system: SystemRef
    total: int
    rows: list[Row]


def systems(registry: Registry) -> list[SystemRef]:
    """Every code system version the registry holds, by title, newest version first."""
    out = [_ref(registry, cs) for cs in registry.all_code_systems()]
    return sorted(out, key=lambda s: (s.title.casefold(), not s.newest))


def code_system(registry: Registry, id_: str) -> CodeSystemIndex | None:
    return registry.code_system_by_id(id_)


def _ref(registry: Registry, cs: CodeSystemIndex) -> SystemRef:
    newest = registry.versions(cs.info.url)[0] == (cs.info.version or "")
    title = cs.info.title or cs.info.name or cs.info.url
    return SystemRef(cs.info.id, cs.info.url, cs.info.version, title, len(cs.concepts), newest)


def _has_billable(cs: CodeSystemIndex) -> bool:
    return any(d.code == "billable" for d in cs.info.property_defs)


def _rows(cs: CodeSystemIndex, codes: tuple[str, ...] | list[str]) -> list[Row]:
    billable = _has_billable(cs)
    return [
        Row(code, display, (not cs.is_abstract(code)) if billable else None)
        for code, display in cs.rows(codes)
    ]


def find(registry: Registry, cs: CodeSystemIndex, text: str) -> str | None:
    """The code (or grouping) of ``cs`` that ``text`` names or is a case, dot or space
    variant of (the suggestion $lookup and $validate-code make), None when there is none."""
    t = text.strip()
    if not t:
        return None
    if t in cs.concepts or t in cs.groupings:
        return t
    s = cs.suggest(t)
    if s is not None:
        return s
    up = t.upper()
    return up if up in cs.groupings else None


def code_page(registry: Registry, cs: CodeSystemIndex, code: str) -> CodePage:
    """The page of ``code`` (a code of ``cs``): CodeNotFound when it is none.

    The code's own facts come from its $lookup answer, so the page and the FHIR
    answer cannot disagree.
    """
    res = lookup(registry, LookupRequest(system=cs.info.url, code=code, version=cs.info.version))
    by: dict[str, list[Property]] = {}
    for p in res.properties:
        by.setdefault(p.code, []).append(p)
    ref = _ref(registry, cs)

    def first(name: str) -> Property | None:
        got = by.get(name)
        return got[0] if got else None

    chapter = block = None
    if (ch := first("chapter")) is not None:
        chapter = cs.groupings.get(str(ch.value)) or Grouping("chapter", str(ch.value), "")
    if (bl := first("block")) is not None:
        block = cs.groupings.get(str(bl.value)) or Grouping("block", str(bl.value), "")
    ancestors = list(cs.ancestors(code))
    breadcrumb = _rows(cs, list(reversed(ancestors)))
    children = _rows(cs, [str(p.value) for p in by.get("child", [])])
    if "sibling" in by:
        sib = _rows(cs, [str(p.value) for p in by["sibling"]])
    else:
        concept = cs.get(code)
        sib = _rows(cs, [c for c, _ in siblings(cs, concept)]) if concept is not None else []
    billable_prop = first("billable")
    billable = bool(billable_prop.value) if billable_prop is not None else None
    under: list[Row] = []
    under_count = 0
    if res.abstract or (billable is False and children):
        found = cs.selectable_descendants(code)
        under_count = len(found)
        under = _rows(cs, list(found[:LIST_LIMIT]))
    notes, seventh = _note_groups(cs, code, res, ancestors)
    designations = [
        (d.value, d.language, (d.use or {}).get("display") or (d.use or {}).get("code"))
        for d in res.designations
        if d.value != res.display
    ]
    other = [
        (p.code, _text(p.value), p.description)
        for p in res.properties
        if p.code not in SHOWN and not (p.code.startswith("related-") and p.type == "Coding")
    ]
    return CodePage(
        system=ref,
        code=res.code,
        display=res.display,
        definition=res.definition,
        abstract=res.abstract,
        inactive=any(bool(p.value) for p in by.get("inactive", [])),
        billable=billable,
        chapter=chapter,
        block=block,
        breadcrumb=breadcrumb,
        children=children,
        siblings=sib,
        billable_under=under,
        billable_under_count=under_count,
        notes=notes,
        seventh=seventh,
        related=_related(registry, cs, code),
        linked_from=_linked_from(registry, cs, code),
        editorial=editorial(cs, by),
        editorial_system=any(d.code == "verified" for d in cs.info.property_defs),
        designations=designations,
        other=other,
    )


def _note_groups(
    cs: CodeSystemIndex, code: str, res: LookupResult, ancestors: list[str]
) -> tuple[list[NoteGroup], tuple[str, list[tuple[str, str]]] | None]:
    """The notes of ``code`` (its $lookup answer ``res``) and those it inherits from its ``ancestors`` (each
    group with notes), and the 7th-character table of the code or its nearest ancestor."""
    notes = [NoteGroup(code, res.display, True, tabular_notes(cs, res.properties))]
    seventh = _seventh(code, res.properties)
    for a in ancestors:
        c = cs.get(a)
        if c is None:
            continue
        notes.append(NoteGroup(a, c.display, False, tabular_notes(cs, c.properties)))
        if seventh is None:
            seventh = _seventh(a, c.properties)
    return [g for g in notes if g.notes], seventh


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return " ".join(str(v[k]) for k in ("code", "display") if v.get(k)) or str(v)
    return str(v)


def _seventh(
    code: str, props: list[Property] | tuple[Property, ...]
) -> tuple[str, list[tuple[str, str]]] | None:
    chars = [(str(p.value), p.description or "") for p in props if p.code == "seventh-character"]
    return (code, chars) if chars else None


def _related(registry: Registry, cs: CodeSystemIndex, code: str) -> list[Related]:
    return [_link(registry, m) for _prop, m in related(registry, cs.info.url, code)]


def _linked_from(registry: Registry, cs: CodeSystemIndex, code: str) -> list[Related]:
    """The codes concept maps link to ``code`` (the ``$translate`` of it with ``reverse``)."""
    return [
        _link(registry, m)
        for cm in registry.resources_of("ConceptMap")
        if any(g.get("target") == cs.info.url for g in cm.get("group", []))
        for m in links(cm, cs.info.url, code, reverse=True)
    ]


def _link(registry: Registry, m: Match) -> Related:
    """A map's link as a page shows it: the code at the other end (its page, when the server
    holds its code system), why, the link's source and the map."""
    cm = registry.canonical("ConceptMap", m.source) or {}
    other = registry.find_code_system(m.concept.system or "")
    return Related(
        system=m.concept.system or "",
        code=m.concept.code or "",
        display=m.concept.display,
        comment=m.comment,
        link_source=m.link_source,
        page_id=other.info.id if other is not None and m.concept.code in other.concepts else None,
        map_url=m.source,
        map_title=cm.get("title") or cm.get("name"),
        map_id=cm.get("id"),
    )


def _outline(cs: CodeSystemIndex) -> dict[str, list[str]]:
    """Grouping code -> what it holds, in source order: a chapter its blocks, a block its
    root categories (read from the roots' ``chapter`` and ``block`` properties, once)."""
    got: dict[str, list[str]] | None = cs.derived.get("pages.outline")
    if got is None:
        got = {}
        for root in cs.roots:
            c = cs.get(root)
            if c is None:
                continue
            ch = next((str(p.value) for p in c.properties if p.code == "chapter"), None)
            bl = next((str(p.value) for p in c.properties if p.code == "block"), None)
            if ch is not None and bl is not None:
                blocks = got.setdefault(ch, [])
                if bl not in blocks:
                    blocks.append(bl)
            if bl is not None:
                got.setdefault(bl, []).append(root)
        cs.derived["pages.outline"] = got
    return got


def grouping_page(registry: Registry, cs: CodeSystemIndex, code: str) -> GroupingPage:
    """The page of a chapter or block ``code`` (a key of ``cs.groupings``)."""
    g = cs.groupings[code]
    outline = _outline(cs)
    held = outline.get(code, [])
    chapter = None
    if g.kind == "chapter":
        blocks = [cs.groupings[b] for b in held if b in cs.groupings]
        return GroupingPage(_ref(registry, cs), g, None, blocks, [])
    chapter = next(
        (cs.groupings[ch] for ch, bs in outline.items() if code in bs and ch in cs.groupings),
        None,
    )
    return GroupingPage(_ref(registry, cs), g, chapter, [], _rows(cs, held))


def system_page(registry: Registry, cs: CodeSystemIndex) -> SystemPage:
    """The top of a code system: its chapters when it has them, else its concepts."""
    chapters = [g for g in cs.groupings.values() if g.kind == "chapter"]
    tree: list[tuple[int, Row]] = []
    if not chapters:
        if len(cs.concepts) <= SMALL:
            tree = _tree(cs)
        else:
            tree = [(0, r) for r in _rows(cs, cs.roots[:LIST_LIMIT])]
    info = cs.info
    return SystemPage(
        _ref(registry, cs),
        info.description,
        info.publisher,
        info.copyright,
        chapters,
        tree,
        len(cs.roots),
    )


def _tree(cs: CodeSystemIndex) -> list[tuple[int, Row]]:
    """Every concept of a small code system, depth first from its roots (each once)."""
    out: list[tuple[int, Row]] = []
    seen: set[str] = set()
    billable = _has_billable(cs)
    stack: list[tuple[int, str]] = [(0, r) for r in reversed(cs.roots)]
    while stack:
        depth, code = stack.pop()
        if code in seen:
            continue
        seen.add(code)
        c = cs.get(code)
        if c is None:
            continue
        out.append((depth, Row(code, c.display, (not c.abstract) if billable else None)))
        stack += [(depth + 1, k) for k in reversed(c.children)]
    return out


def search(
    registry: Registry, text: str, only: CodeSystemIndex | None = None, count: int = 20
) -> list[Hits]:
    """The ``$expand`` text search of ``text`` in each code system (the newest version of
    each, or ``only``), best match first, at most ``count`` results per code system.
    Code systems without a match are left out."""
    targets = (
        [only]
        if only is not None
        else [cs for cs in registry.all_code_systems() if _ref(registry, cs).newest]
    )
    out: list[Hits] = []
    for cs in targets:
        url = f"{cs.info.url}?fhir_vs"
        req = ExpandRequest(url=url, filter=text, count=count, offset=0, system_versions=_pin(cs))
        try:
            res = expand(registry, req)
        except TerminologyError:
            continue
        if res.total:
            billable = _has_billable(cs)
            rows = [
                Row(i.code, i.display, (not i.abstract) if billable else None) for i in res.items
            ]
            out.append(Hits(_ref(registry, cs), res.total, rows))
    # the code system with the most matches first (ICD-10-CM for most queries)
    out.sort(key=lambda h: -h.total)
    return out


def _pin(cs: CodeSystemIndex) -> tuple[str, ...]:
    return (f"{cs.info.url}|{cs.info.version}",) if cs.info.version else ()
