"""CodeSystem $lookup: https://hl7.org/fhir/R4/codesystem-operation-lookup.html"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import CodeNotFound, InvalidRequest
from ..index import CodeSystemIndex
from ..model import Concept, Designation, Property, code_properties
from ..registry import Registry
from . import changes, dates, supplements
from .contracts import LookupRequest, LookupResult
from .translate import related

PRESENTATION_URIS = frozenset(
    "http://hl7.org/fhir/concept-properties#" + p for p in ("order", "itemWeight", "label")
)
# Properties $lookup can always return, beside those the code system defines.
STANDARD = (
    "parent",
    "child",
    "inactive",
    "definition",
    "designation",
    "display",
    "name",
    "version",
    "lang.",
    "sibling",
)


def resolve_coding(
    system: str | None,
    code: str | None,
    version: str | None,
    coding_system: str | None,
    coding_code: str | None,
    coding_version: str | None,
) -> tuple[str, str, str | None]:
    """Pick (system, code, version) from the loose parameters or the coding.

    Raises InvalidRequest when there is no code, no system, or both forms
    disagree.
    """
    if code is not None and coding_code is not None and code != coding_code:
        raise InvalidRequest(
            f"code '{code}' and coding.code '{coding_code}' disagree; send one",
            expression="coding.code",
        )
    if system and coding_system and system != coding_system:
        raise InvalidRequest(
            f"system '{system}' and coding.system '{coding_system}' disagree; send one",
            expression="coding.system",
        )
    c = code if code is not None else coding_code
    s = system or coding_system
    v = version or coding_version
    if c is None or c == "":
        raise InvalidRequest(
            "No code to look up: send 'code' with 'system', or 'coding'", expression="code"
        )
    if not s:
        raise InvalidRequest(
            f"No system for code '{c}': send 'system' (e.g. http://hl7.org/fhir/sid/icd-10-cm)",
            expression="system",
        )
    return s, c, v


def siblings(cs: CodeSystemIndex, concept: Concept) -> list[tuple[str, str | None]]:
    """(code, display) of the other selectable codes under the same parent(s), in source order."""
    me = concept.code
    if len(concept.parents) == 1:  # the usual case: no merging of several parents' children
        kids: Iterable[str] = cs.children_of(concept.parents[0])
    else:
        kids = dict.fromkeys(k for p in concept.parents for k in cs.children_of(p))
    return [r for r in cs.rows(kids, selectable=True) if r[0] != me]


class _Shape:
    """What a $lookup of any concept of one code system needs from its definition.

    Derived once per code system (``CodeSystemIndex.derived``), not per request.
    """

    __slots__ = ("has_status", "presentation", "siblings")

    def __init__(self, cs: CodeSystemIndex) -> None:
        self.has_status = _has_status(cs)
        # order, label and weight (from concept extensions) say how to present an
        # expansion: a lookup returns them only when asked for by name
        self.presentation = frozenset(
            d.code for d in cs.info.property_defs if d.uri in PRESENTATION_URIS
        )
        self.siblings = _has_editorial_siblings(cs)


def _shape(cs: CodeSystemIndex) -> _Shape:
    shape: _Shape | None = cs.derived.get("lookup")
    if shape is None:
        shape = cs.derived["lookup"] = _Shape(cs)
    return shape


def _unknown_code(registry: Registry, cs: CodeSystemIndex, system: str, code: str) -> CodeNotFound:
    """The error of a code ``cs`` does not have: what it may have been meant as (a code
    written otherwise, a chapter or block), and what the loaded releases say of it."""
    hint = ""
    if (s := cs.suggest(code)) is not None:
        hint = f" (did you mean '{s}'? codes are case-sensitive and written with the dot)"
    elif code in cs.groupings:
        g = cs.groupings[code]
        hint = f" ('{code}' is a {g.kind}, {g.title!r}, not a code)"
    v = f" version '{cs.info.version}'" if cs.info.version else ""
    if registry.changes and (seen := changes.note(registry, system, cs.info.version, code)):
        hint += f" ({seen})"
    return CodeNotFound(
        f"Unknown code '{code}' in the CodeSystem '{system}'{v}{hint}", expression="code"
    )


def lookup(registry: Registry, req: LookupRequest) -> LookupResult:
    """Look a code up: display, definition, designations and properties.

    ``req.properties`` limits the properties returned (empty: all). Raises
    NotFound for an unknown system or version, CodeNotFound for an unknown
    code, InvalidRequest for a request without code or system.
    """
    cc = req.coding
    system, code, version = resolve_coding(
        req.system,
        req.code,
        req.version,
        cc.system if cc else None,
        cc.code if cc else None,
        cc.version if cc else None,
    )
    used: tuple[str, ...] = ()
    if req.use_supplements:
        registry, applied = supplements.apply(registry, list(req.use_supplements))
        used = tuple(supplements.canonical_of(s) for s in applied)
    if req.date:
        version = dates.version_on(registry, system, version, req.date)
    cs = registry.code_system(system, version)
    concept = cs.get(code)
    if concept is None:
        raise _unknown_code(registry, cs, system, code)
    wanted = set(req.properties)
    want_all = not wanted or "*" in wanted
    # (inline tests below, not a helper function: a $lookup asks seven times)
    shape = _shape(cs)
    props: list[Property] = []
    if want_all or "parent" in wanted:
        props += code_properties("parent", _displays(cs, concept.parents))
    if want_all or "child" in wanted:
        props += code_properties("child", _displays(cs, concept.children))
    # the status of every concept of a code system with a notion of status (FHIR JSON
    # content); else only an inactive concept says so, unless asked for by name
    if (want_all or "inactive" in wanted) and (
        bool(wanted) or concept.inactive or shape.has_status
    ):
        props.append(Property("inactive", "boolean", concept.inactive))
    props += [
        p
        for p in concept.properties
        if p.code in wanted or (want_all and p.code not in shape.presentation)
    ]
    for prop, m in related(registry, cs.info.url, concept.code):
        if want_all or prop in wanted:
            coding = {
                k: v
                for k, v in (
                    ("system", m.concept.system),
                    ("code", m.concept.code),
                    ("display", m.concept.display),
                )
                if v
            }
            props.append(Property(prop, "Coding", coding, description=m.comment))
    if shape.siblings and (want_all or "sibling" in wanted):
        props += code_properties("sibling", siblings(cs, concept))
    if registry.changes:  # code history across the loaded releases
        props += [
            p
            for p in changes.properties(registry, cs.info.url, concept.code)
            if want_all or p.code in wanted
        ]
    return LookupResult(
        name=cs.info.name or cs.info.title or cs.info.url,
        system=cs.info.url,
        version=cs.info.version,
        code=concept.code,
        display=concept.display,
        definition=concept.definition if want_all or "definition" in wanted else None,
        abstract=concept.abstract,
        designations=_designations(cs, concept) if want_all or "designation" in wanted else (),
        properties=props,
        used_supplements=used,
    )


PREFERRED_FOR_LANGUAGE = {
    "system": "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
    "code": "preferredForLanguage",
}


def _designations(cs: CodeSystemIndex, concept: Concept) -> tuple[Designation, ...]:
    """The concept's designations; in a code system that states its language, the display
    first as the preferred designation for that language (as an expansion lists it)."""
    lang = cs.info.extra.get("language")
    if not isinstance(lang, str) or not concept.display:
        return concept.designations
    if any(d.value == concept.display and d.language == lang for d in concept.designations):
        return concept.designations
    return (Designation(concept.display, lang, PREFERRED_FOR_LANGUAGE), *concept.designations)


def _has_status(cs: CodeSystemIndex) -> bool:
    """Does the code system say, for each concept, whether it is active (FHIR JSON content)?"""
    return cs.info.extra.get("resourceType") == "CodeSystem"


def _displays(cs: CodeSystemIndex, codes: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """(code, display) for each of ``codes``; a code the system does not hold has none."""
    if not codes:
        return []
    rows = cs.rows(codes)
    if len(rows) == len(codes):  # all known (rows keeps the order)
        return rows
    known = dict(rows)
    return [(k, known.get(k)) for k in codes]


def _has_editorial_siblings(cs: CodeSystemIndex) -> bool:
    return any(d.code == "sibling" for d in cs.info.property_defs)
