"""The R4 conversion the reference runner applies against an R4 server.

TxTester talks to an R4 server through TerminologyClientR4 (org.hl7.fhir.convertors/.../
txClient/TerminologyClientR4.java): every request resource is converted R5 -> R4 and every
response R4 -> R5 with VersionConvertorFactory_40_50 before it is scrubbed and compared.
Reimplemented here (not copied) for the elements the suite's resources and the answers
carry; anything else is the same in both versions:

request, R5 -> R4 (`request_to_r4`, on each resource of a Parameters or Bundle):

* CodeSystem.versionAlgorithm[x] -> extension EXT_VERSION_ALGORITHM (CodeSystem40_50);
  ValueSet.versionAlgorithm[x] is not converted (ValueSet40_50 has no rule for it);
* ValueSet compose filter `op` child-of / descendent-leaf (no R4 code) -> no op value, an
  EXT_VALUESET_FILTER_OP extension on `_op` (ValueSet40_50.convertFilterOperator);
* ConceptMap (ConceptMap40_50): sourceScope[x]/targetScope[x] -> source[x]/target[x];
  group source/target `url|version` -> source/sourceVersion, target/targetVersion;
  target `relationship` -> `equivalence` (source-is-narrower-than-target -> wider,
  source-is-broader-than-target -> narrower, not-related-to -> disjoint, none ->
  relatedto); unmapped mode use-source-code -> provided, unmapped `relationship` and
  `otherMap` -> dropped / `url`.

response, R4 -> R5 (`response_to_r5`):

* ValueSet.expansion.property and .contains.property, which R4 carries as the extensions
  EXT_VS_EXP_PROP / EXT_EXP_VS_CONT_PROP (ValueSet40_50.convertValueSetExpansionComponent,
  convertValueSetExpansionContainsComponent), become elements again;
* a compose filter's EXT_VALUESET_FILTER_OP extension becomes its `op`;
* CodeSystem EXT_VERSION_ALGORITHM becomes versionAlgorithm[x];
* resources inside Parameters and Bundles are converted alike.
"""

from __future__ import annotations

import copy
from typing import Any

EXT_VERSION_ALGORITHM = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-CanonicalResource.versionAlgorithm"
)
EXT_VALUESET_FILTER_OP = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op"
)
EXT_VS_EXP_PROP = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
)
EXT_EXP_VS_CONT_PROP = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)
R4_FILTER_OPS = frozenset(
    {"=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in", "generalizes", "exists"}
)
# ConceptMap40_50.convertConceptMapEquivalence (R5 relationship -> R4 equivalence)
EQUIVALENCE = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}


