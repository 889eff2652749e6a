"""The entries of an expansion (``ValueSet.expansion.contains``): a member as the request
asks for it: its display in the language asked for, the designations and properties
asked for (and those that say how to present it), the concept extensions repeated, and
the entries nested under their parents."""

from __future__ import annotations

from ..errors import InvalidRequest
from ..model import Designation, Property
from .contracts import ExpandRequest, ExpansionItem
from .valueset import Member

PREFERRED_FOR_LANGUAGE = {
    "system": "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
    "code": "preferredForLanguage",
    "display": "Preferred For Language",
}


CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"


SD = "http://hl7.org/fhir/StructureDefinition/"


# The uri of the standard concept properties an expansion reports under their usual code.
STANDARD_PROPERTY_URIS = {
    "definition": CONCEPT_PROPERTIES + "definition",
    "status": CONCEPT_PROPERTIES + "status",
    "order": CONCEPT_PROPERTIES + "order",
    "weight": CONCEPT_PROPERTIES + "itemWeight",
    "label": CONCEPT_PROPERTIES + "label",
}


# Properties reported for every concept that has them, asked for or not (they say how to
# present the expansion: its order, the items' labels and weights).
PRESENTATION_URIS = frozenset(CONCEPT_PROPERTIES + p for p in ("order", "itemWeight", "label"))


# Compose concept extensions that set those properties for the value set (over the code
# system's): extension url -> (property code, FHIR type).
VS_CONCEPT_PROPERTIES = {
    SD + "valueset-conceptOrder": ("order", "decimal"),
    SD + "valueset-label": ("label", "string"),
    SD + "itemWeight": ("weight", "decimal"),
}


DESIGNATION_EXTENSIONS = frozenset(
    SD + e for e in ("coding-sctdescid", "structuredefinition-standards-status")
)


# Concept extensions an expansion entry carries over (from the code system's concept or the
# compose's concept entry, the latter winning); others are not repeated.
ECHOED_EXTENSIONS = frozenset(
    SD + e
    for e in (
        "valueset-deprecated",
        "valueset-concept-definition",
        "structuredefinition-standards-status",
        "rendering-style",
        "rendering-xhtml",
    )
)


def property_codes(items: list[ExpansionItem]) -> list[str]:
    """The property codes the items (and their children) report, in order of first use."""
    out: dict[str, None] = {}
    stack = list(reversed(items))
    while stack:
        it = stack.pop()
        out.update((p.code, None) for p in it.properties)
        stack.extend(reversed(it.children))
    return list(out)


def nest(page: list[Member], items: list[ExpansionItem]) -> list[ExpansionItem]:
    """Place each item under its parent when the parent is in the expansion too."""
    by_key = {(m.system, m.code): it for m, it in zip(page, items, strict=True)}
    roots: list[ExpansionItem] = []
    for m, it in zip(page, items, strict=True):
        parent = next(
            (by_key[(m.system, p)] for p in m.concept.parents if (m.system, p) in by_key), None
        )
        if parent is None or parent is it:
            roots.append(it)
        else:
            parent.children.append(it)
    return roots


def languages(spec: str | None) -> tuple[list[str], bool] | None:
    """A displayLanguage / Accept-Language list: (languages best first, hard).

    ``hard`` (``*;q=0``) means no display at all rather than one in another language.
    """
    if not spec:
        return None
    entries: list[tuple[str, float, int]] = []
    for i, part in enumerate(spec.split(",")):
        bits = [b.strip() for b in part.split(";")]
        if not bits[0]:
            continue
        q = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    raise InvalidRequest(
                        f"Invalid quality '{b}' in the language list '{spec}'",
                        expression="displayLanguage",
                    ) from None
        entries.append((bits[0].lower(), q, i))
    hard = any(t == "*" and q == 0 for t, q, _ in entries)
    langs = [t for t, q, _ in sorted(entries, key=lambda e: (-e[1], e[2])) if q > 0]
    return langs, hard


