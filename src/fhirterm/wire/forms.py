"""The R4 and R5 forms of the canonical resources served (CodeSystem, ValueSet, ConceptMap).

Content is loaded as written, in either FHIR release's form; an endpoint answers in
its own. ``for_release`` gives a resource in R4 (``/fhir``, ``/r4``) or R5 (``/r5``)
form, following the HL7 version converter (org.hl7.fhir.convertors, ``ConceptMap40_50``):

- ConceptMap R4 -> R5: ``source[x]``/``target[x]`` -> ``sourceScope[x]``/``targetScope[x]``;
  ``group.source`` + ``sourceVersion`` -> the canonical ``source|version`` (target alike);
  ``target.equivalence`` -> ``relationship`` (an R4 code R5 has no code for kept in the
  converter's extension on ``_relationship``), ``unmatched`` -> ``element.noMap`` (the target's
  comment kept in the converter's extension); ``dependsOn``/``product`` ``property``,
  ``system``, ``value``, ``display`` -> ``attribute`` and ``valueCoding`` or
  ``valueString``; ``unmapped.mode`` ``provided`` -> ``use-source-code``, ``url`` ->
  ``otherMap``; ``identifier`` -> a list.
- ConceptMap R5 -> R4: the reverse; an R5 element R4 has no place for travels as its
  cross-version extension (``http://hl7.org/fhir/5.0/StructureDefinition/extension-<path>``),
  so nothing the content states is lost.
- ValueSet: the R4 form is valid R5; R5 -> R4 moves the R5-only elements (``versionAlgorithm[x]``, ``copyrightLabel``, ``approvalDate``, ``author``...,
  ``ValueSet.scope``, ``compose.property``, ``include.copyright``,
  ``designation.additionalUse``, ``expansion.property``/``next``, ``contains.property``)
  into their cross-version extensions.

The input is never changed: the answer is a converted copy (or the resource itself when
its type has nothing to convert, e.g. a ValueSet asked for in R5). Costs a walk of the
resource: callers that serve the same resource often keep the result. (CodeSystem reads
are built from the loaded index in a form valid in both releases; see ``resources``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

XV5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
# the HL7 converter's extensions for what R5 ConceptMap has no element for
OLD_EQUIVALENCE = (
    "http://hl7.org/fhir/1.0/StructureDefinition/extension-ConceptMap.element.target.equivalence"
)
NOMAP_COMMENT = (
    "http://hl7.org/fhir/4.0/StructureDefinition/extension-ConceptMap.group.element.target.comment"
)
# (FHIR "Extensions for Using Data Elements from FHIR R5 in FHIR R4"; the tx-ecosystem
# IG page "R4 and the Test Cases")
EXPANSION_PROPERTY_EXT = XV5 + "ValueSet.expansion.property"
CONTAINS_PROPERTY_EXT = XV5 + "ValueSet.expansion.contains.property"

EQUIVALENCE_TO_RELATIONSHIP = {
    "relatedto": "related-to",
    "equivalent": "equivalent",
    "equal": "equivalent",
    "wider": "source-is-narrower-than-target",
    "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target",
    "specializes": "source-is-broader-than-target",
    "inexact": "related-to",
    "disjoint": "not-related-to",
}
RELATIONSHIP_TO_EQUIVALENCE = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}
UNMAPPED_MODE_R5 = {"provided": "use-source-code"}
UNMAPPED_MODE_R4 = {"use-source-code": "provided"}

# R5-only metadata of the canonical resources -> (element name in the extension url,
# value[x] key); a list value gives one extension per item.
R5_METADATA = {
    "versionAlgorithmString": ("versionAlgorithm[x]", "valueString"),
    "versionAlgorithmCoding": ("versionAlgorithm[x]", "valueCoding"),
    "copyrightLabel": ("copyrightLabel", "valueString"),
    "approvalDate": ("approvalDate", "valueDate"),
    "lastReviewDate": ("lastReviewDate", "valueDate"),
    "effectivePeriod": ("effectivePeriod", "valuePeriod"),
    "topic": ("topic", "valueCodeableConcept"),
    "author": ("author", "valueContactDetail"),
    "editor": ("editor", "valueContactDetail"),
    "reviewer": ("reviewer", "valueContactDetail"),
    "endorser": ("endorser", "valueContactDetail"),
    "relatedArtifact": ("relatedArtifact", "valueRelatedArtifact"),
}
# value[x] keys of R5 ConceptMap.additionalAttribute / property definitions and of
# ValueSet.scope: their children as (name, value key)
_CHILD_KEYS = {
    "code": "valueCode",
    "uri": "valueUri",
    "description": "valueString",
    "type": "valueCode",
    "system": "valueCanonical",
    "inclusionCriteria": "valueString",
    "exclusionCriteria": "valueString",
}


def for_release(resource: dict[str, Any], r5: bool) -> dict[str, Any]:
    """``resource`` in the form of FHIR R5 (``r5``) or R4; the same dict when already so."""
    convert = _CONVERTERS.get((resource.get("resourceType"), r5))
    return resource if convert is None else convert(resource)


# -- helpers ----------------------------------------------------------------------------


def _rename(d: dict[str, Any], old: str, new: str) -> None:
    """Move ``old`` to ``new`` with its primitive extension sibling ``_old``."""
    if old in d:
        d[new] = d.pop(old)
    if "_" + old in d:
        d["_" + new] = d.pop("_" + old)


def _add_ext(d: dict[str, Any], exts: list[dict[str, Any]]) -> None:
    if exts:
        d["extension"] = [*d.get("extension", []), *exts]


def _ext(path: str, key: str, value: Any) -> list[dict[str, Any]]:
    """The cross-version extensions of element ``path`` (one per value of a list)."""
    values = value if isinstance(value, list) else [value]
    return [{"url": XV5 + path, key: v} for v in values]


def _complex_ext(path: str, value: dict[str, Any]) -> dict[str, Any]:
    """A backbone element as a complex cross-version extension: one sub-extension a child."""
    subs = []
    for name, v in value.items():
        key = _CHILD_KEYS.get(name)
        if key is None:
            if name.startswith("value"):  # a property's value[x] stays as it is
                subs.append({"url": "value", name: v})
            continue
        subs.extend({"url": name, key: x} for x in (v if isinstance(v, list) else [v]))
    return {"url": XV5 + path, "extension": subs}


def _r5_metadata_to_r4(res: dict[str, Any], rt: str) -> None:
    exts: list[dict[str, Any]] = []
    for key, (name, vkey) in R5_METADATA.items():
        if key in res:
            exts += _ext(f"{rt}.{name}", vkey, res.pop(key))
            res.pop("_" + key, None)
    _add_ext(res, exts)


def _split_canonical(value: str) -> tuple[str, str | None]:
    url, bar, version = value.partition("|")
    return url, (version if bar and version else None)


# -- ConceptMap -------------------------------------------------------------------------


def _other_to_r5(o: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in o.items() if k not in ("property", "system", "value", "display")}
    if "property" in o:
        out["attribute"] = o["property"]
    if "system" in o:
        coding = {"system": o["system"], "code": o.get("value"), "display": o.get("display")}
        out["valueCoding"] = {k: v for k, v in coding.items() if v is not None}
    elif "value" in o:
        out["valueString"] = o["value"]
    return out


def _other_to_r4(o: dict[str, Any], path: str) -> dict[str, Any]:
    """An R5 dependsOn or product (``path``) in R4 form: attribute -> property, value[x] ->
    system/value/display."""
    out: dict[str, Any] = {}
    for k, v in o.items():
        if k == "attribute":
            out["property"] = v
        elif k == "valueCoding":
            pairs = (("system", "system"), ("value", "code"), ("display", "display"))
            out.update((r4, v[r5]) for r4, r5 in pairs if r5 in v)
        elif k == "valueQuantity":
            if "value" in v:
                out["value"] = f"{v['value']} {v.get('unit') or v.get('code') or ''}".strip()
        elif k == "valueBoolean":
            out["value"] = "true" if v else "false"
        elif k.startswith("value") and k != "valueSet":
            out["value"] = str(v)
        elif k == "valueSet":
            _add_ext(out, _ext(f"{path}.valueSet", "valueCanonical", v))
        else:
            out[k] = v
    return out


def _target_to_r5(t: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v
        for k, v in t.items()
        if k not in ("equivalence", "_equivalence", "dependsOn", "product")
    }
    if "equivalence" in t:
        eq = t["equivalence"]
        out["relationship"] = rel = EQUIVALENCE_TO_RELATIONSHIP.get(eq, "related-to")
        old = dict(t.get("_equivalence", {}))
        if RELATIONSHIP_TO_EQUIVALENCE.get(rel) != eq:
            # R5 has no code for it (equal, subsumes, specializes, inexact): kept in the
            # converter's extension so the R4 form gives it back. (The HL7 converter writes
            # it on every target; a lossless one needs none, and it would double a map.)
            old["extension"] = [
                *old.get("extension", []),
                {"url": OLD_EQUIVALENCE, "valueCode": eq},
            ]
        if old:
            out["_relationship"] = old
    for k in ("dependsOn", "product"):
        if k in t:
            out[k] = [_other_to_r5(o) for o in t[k]]
    return out


def _target_to_r4(t: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    exts: list[dict[str, Any]] = []
    for k, v in t.items():
        if k == "relationship":
            continue
        if k == "_relationship":
            rest = [e for e in v.get("extension", []) if e.get("url") != OLD_EQUIVALENCE]
            if rest or len(v) > 1:
                out["_equivalence"] = (
                    {**v, "extension": rest}
                    if rest
                    else {x: y for x, y in v.items() if x != "extension"}
                )
        elif k in ("dependsOn", "product"):
            out[k] = [_other_to_r4(o, f"ConceptMap.group.element.target.{k}") for o in v]
        elif k == "valueSet":
            exts += _ext("ConceptMap.group.element.target.valueSet", "valueCanonical", v)
        elif k == "property":
            exts += [_complex_ext("ConceptMap.group.element.target.property", p) for p in v]
        else:
            out[k] = v
    old = next(
        (
            e.get("valueCode")
            for e in t.get("_relationship", {}).get("extension", [])
            if e.get("url") == OLD_EQUIVALENCE
        ),
        None,
    )
    if "equivalence" not in out:
        out["equivalence"] = old or RELATIONSHIP_TO_EQUIVALENCE.get(
            t.get("relationship", ""), "relatedto"
        )
    _add_ext(out, exts)
    return out


def _element_to_r5(e: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in e.items() if k != "target"}
    targets = []
    for t in e.get("target", []):
        if t.get("equivalence") == "unmatched":
            out["noMap"] = True
            if "comment" in t:
                _add_ext(out, [{"url": NOMAP_COMMENT, "valueString": t["comment"]}])
        else:
            targets.append(_target_to_r5(t))
    if targets:
        out["target"] = targets
    return out


def _element_to_r4(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    exts: list[dict[str, Any]] = []
    comment = None
    for k, v in e.items():
        if k == "noMap":
            continue
        if k == "valueSet":
            exts += _ext("ConceptMap.group.element.valueSet", "valueCanonical", v)
        elif k == "target":
            out["target"] = [_target_to_r4(t) for t in v]
        elif k == "extension":
            kept = [x for x in v if x.get("url") != NOMAP_COMMENT]
            comment = next((x.get("valueString") for x in v if x.get("url") == NOMAP_COMMENT), None)
            if kept:
                out["extension"] = kept
        else:
            out[k] = v
    if e.get("noMap") is True:
        unmatched: dict[str, Any] = {"equivalence": "unmatched"}
        if comment is not None:
            unmatched["comment"] = comment
        out["target"] = [*out.get("target", []), unmatched]
    elif comment is not None:
        exts.append({"url": NOMAP_COMMENT, "valueString": comment})
    _add_ext(out, exts)
    return out


def _unmapped_to_r5(u: dict[str, Any]) -> dict[str, Any]:
    out = dict(u)
    if "mode" in out:
        out["mode"] = UNMAPPED_MODE_R5.get(out["mode"], out["mode"])
    _rename(out, "url", "otherMap")
    return out


def _unmapped_to_r4(u: dict[str, Any]) -> dict[str, Any]:
    out = dict(u)
    if "mode" in out:
        out["mode"] = UNMAPPED_MODE_R4.get(out["mode"], out["mode"])
    _rename(out, "otherMap", "url")
    exts: list[dict[str, Any]] = []
    if "relationship" in out:
        exts += _ext("ConceptMap.group.unmapped.relationship", "valueCode", out.pop("relationship"))
    if "valueSet" in out:
        exts += _ext("ConceptMap.group.unmapped.valueSet", "valueCanonical", out.pop("valueSet"))
    _add_ext(out, exts)
    return out


def concept_map_r5(cm: dict[str, Any]) -> dict[str, Any]:
    """A ConceptMap in R5 form (from R4, or as it is when it has nothing of R4's)."""
    out = dict(cm)
    if isinstance(out.get("identifier"), dict):
        out["identifier"] = [out["identifier"]]
    for side in ("source", "target"):
        for kind in ("Uri", "Canonical"):
            _rename(out, f"{side}{kind}", f"{side}Scope{kind}")
    groups = []
    for g in cm.get("group", []):
        ng = {k: v for k, v in g.items() if k not in ("sourceVersion", "targetVersion")}
        for side in ("source", "target"):
            version = g.get(side + "Version")
            if version and side in g:
                ng[side] = f"{g[side]}|{version}"
        if "element" in g:
            ng["element"] = [_element_to_r5(e) for e in g["element"]]
        if "unmapped" in g:
            ng["unmapped"] = _unmapped_to_r5(g["unmapped"])
        groups.append(ng)
    if groups:
        out["group"] = groups
    return out


def concept_map_r4(cm: dict[str, Any]) -> dict[str, Any]:
    """A ConceptMap in R4 form (from R5, or as it is when it has nothing of R5's)."""
    out = dict(cm)
    ident = out.get("identifier")
    if isinstance(ident, list):
        if ident:
            out["identifier"] = ident[0]
        else:
            del out["identifier"]
    for side in ("source", "target"):
        for kind in ("Uri", "Canonical"):
            _rename(out, f"{side}Scope{kind}", f"{side}{kind}")
    _r5_metadata_to_r4(out, "ConceptMap")
    exts: list[dict[str, Any]] = []
    for key in ("property", "additionalAttribute"):
        if key in out:
            exts += [_complex_ext(f"ConceptMap.{key}", p) for p in out.pop(key)]
    _add_ext(out, exts)
    groups = []
    for g in cm.get("group", []):
        ng = dict(g)
        for side in ("source", "target"):
            if side in g:
                url, version = _split_canonical(g[side])
                ng[side] = url
                if version:
                    ng[side + "Version"] = version
        if "element" in g:
            ng["element"] = [_element_to_r4(e) for e in g["element"]]
        if "unmapped" in g:
            ng["unmapped"] = _unmapped_to_r4(g["unmapped"])
        groups.append(ng)
    if groups:
        out["group"] = groups
    return out


# -- ValueSet and CodeSystem -------------------------------------------------------------


def _designations_r4(items: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    out = []
    for d in items:
        if "additionalUse" in d:
            d = dict(d)
            _add_ext(d, _ext(path + ".additionalUse", "valueCoding", d.pop("additionalUse")))
        out.append(d)
    return out


def compose_r4(compose: dict[str, Any]) -> dict[str, Any]:
    """ValueSet.compose in R4 form: R5's ``property``, ``include.copyright`` and
    ``designation.additionalUse`` as their cross-version extensions."""
    out = dict(compose)
    if "property" in out:
        _add_ext(out, _ext("ValueSet.compose.property", "valueString", out.pop("property")))
    for side in ("include", "exclude"):
        if side not in out:
            continue
        items = []
        for inc in out[side]:
            inc = dict(inc)
            if "copyright" in inc:
                path = "ValueSet.compose.include.copyright"
                _add_ext(inc, _ext(path, "valueString", inc.pop("copyright")))
            if any("designation" in c for c in inc.get("concept", [])):
                inc["concept"] = [
                    {
                        **c,
                        "designation": _designations_r4(
                            c["designation"], "ValueSet.compose.include.concept.designation"
                        ),
                    }
                    if "designation" in c
                    else c
                    for c in inc["concept"]
                ]
            items.append(inc)
        out[side] = items
    return out


def _code_value_exts(p: dict[str, Any]) -> list[dict[str, Any]]:
    """A (sub)property's code and value[x] as sub-extensions, subproperties nested."""
    out: list[dict[str, Any]] = [{"url": "code", "valueCode": p["code"]}]
    out += ({"url": "value", k: v} for k, v in p.items() if k.startswith("value"))
    out += (
        {"url": "subProperty", "extension": _code_value_exts(s)} for s in p.get("subProperty", [])
    )
    return out


def _contains_r4(c: dict[str, Any]) -> dict[str, Any]:
    out = dict(c)
    if "property" in out:
        props = out.pop("property")
        _add_ext(
            out, [{"url": CONTAINS_PROPERTY_EXT, "extension": _code_value_exts(p)} for p in props]
        )
    if "designation" in out:
        out["designation"] = _designations_r4(
            out["designation"], "ValueSet.expansion.contains.designation"
        )
    if "contains" in out:
        out["contains"] = [_contains_r4(x) for x in out["contains"]]
    return out


def value_set_r4(vs: dict[str, Any]) -> dict[str, Any]:
    """A ValueSet in R4 form (R5-only elements as their cross-version extensions)."""
    out = dict(vs)
    _r5_metadata_to_r4(out, "ValueSet")
    if "scope" in out:
        _add_ext(out, [_complex_ext("ValueSet.scope", out.pop("scope"))])
    if "compose" in out:
        out["compose"] = compose_r4(out["compose"])
    if "expansion" in out:
        exp = dict(out["expansion"])
        exts: list[dict[str, Any]] = []
        if "next" in exp:
            exts += _ext("ValueSet.expansion.next", "valueUri", exp.pop("next"))
        for p in exp.pop("property", []):
            sub = [{"url": "code", "valueCode": p["code"]}]
            if "uri" in p:
                sub.append({"url": "uri", "valueUri": p["uri"]})
            exts.append({"url": EXPANSION_PROPERTY_EXT, "extension": sub})
        _add_ext(exp, exts)
        if "contains" in exp:
            exp["contains"] = [_contains_r4(c) for c in exp["contains"]]
        out["expansion"] = exp
    return out


_CONVERTERS: dict[tuple[Any, bool], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("ConceptMap", True): concept_map_r5,
    ("ConceptMap", False): concept_map_r4,
    ("ValueSet", False): value_set_r4,
}
