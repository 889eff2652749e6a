"""Served resources as FHIR R4 JSON: CodeSystem, search Bundles, capability statements."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..index import CodeSystemIndex
from ..model import Concept, Property
from .render import value_key

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}


def _concept_property(p: Property) -> dict[str, Any]:
    return {"code": p.code, value_key(p.type): p.value}


def _concept(cs: CodeSystemIndex, c: Concept) -> dict[str, Any]:
    out: dict[str, Any] = {"code": c.code}
    if c.display is not None:
        out["display"] = c.display
    if c.definition:
        out["definition"] = c.definition
    if c.designations:
        out["designation"] = [
            {k: v for k, v in (("language", d.language), ("use", d.use), ("value", d.value)) if v}
            for d in c.designations
        ]
    props = [_concept_property(p) for p in c.properties if p.value is not None]
    props.extend({"code": "parent", "valueCode": p} for p in c.parents[1:])
    if props:
        out["property"] = props
    kids = [
        cs.concepts[k]
        for k in c.children
        if k in cs.concepts and cs.concepts[k].parents[:1] == (c.code,)
    ]
    if kids:
        out["concept"] = [_concept(cs, k) for k in kids]
    return out


def code_system(cs: CodeSystemIndex, with_concepts: bool) -> dict[str, Any]:
    """The CodeSystem resource; concepts nested by their first parent.

    Without concepts the resource is marked SUBSETTED (summary) so clients
    know the payload was left out on purpose.
    """
    i = cs.info
    out: dict[str, Any] = {"resourceType": "CodeSystem", "id": i.id}
    if not with_concepts:
        out["meta"] = {"tag": [SUBSETTED]}
    for key, val in (
        ("url", i.url),
        ("version", i.version),
        ("name", i.name),
        ("title", i.title),
        ("status", i.status),
        ("experimental", i.experimental),
        ("date", i.date),
        ("publisher", i.publisher),
        ("description", i.description),
        ("copyright", i.copyright),
        ("caseSensitive", i.case_sensitive),
        ("hierarchyMeaning", i.hierarchy_meaning),
        ("content", i.content),
        ("count", len(cs.concepts)),
    ):
        if val is not None:
            out[key] = val
    if i.property_defs:
        out["property"] = [
            {
                k: v
                for k, v in (
                    ("code", d.code),
                    ("uri", d.uri),
                    ("description", d.description),
                    ("type", d.type),
                )
                if v
            }
            for d in i.property_defs
        ]
    if with_concepts:
        out["concept"] = [_concept(cs, cs.concepts[r]) for r in cs.roots]
    return out


def bundle(entries: list[dict[str, Any]], base: str, self_link: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": self_link}],
        "entry": [
            {
                "fullUrl": f"{base}/{e['resourceType']}/{e['id']}",
                "resource": e,
                "search": {"mode": "match"},
            }
            for e in entries
        ],
    }


OPERATIONS = (
    ("lookup", "CodeSystem", "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup"),
    (
        "validate-code",
        "CodeSystem",
        "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code",
    ),
    ("subsumes", "CodeSystem", "http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes"),
    ("expand", "ValueSet", "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"),
    ("validate-code", "ValueSet", "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"),
    ("translate", "ConceptMap", "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate"),
)
SEARCH_PARAMS = (
    ("url", "uri"),
    ("version", "token"),
    ("name", "string"),
    ("title", "string"),
    ("status", "token"),
    ("_id", "token"),
)


def capability_statement(
    base: str, code_systems: list[CodeSystemIndex], date: str, fhir_version: str = "4.0.1"
) -> dict[str, Any]:
    resources_ = [
        {
            "type": rt,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": n, "type": t} for n, t in SEARCH_PARAMS],
            "operation": [{"name": n, "definition": d} for n, r, d in OPERATIONS if r == rt],
        }
        for rt in ("CodeSystem", "ValueSet", "ConceptMap")
    ]
    return {
        "resourceType": "CapabilityStatement",
        "id": "fhirterm",
        "url": f"{base}/metadata",
        "name": "FhirtermCapabilityStatement",
        "title": "fhirterm terminology server",
        "status": "active",
        "date": date,
        "publisher": "fhirterm",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "software": {"name": "fhirterm", "version": __version__},
        "implementation": {"description": "fhirterm FHIR terminology server", "url": base},
        "fhirVersion": fhir_version,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "resource": resources_,
                "operation": [{"name": n, "definition": d} for n, _, d in OPERATIONS],
            }
        ],
    }


def terminology_capabilities(
    base: str, code_systems: list[CodeSystemIndex], date: str
) -> dict[str, Any]:
    systems: dict[str, list[dict[str, Any]]] = {}
    for cs in code_systems:
        v: dict[str, Any] = {"code": cs.info.version} if cs.info.version else {}
        v["isDefault"] = not systems.get(cs.info.url)
        v["property"] = [d.code for d in cs.info.property_defs]
        systems.setdefault(cs.info.url, []).append(v)
    return {
        "resourceType": "TerminologyCapabilities",
        "id": "fhirterm",
        "url": f"{base}/metadata?mode=terminology",
        "name": "FhirtermTerminologyCapabilities",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "fhirterm", "version": __version__},
        "implementation": {"description": "fhirterm FHIR terminology server", "url": base},
        "codeSearch": "explicit",
        "codeSystem": [{"uri": url, "version": vs} for url, vs in systems.items()],
        "validateCode": {"translations": False},
        "translation": {"needsMap": True},
    }
