"""ICD-10-CM from the CDC tabular XML (or the CDC zip that holds it).

Reads the XML with the standard library and builds a ``CodeSystemIndex``:
categories, subcategories and every code made from 7th-character definitions
(the nearest definition up the tree applies; codes shorter than 6 characters
are padded with X; notes that restrict 7th characters, as under S06, are
honoured), with the chapter and block of each code, every tabular note as a
property, and inclusion terms also as designations.

It must not know about HTTP, FHIR JSON or the editorial layer.
"""

from __future__ import annotations

import importlib.util
import lzma
import re
import zipfile
from pathlib import Path
from typing import IO
from xml.etree import ElementTree as ET

from ..errors import ContentError
from ..index import CodeSystemIndex, ConceptDict
from ..model import CodeSystemInfo, Concept, Designation, Grouping, Property, PropertyDef

SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
PROPS = "http://fhirterm.org/fhir/CodeSystem/icd-10-cm-property"
DESIGNATION_USE = "http://fhirterm.org/fhir/CodeSystem/designation-use"

# Tabular note elements and the property codes they become (public contract).
NOTE_KINDS: dict[str, str] = {
    "includes": "includes",
    "inclusionTerm": "inclusion-term",
    "excludes1": "excludes1",
    "excludes2": "excludes2",
    "codeFirst": "code-first",
    "useAdditionalCode": "use-additional-code",
    "codeAlso": "code-also",
    "notes": "note",
    "sevenChrNote": "seventh-character-note",
}

_NOTE_DESCRIPTIONS = {
    "includes": "Includes note: conditions the code covers",
    "inclusion-term": "Inclusion term: a condition classified to the code",
    "excludes1": "Excludes1: never coded together with this code",
    "excludes2": "Excludes2: not included here, may be coded together",
    "code-first": "Code first the underlying condition",
    "use-additional-code": "Use an additional code",
    "code-also": "Code also",
    "note": "Instructional note",
    "seventh-character-note": "Note on the 7th characters",
}

PROPERTY_DEFS: tuple[PropertyDef, ...] = (
    PropertyDef(
        "parent", "code", "http://hl7.org/fhir/concept-properties#parent", "The parent code"
    ),
    PropertyDef("child", "code", "http://hl7.org/fhir/concept-properties#child", "A child code"),
    PropertyDef(
        "notSelectable",
        "boolean",
        "http://hl7.org/fhir/concept-properties#notSelectable",
        "A header: not valid for use on a claim",
    ),
    PropertyDef(
        "billable",
        "boolean",
        f"{PROPS}#billable",
        "True for codes without children (valid on a claim)",
    ),
    PropertyDef("chapter", "code", f"{PROPS}#chapter", "The chapter (number) and its title"),
    PropertyDef("block", "code", f"{PROPS}#block", "The block (section range) and its title"),
    PropertyDef(
        "seventh-character",
        "code",
        f"{PROPS}#seventh-character",
        "A 7th character defined here, with its label",
    ),
    *(
        PropertyDef(code, "string", f"{PROPS}#{code}", desc)
        for code, desc in _NOTE_DESCRIPTIONS.items()
    ),
    # code history across the loaded releases ($lookup; fhirterm.operations.changes)
    PropertyDef(
        "first-release",
        "string",
        f"{PROPS}#first-release",
        "The earliest loaded release (version) that holds the code",
    ),
    PropertyDef(
        "last-release",
        "string",
        f"{PROPS}#last-release",
        "The latest loaded release (version) that holds the code",
    ),
    PropertyDef(
        "earlier-title",
        "string",
        f"{PROPS}#earlier-title",
        "A title the code had in an earlier loaded release",
    ),
)