def _value(d: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for k, v in d.items():
        if k.startswith(prefix) and len(k) > len(prefix) and k[len(prefix)].isupper():
            return k, v
    return None


# -- R5 -> R4 (requests) ------------------------------------------------------------------------


def _version_algorithm_to_r4(res: dict[str, Any]) -> None:
    kv = _value(res, "versionAlgorithm")
    if kv is None:
        return
    del res[kv[0]]
    if res.get("resourceType") == "CodeSystem":
        value_key = "value" + kv[0][len("versionAlgorithm") :]
        res.setdefault("extension", []).append({"url": EXT_VERSION_ALGORITHM, value_key: kv[1]})


def _filters_to_r4(vs: dict[str, Any]) -> None:
    compose = vs.get("compose")
    if not isinstance(compose, dict):
        return
    for key in ("include", "exclude"):
        for inc in compose.get(key, []) or []:
            for f in inc.get("filter", []) or [] if isinstance(inc, dict) else []:
                op = f.get("op") if isinstance(f, dict) else None
                if isinstance(op, str) and op not in R4_FILTER_OPS:
                    del f["op"]
                    if op in ("child-of", "descendent-leaf"):
                        ext = {"url": EXT_VALUESET_FILTER_OP, "valueCode": op}
                        f.setdefault("_op", {}).setdefault("extension", []).append(ext)


def _split_canonical(value: str) -> tuple[str, str | None]:
    url, sep, version = value.partition("|")
    return url, (version if sep else None)


def _concept_map_to_r4(cm: dict[str, Any]) -> None:
    for r5, r4 in (("sourceScope", "source"), ("targetScope", "target")):
        kv = _value(cm, r5)
        if kv is not None:
            del cm[kv[0]]
            cm[r4 + kv[0][len(r5) :]] = kv[1]
    for group in cm.get("group", []) or []:
        for side in ("source", "target"):
            if isinstance(group.get(side), str):
                url, version = _split_canonical(group[side])
                group[side] = url
                if version is not None:
                    group[side + "Version"] = version
        for element in group.get("element", []) or []:
            element.pop("noMap", None)
            for target in element.get("target", []) or []:
                rel = target.pop("relationship", None)
                target["equivalence"] = EQUIVALENCE.get(rel, "relatedto") if rel else "relatedto"
        unmapped = group.get("unmapped")
        if isinstance(unmapped, dict):
            unmapped.pop("relationship", None)
            if unmapped.get("mode") == "use-source-code":
                unmapped["mode"] = "provided"
            if "otherMap" in unmapped:
                unmapped["url"] = unmapped.pop("otherMap")


def resource_to_r4(res: dict[str, Any]) -> dict[str, Any]:
    """One resource R5 -> R4 (a converted copy)."""
    out = copy.deepcopy(res)
    rt = out.get("resourceType")
    if rt in ("CodeSystem", "ValueSet", "ConceptMap"):
        _version_algorithm_to_r4(out)
    if rt == "ValueSet":
        _filters_to_r4(out)
    elif rt == "ConceptMap":
        _concept_map_to_r4(out)
    elif rt == "Parameters":
        for p in out.get("parameter", []) or []:
            if isinstance(p, dict) and isinstance(p.get("resource"), dict):
                p["resource"] = resource_to_r4(p["resource"])
    elif rt == "Bundle":
        for e in out.get("entry", []) or []:
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                e["resource"] = resource_to_r4(e["resource"])
    return out


def request_to_r4(request: dict[str, Any]) -> dict[str, Any]:
    """The request resource as TerminologyClientR4 sends it."""
    return resource_to_r4(request)


# -- R4 -> R5 (responses) -----------------------------------------------------------------------


def _r5_property(ext: dict[str, Any], contains: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    for sub in ext.get("extension", []):
        if not isinstance(sub, dict):
            continue
        kv = _value(sub, "value")
        url = sub.get("url")
        if url == "code" and kv:
            prop["code"] = kv[1]
        elif url == "uri" and kv and not contains:
            prop["uri"] = kv[1]
        elif url in ("value", "value[x]") and kv and contains:  # ValueSet40_50 reads both
            prop[kv[0]] = kv[1]
        elif url == "subProperty" and contains:
            prop.setdefault("subProperty", []).append(_r5_property(sub, True))
    return prop


def _lift(owner: dict[str, Any], url: str, contains: bool) -> None:
    exts = owner.get("extension")
    if not isinstance(exts, list):
        return
    props = [_r5_property(x, contains) for x in exts if isinstance(x, dict) and x.get("url") == url]
    if props:
        owner["property"] = owner.get("property", []) + props
        rest = [x for x in exts if not (isinstance(x, dict) and x.get("url") == url)]
        if rest:
            owner["extension"] = rest
        else:
            del owner["extension"]


def _take_extension(owner: dict[str, Any], url: str) -> dict[str, Any] | None:
    exts = owner.get("extension")
    if not isinstance(exts, list):
        return None
    found = next((x for x in exts if isinstance(x, dict) and x.get("url") == url), None)
    if found is not None:
        owner["extension"] = [x for x in exts if x is not found]
        if not owner["extension"]:
            del owner["extension"]
    return found


def response_to_r5(resource: Any) -> Any:
    """Convert an R4 response to R5 as TerminologyClientR4 does (in place; returned)."""
    if not isinstance(resource, dict):
        return resource
    rt = resource.get("resourceType")
    if rt == "ValueSet":
        expansion = resource.get("expansion")
        if isinstance(expansion, dict):
            _lift(expansion, EXT_VS_EXP_PROP, contains=False)
            stack = list(expansion.get("contains", []))
            while stack:
                c = stack.pop()
                if isinstance(c, dict):
                    _lift(c, EXT_EXP_VS_CONT_PROP, contains=True)
                    stack.extend(c.get("contains", []))
        compose = resource.get("compose")
        for key in ("include", "exclude"):
            for inc in compose.get(key, []) if isinstance(compose, dict) else []:
                for f in inc.get("filter", []) if isinstance(inc, dict) else []:
                    meta = f.get("_op") if isinstance(f, dict) else None
                    ext = (
                        _take_extension(meta, EXT_VALUESET_FILTER_OP)
                        if isinstance(meta, dict)
                        else None
                    )
                    if ext is not None:
                        kv = _value(ext, "value")
                        if kv is not None:
                            f["op"] = kv[1]
                        if not meta:
                            del f["_op"]
    elif rt == "CodeSystem":
        ext = _take_extension(resource, EXT_VERSION_ALGORITHM)
        kv = _value(ext, "value") if ext else None
        if kv is not None:
            resource["versionAlgorithm" + kv[0][len("value") :]] = kv[1]
    elif rt == "Parameters":
        for p in resource.get("parameter", []) or []:
            if isinstance(p, dict):
                response_to_r5(p.get("resource"))
    elif rt == "Bundle":
        for e in resource.get("entry", []) or []:
            if isinstance(e, dict):
                response_to_r5(e.get("resource"))
    return resource
