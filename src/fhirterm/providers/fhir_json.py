"""FHIR JSON resources (CodeSystem, ValueSet, ConceptMap), R4 or R5 shape.

``parse_code_system`` turns a CodeSystem resource (a dict) into a
``CodeSystemIndex``; value sets and concept maps are kept as their JSON for the
operations that use them. ``validate`` checks a resource against the
fhir.resources models (R4B first, R5 otherwise): that costs milliseconds per
resource, so it runs at load time only, never per request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from ..errors import ContentError
from ..index import CodeSystemIndex, ConceptDict
from ..model import CodeSystemInfo, Concept, Designation, Property, PropertyDef

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
SD = "http://hl7.org/fhir/StructureDefinition/"
# Concept extensions that state a standard concept property: extension url -> (property
# code, FHIR type, property uri). The property is what every operation sees.
EXTENSION_PROPERTIES = {
    SD + "codesystem-conceptOrder": ("order", "decimal", CONCEPT_PROPERTIES + "order"),
    SD + "itemWeight": ("weight", "decimal", CONCEPT_PROPERTIES + "itemWeight"),
    SD + "codesystem-label": ("label", "string", CONCEPT_PROPERTIES + "label"),
}
STANDARDS_STATUS = SD + "structuredefinition-standards-status"
# value[x] element -> the FHIR type it carries
_VALUE_KEYS = {
    "valueCode": "code",
    "valueCoding": "Coding",
    "valueString": "string",
    "valueInteger": "integer",
    "valueBoolean": "boolean",
    "valueDateTime": "dateTime",
    "valueDecimal": "decimal",
    "valueUri": "uri",
}


def read_file(path: Path) -> dict[str, Any]:
    """Read one JSON resource; ContentError when it is not JSON or not a known resource."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ContentError(str(path), "json", f"not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("resourceType") not in RESOURCE_TYPES:
        rt = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise ContentError(
            str(path), "resourceType", f"expected one of {', '.join(RESOURCE_TYPES)}, found {rt!r}"
        )
    return data


def validate(resource: dict[str, Any], source: str) -> None:
    """Check a resource against the FHIR models (R4B, then R5); ContentError on failure."""
    from fhir.resources import get_fhir_model_class as r5_class
    from fhir.resources.R4B import get_fhir_model_class as r4_class

    rt = resource["resourceType"]
    try:
        r4_class(rt).model_validate(resource)
        return
    except Exception as e4:  # pydantic ValidationError or a model construction error
        first = e4
    try:
        r5_class(rt).model_validate(resource)
    except Exception:
        msg = str(first).splitlines()
        raise ContentError(
            source, rt, "not a valid FHIR R4 or R5 resource: " + " ".join(msg[:3])
        ) from None


def _prop_value(p: dict[str, Any]) -> tuple[str, Any] | None:
    """(FHIR type, value) of a concept property's value[x], or None when it has none."""
    for key, type_ in _VALUE_KEYS.items():
        if key in p:
            return type_, p[key]
    return None