# A code reference inside a note: "(M43.1-)", "(S06.0X- with seventh character S)",
# "(P35-P39)", "(M47.-)". A trailing "-" or ".-" means "and its subdivisions".
_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?"
_REF_RE = re.compile(rf"\b({_CODE})(-?)(?:-({_CODE}))?(?![0-9A-Za-z])")
_PAREN_RE = re.compile(r"\(([^()]*)\)")
_RESTRICT_RE = re.compile(
    r"7th characters? ([A-Z](?:(?:,|,? and|,? or) [A-Z])*) do(?:es)? not apply to codes in "
    r"category (\w+) with 6th character (.*)",
    re.S,
)


def bundled_xml() -> Path:
    """The April 1 2026 tabular XML shipped as data by simple-icd-10-cm 1.5.0.

    Found without importing the package: its import parses the XML through
    its own API, which we do not use.
    """
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise ContentError(
            "simple-icd-10-cm",
            "package",
            "is not installed; install simple-icd-10-cm==1.5.0 or set FHIRTERM_ICD10CM",
        )
    return (
        Path(next(iter(spec.submodule_search_locations)))
        / "data"
        / "icd10c-tabular-April-1-2026.xml"
    )


# The earlier CDC releases shipped inside this package, xz-compressed (1.1 MB for
# the two): simple-icd-10-cm carries one release per version of the package, and one
# distribution can be installed only once, so they cannot come from the registry.
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data" / "icd10cm"
EARLIER_BUNDLED = ("icd10cm_tabular_2021.xml.xz", "icd10cm-tabular-April-2025.xml.xz")


def bundled_files() -> tuple[Path, ...]:
    """Every bundled release, oldest first: January 2021, April 2025 and April 2026."""
    return (*(BUNDLED_DIR / n for n in EARLIER_BUNDLED), bundled_xml())


# When each known CDC tabular file was in effect (first and last day of service,
# inclusive), by file name. Sources (docs/releases.md): the CDC's announcement of the
# six codes effective January 1, 2021 (J12.82 ... Z86.16, all in the 2021 file), the
# April 1, 2021 update (Z28.310, absent from the file), and the fiscal years of CMS's
# ICD-10-CM files (FY N: October 1 of N-1 to September 30 of N); April updates take
# effect on April 1 (files named "April").
EFFECTIVE: dict[str, tuple[str, str]] = {
    "icd10cm_tabular_2021.xml": ("2021-01-01", "2021-03-31"),
    "icd10cm-tabular-April-2025.xml": ("2025-04-01", "2025-09-30"),
    "icd10c-tabular-April-1-2026.xml": ("2026-04-01", "2026-09-30"),
}

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def effective_period(path: Path, stated: str | None) -> tuple[str, str] | None:
    """The period a release is in effect: ``stated`` (``START/END``, from ``path#version#START/END``)
    or the known period of the CDC file ``path`` names, or None (not chosen by date).

    Raises ContentError for a stated period that is not two ISO dates, first not after last.
    """
    if stated:
        start, _, end = stated.partition("/")
        if not (_DAY.match(start) and _DAY.match(end)) or start > end:
            raise ContentError(
                str(path),
                "period",
                f"expected START/END as two dates (2025-10-01/2026-03-31), found {stated!r}",
            )
        return start, end
    name = path.name[:-3] if path.name.endswith(".xz") else path.name
    return EFFECTIVE.get(name)


