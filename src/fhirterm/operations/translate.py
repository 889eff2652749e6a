"""ConceptMap $translate: https://hl7.org/fhir/R4/conceptmap-operation-translate.html

Maps are read as R4 (``equivalence``) or R5 (``relationship``) JSON. Every
match is returned with its equivalence, comment and the map it came from;
``reverse`` walks the map from target to source.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, NotFound
from ..model import Coding
from ..registry import Registry
from .contracts import Match, TranslateRequest, TranslateResult

# R5 relationship -> R4 equivalence
_R5_TO_R4 = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    # R4 equivalence is read from the target: a source narrower than its target maps "wider"
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "unmatched",
}
# equivalence seen from the other side
_INVERSE = {
    "wider": "narrower",
    "narrower": "wider",
    "subsumes": "specializes",
    "specializes": "subsumes",
}
LINK_SOURCE = "http://fhirterm.org/fhir/StructureDefinition/link-source"


def equivalence(target: dict[str, Any]) -> str:
    if "equivalence" in target:
        return str(target["equivalence"])
    return _R5_TO_R4.get(str(target.get("relationship", "")), "relatedto")


def _maps(registry: Registry, req: TranslateRequest) -> list[dict[str, Any]]:
    if req.concept_map is not None:
        return [req.concept_map]
    if req.url:
        cm = registry.canonical("ConceptMap", req.url, req.concept_map_version)
        if cm is None:
            raise NotFound(
                f"A definition for the ConceptMap '{req.url}' could not be found", expression="url"
            )
        return [cm]
    maps = registry.resources_of("ConceptMap")
    src_vs, tgt_vs = req.source, req.target

    def scope(cm: dict[str, Any], key: str) -> str | None:
        # R4 source[x] (sourceUri, sourceCanonical), R5 sourceScope[x]
        names = (f"{key}Uri", f"{key}Canonical", f"{key}ScopeUri", f"{key}ScopeCanonical")
        v = next((cm[n] for n in names if n in cm), None)
        return str(v) if v is not None else None

    if src_vs:
        maps = [m for m in maps if scope(m, "source") == src_vs]
    if tgt_vs:
        maps = [m for m in maps if scope(m, "target") == tgt_vs]
    return maps


def _side(g: dict[str, Any], key: str) -> tuple[str | None, str | None]:
    """(system, version) of a group's ``source`` or ``target``: R4 states the version apart
    (``sourceVersion``), R5 in the canonical (``url|version``)."""
    url, _, version = str(g.get(key) or "").partition("|")
    return url or None, version or g.get(key + "Version")


def _match(
    url: str,
    g: dict[str, Any],
    el: dict[str, Any],
    t: dict[str, Any],
    reverse: bool,
    map_version: Any = None,
) -> Match:
    """One link of a map as a match, seen from the source (or from the target when ``reverse``)."""
    eq = equivalence(t)
    ls = next(
        (e.get("valueUri") for e in t.get("extension", []) if e.get("url") == LINK_SOURCE), None
    )
    tgt_system, tgt_version = _side(g, "target")
    target = Coding(tgt_system, t.get("code"), tgt_version, t.get("display"))
    version = str(map_version) if map_version is not None else None
    if reverse:
        src_system, src_version = _side(g, "source")
        return Match(
            _INVERSE.get(eq, eq),
            Coding(src_system, el.get("code"), src_version, el.get("display")),
            url,
            t.get("comment"),
            ls,
            version,
            target,
            eq,
        )
    return Match(eq, target, url, t.get("comment"), ls, version)


def links(cm: dict[str, Any], system: str, code: str, reverse: bool = False) -> list[Match]:
    """Matches of ``system|code`` in one map, forwards or in reverse."""
    url = str(cm.get("url", ""))
    version = cm.get("version")
    out: list[Match] = []
    for g in cm.get("group", []):
        if _side(g, "target" if reverse else "source")[0] != system:
            continue
        for el in g.get("element", []):
            for t in el.get("target", []):
                if (t.get("code") if reverse else el.get("code")) == code:
                    out.append(_match(url, g, el, t, reverse, version))
    return out


# unmapped.mode that maps a code without elements to itself (R4 name, R5 name)
_SOURCE_CODE = ("provided", "use-source-code")


def unmapped(registry: Registry, cm: dict[str, Any], system: str, code: str) -> list[Match]:
    """The match ``unmapped`` gives a code no element of ``cm`` names: the code itself, where
    a group from ``system`` says so (mode ``provided``, R5 ``use-source-code``). When the
    group's source version is loaded, only its codes are mapped (a code it does not hold
    is no code of the map's source)."""
    out: list[Match] = []
    for g in cm.get("group", []):
        u = g.get("unmapped")
        if g.get("source") != system or not u or u.get("mode") not in _SOURCE_CODE:
            continue
        src = registry.find_code_system(system, g.get("sourceVersion"))
        if src is not None and src.get(code) is None:
            continue
        tgt = registry.find_code_system(g.get("target") or system, g.get("targetVersion"))
        concept = tgt.get(code) if tgt is not None else None
        display = concept.display if concept is not None else None
        if tgt is not None and concept is None:
            continue  # the code is not in the target version: no code of the map's target
        out.append(
            Match(
                "equivalent",
                Coding(g.get("target") or system, code, g.get("targetVersion"), display),
                str(cm.get("url", "")),
                u.get("comment") or "unchanged: the same code",
                map_version=str(cm["version"]) if cm.get("version") is not None else None,
            )
        )
    return out