def parse_code_system(res: dict[str, Any], source: str) -> CodeSystemIndex:
    """Build the index of a CodeSystem resource (nested concepts and parent/child properties)."""
    url = res.get("url")
    if not url:
        raise ContentError(source, "CodeSystem.url", "is required to serve a code system")
    concepts = ConceptDict()

    # A property whose declared uri is a standard concept property means that property
    # whatever its code (e.g. "not-selectable" with uri ...#notSelectable).
    standard = {
        p["code"]: p["uri"].rsplit("#", 1)[1]
        for p in res.get("property", [])
        if isinstance(p, dict)
        and isinstance(p.get("code"), str)
        and str(p.get("uri", "")).startswith(CONCEPT_PROPERTIES)
    }

    def walk(items: list[dict[str, Any]], parent: str | None, where: str) -> None:
        for i, c in enumerate(items):
            code = c.get("code")
            if not isinstance(code, str) or not code:
                raise ContentError(source, f"{where}[{i}].code", "is required")
            props: list[Property] = []
            parents: list[str] = [parent] if parent else []
            children: list[str] = []
            abstract = inactive = False
            status = None
            for p in c.get("property", []):
                pv = _prop_value(p)
                if pv is None:
                    continue
                t, v = pv
                pc = p.get("code", "")
                if pc == "parent" and t == "code":
                    parents.append(v)
                    continue
                if pc == "child" and t == "code":
                    children.append(v)
                    continue
                if (
                    pc == "notSelectable" or standard.get(pc) == "notSelectable"
                ) and t == "boolean":
                    abstract = bool(v)
                elif pc == "inactive" and t == "boolean":
                    inactive = bool(v)
                elif pc == "status" and t == "code":
                    status = v
                    inactive = inactive or v in ("retired", "inactive")
                props.append(Property(pc, t, v))
            extensions: list[dict[str, Any]] = []
            for e in c.get("extension", []):
                if not isinstance(e, dict):
                    continue
                ev = _prop_value(e)
                known = EXTENSION_PROPERTIES.get(str(e.get("url")))
                if known is not None and ev is not None:
                    code_, type_, _ = known
                    props = [q for q in props if q.code != code_]
                    props.append(Property(code_, type_, ev[1]))
                    used_ext.add(str(e["url"]))
                elif e.get("url") == STANDARDS_STATUS and ev is not None and status is None:
                    # The concept's standards status (e.g. deprecated) is its status property.
                    status = str(ev[1])
                    props.append(Property("status", "code", status))
                else:
                    extensions.append(e)
            desigs = tuple(
                Designation(
                    d.get("value", ""),
                    d.get("language"),
                    d.get("use"),
                    tuple(x for x in d.get("extension", []) if isinstance(x, dict)),
                )
                for d in c.get("designation", [])
            )
            nested = c.get("concept", [])
            children.extend(n.get("code") for n in nested if n.get("code"))
            concepts[code] = Concept(
                code=code,
                display=c.get("display"),
                definition=c.get("definition"),
                designations=desigs,
                properties=tuple(props),
                parents=tuple(parents),
                children=tuple(children),
                abstract=abstract,
                inactive=inactive,
                status=status,
                extensions=tuple(extensions),
            )
            walk(nested, code, f"{where}[{i}].concept")

    used_ext: set[str] = set()
    walk(res.get("concept", []), None, "CodeSystem.concept")
    defs = tuple(
        PropertyDef(p.get("code", ""), p.get("type", "string"), p.get("uri"), p.get("description"))
        for p in res.get("property", [])
    )
    declared = {d.code for d in defs}
    defs += tuple(
        PropertyDef(code_, type_, uri)
        for url, (code_, type_, uri) in EXTENSION_PROPERTIES.items()
        if url in used_ext and code_ not in declared
    )
    info = CodeSystemInfo(
        url=url,
        version=res.get("version"),
        id=res.get("id") or _id_from(url, res.get("version")),
        name=res.get("name"),
        title=res.get("title"),
        status=res.get("status", "active"),
        content=res.get("content", "complete"),
        case_sensitive=bool(res.get("caseSensitive", False)),
        hierarchy_meaning=res.get("hierarchyMeaning"),
        publisher=res.get("publisher"),
        description=res.get("description"),
        copyright=res.get("copyright"),
        date=res.get("date"),
        experimental=res.get("experimental"),
        property_defs=defs,
        source=source,
        extra={k: v for k, v in res.items() if k not in ("concept",)},
    )
    return CodeSystemIndex.build(info, concepts)


def _id_from(url: str, version: str | None) -> str:
    tail = re.sub(r"[^A-Za-z0-9\-.]", "-", url.rstrip("/").rsplit("/", 1)[-1])[:50] or "cs"
    return f"{tail}-{version}" if version else tail