def _text(el: ET.Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def note_refs(text: str) -> tuple[Property, ...]:
    """Machine-readable code references in a note, as subproperties.

    ``reference`` (code) for a code or a code with subdivisions, ``reference-range``
    (string) for a range such as ``P35-P39``. Only text in parentheses counts, as
    the tabular list writes references that way.
    """
    out: list[Property] = []
    for group in _PAREN_RE.findall(text):
        for m in _REF_RE.finditer(group):
            first, _dash, last = m.groups()
            first = first.rstrip(".")
            if last:
                out.append(Property("reference-range", "string", f"{first}-{last.rstrip('.')}"))
            else:
                out.append(Property("reference", "code", first))
    return tuple(out)


def _notes(el: ET.Element) -> list[Property]:
    props: list[Property] = []
    for child in el:
        kind = NOTE_KINDS.get(child.tag)
        if kind is None:
            continue
        for n in child.findall("note"):
            t = _text(n)
            if t:
                props.append(Property(kind, "string", t, sub=note_refs(t)))
    return props


def _seven_defs(el: ET.Element) -> dict[str, str] | None:
    d = el.find("sevenChrDef")
    if d is None:
        return None
    out: dict[str, str] = {}
    for ext in d.findall("extension"):
        ch = ext.get("char", "")
        # A label may be followed by an inclusion note on later lines: the
        # label is the first line only.
        label = (ext.text or "").strip().splitlines()[0].strip() if (ext.text or "").strip() else ""
        if ch:
            out[ch] = " ".join(label.split())
    return out


def _restrictions(el: ET.Element) -> list[tuple[frozenset[str], str, frozenset[str]]]:
    """Rules like S06's "7th characters D and S do not apply to ... 6th character 7 ... or 8"."""
    rules = []
    for n in el.findall("./*/note"):
        m = _RESTRICT_RE.search(_text(n))
        if m:
            chars = frozenset(re.findall(r"\b[A-Z]\b", m.group(1)))
            sixth = frozenset(
                re.findall(r"(?:character|or)\s+([0-9A-Z])\b", "character " + m.group(3))
            )
            rules.append((chars, m.group(2), sixth))
    return rules


def _dotted(raw: str) -> str:
    return raw[:3] + "." + raw[3:] if len(raw) > 3 else raw


def _open_xml(path: Path) -> IO[bytes]:
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = [n for n in zf.namelist() if re.search(r"tabular.*\.xml$", n, re.I)]
        if not names:
            raise ContentError(str(path), "zip", "no *tabular*.xml file inside the zip")
        return zf.open(sorted(names)[0])
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    return path.open("rb")


_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        1,
    )
}


def _release_date(name: str) -> str | None:
    m = re.search(r"([A-Za-z]+)-(\d{1,2})-(\d{4})", name)
    if m and m.group(1).lower() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    return None


def load(spec: str | Path | None = None) -> CodeSystemIndex:
    """Load one ICD-10-CM release.

    ``spec`` is a path to a CDC tabular XML (plain or ``.xz``) or zip, optionally followed
    by ``#version`` to set the version and ``#START/END`` to state the period it is in
    effect; None loads the bundled April 2026 file. The version otherwise comes from the
    file's ``<version>`` element, the period from the known CDC files (``EFFECTIVE``).
    Raises ContentError naming the file when it is not a tabular XML.
    """
    version_override: str | None = None
    period: str | None = None
    if spec is None:
        path = bundled_xml()
    else:
        s, _, rest = str(spec).partition("#")
        version_override, _, period = rest.partition("#")
        path = Path(s)
    if not path.exists():
        raise ContentError(str(path), "path", "the ICD-10-CM file does not exist")
    try:
        with _open_xml(path) as fh:
            root = ET.parse(fh).getroot()
    except ET.ParseError as e:
        raise ContentError(str(path), "xml", f"not well-formed XML: {e}") from None
    if root.tag != "ICD10CM.tabular":
        raise ContentError(str(path), "root", f"expected <ICD10CM.tabular>, found <{root.tag}>")
    version = version_override or _text(root.find("version"))
    if not version:
        raise ContentError(str(path), "version", "the file has no <version> and none was given")
    return _build(root, path, version, effective_period(path, period or None))