def language_list_text(spec: str) -> str:
    """A language list as the expansion reports it: a list with qualities is written in its
    normal form (``de, *; q=0``), a plain list as sent."""
    if ";" not in spec:
        return spec
    parts = []
    for part in spec.split(","):
        bits = [b.strip() for b in part.split(";")]
        if bits[0]:
            parts.append("; ".join(b for b in bits if b))
    return ", ".join(parts)


def _lang_matches(tag: str | None, wanted: str) -> bool:
    if not tag:
        return False
    t = tag.lower()
    return t == wanted or t.startswith(wanted + "-")


def _designation_wanted(d: Designation, filters: tuple[str, ...]) -> bool:
    """designation parameters: ``urn:ietf:bcp:47|lang`` (a language) or ``system|code`` (a use)."""
    for f in filters:
        system, sep, code = f.rpartition("|")
        if not sep or system == "urn:ietf:bcp:47":
            # the language as stated: "de" asks for German designations, not de-CH ones
            if d.language and d.language.lower() == code.lower():
                return True
        elif d.use and d.use.get("system") == system and d.use.get("code") == code:
            return True
    return False


def _known_extensions(d: Designation) -> Designation:
    """The designation with only the extensions an expansion repeats."""
    if not d.extensions or all(e.get("url") in DESIGNATION_EXTENSIONS for e in d.extensions):
        return d
    return d._replace(
        extensions=tuple(e for e in d.extensions if e.get("url") in DESIGNATION_EXTENSIONS)
    )


def item(
    m: Member,
    req: ExpandRequest,
    langs: tuple[list[str], bool] | None,
    versioned: bool,
    presentation: frozenset[str] = frozenset(),
) -> ExpansionItem:
    c = m.concept
    display = m.display
    desigs: list[Designation] = [_known_extensions(d) for d in (*c.designations, *m.designations)]
    if langs is not None:
        wanted, hard = langs
        cs_lang = m.cs.info.extra.get("language")
        chosen: Designation | None = None
        original = False
        for w in wanted:
            if w == "*" or _lang_matches(cs_lang, w):
                original = True
                break
            chosen = next((d for d in desigs if _lang_matches(d.language, w)), None)
            if chosen is not None:
                break
        if chosen is None and not original and not hard:
            original = True
        if not original:
            # The display in the code system's language (when the code system states its
            # language) becomes a designation, in place of the one now shown as display.
            if cs_lang:
                if display is not None:
                    desigs.insert(0, Designation(display, cs_lang, PREFERRED_FOR_LANGUAGE))
                desigs = [d for d in desigs if d is not chosen]
            display = chosen.value if chosen is not None else None
    if req.designations:
        desigs = [d for d in desigs if _designation_wanted(d, req.designations)]
    wanted_props = set(req.properties)
    props = [
        p
        for p in c.properties
        if (p.code in wanted_props or p.code in presentation) and p.value is not None
    ]
    if "definition" in wanted_props and c.definition:
        props.append(Property("definition", "string", c.definition))
    if "status" not in wanted_props:
        # A status other than active says why a concept is inactive: always reported.
        props.extend(
            p for p in c.properties if p.code == "status" and p.value not in (None, "active")
        )
    exts = {e.get("url"): e for e in c.extensions if e.get("url") in ECHOED_EXTENSIONS}
    for e in m.extensions:
        url = e.get("url")
        known = VS_CONCEPT_PROPERTIES.get(str(url))
        value = next((v for k, v in e.items() if k.startswith("value")), None)
        if known is not None and value is not None:
            props = [p for p in props if p.code != known[0]]
            props.append(Property(known[0], known[1], value))
        elif url in ECHOED_EXTENSIONS:
            exts[url] = e
    return ExpansionItem(
        m.system,
        m.cs.info.version if versioned else None,
        c.code,
        display,
        c.abstract,
        c.inactive,
        tuple(desigs) if req.include_designations or req.designations else (),
        tuple(props),
        extensions=tuple(exts.values()),
    )