def translate(registry: Registry, req: TranslateRequest) -> TranslateResult:
    """Translate a code through the named map, or every map whose scope fits.

    Raises InvalidRequest without a code (or with several forms of it),
    NotFound for an unknown map.
    """
    forms = [x for x in (req.code, req.coding, req.codeable_concept) if x is not None]
    if len(forms) != 1:
        raise InvalidRequest(
            "Send exactly one of code (with system), coding or codeableConcept", expression="code"
        )
    codings: list[Coding]
    if req.codeable_concept is not None:
        codings = list(req.codeable_concept)
    elif req.coding is not None:
        codings = [req.coding]
    else:
        codings = [Coding(req.system, req.code, req.version)]
    for i, c in enumerate(codings):
        if not c.system or not c.code:
            raise InvalidRequest(
                f"The code to translate needs a system and a code (item {i})", expression="system"
            )
    matches: list[Match] = []
    for cm in _maps(registry, req):
        for c in codings:
            assert c.system is not None and c.code is not None
            found = links(cm, c.system, c.code, req.reverse)
            if not found and not req.reverse:
                found = unmapped(registry, cm, c.system, c.code)
            for m in found:
                if req.target_system and m.concept.system != req.target_system:
                    continue
                matches.append(m)
    ok = any(m.equivalence not in ("unmatched", "disjoint") for m in matches)
    names = ", ".join(f"{c.system}#{c.code}" for c in codings)
    message = None if ok else f"No translation found for {names}"
    return TranslateResult(ok, message, matches, req.r5_names)


# Target systems whose links $lookup shows as a property of the source code.
RELATED_PROPERTY = {"http://www.ama-assn.org/go/cpt": "related-cpt"}


def related(registry: Registry, system: str, code: str) -> list[tuple[str, Match]]:
    """(property code, match) for the links of ``system|code`` to systems in RELATED_PROPERTY."""
    index: dict[tuple[str, str], list[tuple[str, Match]]] | None = registry.derived.get("related")
    if index is None:
        index = {}
        for cm in registry.resources_of("ConceptMap"):
            for g in cm.get("group", []):
                prop = RELATED_PROPERTY.get(_side(g, "target")[0] or "")
                if prop is None:
                    continue
                for el in g.get("element", []):
                    key = (_side(g, "source")[0] or "", el.get("code", ""))
                    for t in el.get("target", []):
                        index.setdefault(key, []).append(
                            (prop, _match(str(cm.get("url", "")), g, el, t, False))
                        )
        registry.derived["related"] = index
    return index.get((system, code), [])