def _build(
    root: ET.Element, path: Path, version: str, effective: tuple[str, str] | None = None
) -> CodeSystemIndex:
    concepts = ConceptDict()
    groupings: dict[str, Grouping] = {}
    generated = 0

    def add_diag(
        el: ET.Element,
        parent: str | None,
        chapter: Property,
        block: Property,
        seven: dict[str, str] | None,
        rules: list[tuple[frozenset[str], str, frozenset[str]]],
    ) -> None:
        code = _text(el.find("name"))
        title = _text(el.find("desc"))
        own_seven = _seven_defs(el)
        seven = own_seven if own_seven is not None else seven
        rules = rules + _restrictions(el)
        props = _notes(el)
        if own_seven:
            props.extend(
                Property("seventh-character", "code", ch, description=label)
                for ch, label in own_seven.items()
            )
        kids = el.findall("diag")
        designations = tuple(
            Designation(
                p.value,
                "en",
                {"system": DESIGNATION_USE, "code": "inclusion-term", "display": "Inclusion term"},
            )
            for p in props
            if p.code == "inclusion-term"
        )
        concept = Concept(
            code=code, display=title, designations=designations, parents=(parent,) if parent else ()
        )
        concepts[code] = concept
        child_codes: list[str] = []
        for k in kids:
            child_codes.append(_text(k.find("name")))
            add_diag(k, code, chapter, block, seven, rules)
        nonlocal generated
        raw = code.replace(".", "")
        if not kids and seven and len(raw) < 7:
            base = raw.ljust(6, "X")
            for ch, label in seven.items():
                if any(
                    ch in chars and raw.startswith(cat) and base[5] in sixth
                    for chars, cat, sixth in rules
                ):
                    continue
                gen = _dotted(base + ch)
                concepts[gen] = Concept(
                    code=gen,
                    display=f"{title}, {label}",
                    parents=(code,),
                    properties=(chapter, block),
                )
                child_codes.append(gen)
                generated += 1
        concept.children = tuple(child_codes)
        concept.abstract = bool(child_codes)
        concept.properties = (chapter, block, *props)

    for ch_el in root.findall("chapter"):
        ch_code = _text(ch_el.find("name"))
        ch_title = _text(ch_el.find("desc"))
        groupings[ch_code] = Grouping("chapter", ch_code, ch_title)
        chapter = Property("chapter", "code", ch_code, description=ch_title)
        ranges = {
            ref.get("id"): (ref.get("first", ""), ref.get("last", ""), _text(ref))
            for ref in ch_el.iter("sectionRef")
        }
        for sec in ch_el.findall("section"):
            first, last, title = ranges.get(sec.get("id"), ("", "", ""))
            if not first:
                sid = sec.get("id", "")
                first, _, last = sid.partition("-")
                last = last or first
            bcode = f"{first}-{last}"
            btitle = title.strip() or _text(sec.find("desc"))
            groupings[bcode] = Grouping("block", bcode, btitle)
            block = Property("block", "code", bcode, description=btitle)
            for d in sec.findall("diag"):
                add_diag(d, None, chapter, block, None, [])

    for c in concepts.values():
        # Billable is a fact of the tree: a code without children. Stated as a
        # property (with notSelectable for headers) so filters can use it.
        c.properties = (Property("billable", "boolean", not c.children), *c.properties)
        if c.children:
            c.properties = (Property("notSelectable", "boolean", True), *c.properties)

    info = CodeSystemInfo(
        url=SYSTEM,
        version=version,
        id="icd10cm",
        name="ICD10CM",
        title="International Classification of Diseases, Tenth Revision, Clinical Modification (ICD-10-CM)",
        status="active",
        content="complete",
        case_sensitive=True,
        hierarchy_meaning="is-a",
        publisher="Centers for Disease Control and Prevention (CDC), National Center for Health Statistics",
        description=f"ICD-10-CM tabular list from the CDC file {path.name}, with the fhirterm editorial layer",
        copyright="ICD-10-CM is published by the CDC National Center for Health Statistics and is in the public domain.",
        date=effective[0] if effective else _release_date(path.name),
        effective=effective,
        property_defs=PROPERTY_DEFS,
        source=str(path),
        extra={"seventh_character_codes": generated},
    )
    return CodeSystemIndex.build(info, concepts, groupings)
