"""Served resources as FHIR JSON: CodeSystem, search Bundles, capability statements.

Each is valid in the FHIR release of the endpoint that serves it (R4 at ``/fhir`` and
``/r4``, R5 at ``/r5``); where the releases differ the builder takes ``r5``. FHIR JSON
has no empty arrays or objects: a builder leaves an element out rather than send one.
"""

from __future__ import annotations

from typing import Any

from .. import __release_date__, __version__
from ..index import CodeSystemIndex
from ..model import Concept, Property
from . import opdefs
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


# R5's CodeSystem.effectivePeriod at R4 (the cross-version extension).
EFFECTIVE_PERIOD_EXT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-CodeSystem.effectivePeriod"
)


def code_system(cs: CodeSystemIndex, with_concepts: bool, r5: bool = False) -> dict[str, Any]:
    """The CodeSystem resource; concepts nested by their first parent.

    Without concepts the resource is marked SUBSETTED (summary) so clients
    know the payload was left out on purpose. The period a version is in effect
    is R5's ``effectivePeriod`` (its cross-version extension at R4).
    """
    i = cs.info
    out: dict[str, Any] = {"resourceType": "CodeSystem", "id": i.id}
    if not with_concepts:
        out["meta"] = {"tag": [SUBSETTED]}
    if i.effective is not None and not r5:
        period = {"start": i.effective[0], "end": i.effective[1]}
        out["extension"] = [{"url": EFFECTIVE_PERIOD_EXT, "valuePeriod": period}]
    for key, val in (
        ("url", i.url),
        ("version", i.version),
        ("name", i.name),
        ("title", i.title),
        ("status", i.status),
        ("experimental", i.experimental),
        ("date", i.date),
        (
            "effectivePeriod",
            {"start": i.effective[0], "end": i.effective[1]} if r5 and i.effective else None,
        ),
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


VERSIONS_OPERATION = (
    "versions",
    "http://hl7.org/fhir/OperationDefinition/CapabilityStatement-versions",
)
FEATURE = "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature"
# The version of the HL7 terminology ecosystem tests (tx-ecosystem IG, tests/history.json)
# this server is measured against.
TX_TESTS_VERSION = "1.9.0"
# $expand parameters this server honours (TerminologyCapabilities.expansion.parameter)
EXPANSION_PARAMETERS = (
    ("activeOnly", "only active concepts"),
    ("check-system-version", "url|version pattern a code system version must match"),
    ("count", "page size"),
    ("default-valueset-version", "url|version of imported value sets stated without a version"),
    ("designation", "designations to include: [system|]code, or urn:ietf:bcp:47|language"),
    ("displayLanguage", "language(s) of the displays, as an Accept-Language list"),
    ("excludeNested", "false: nest the expansion by the code systems' hierarchy"),
    ("filter", "text filter: words in any order, word prefixes"),
    ("force-system-version", "url|version used whatever the value set states"),
    ("includeDefinition", "repeat the value set's compose"),
    ("includeDesignations", "include the concepts' designations"),
    ("offset", "page start"),
    ("property", "concept properties to return"),
    ("system-version", "url|version used where the value set states none"),
    ("tx-resource", "CodeSystem, ValueSet or ConceptMap resources to use for this request"),
    ("useSupplement", "code system supplements to apply"),
)
SEARCH_PARAMS = (
    ("url", "uri"),
    ("version", "token"),
    ("name", "string"),
    ("title", "string"),
    ("status", "token"),
    ("_id", "token"),
)


def _feature(definition: str, value: dict[str, Any]) -> dict[str, Any]:
    """An application-feature extension: this server's value for one feature."""
    return {
        "url": FEATURE,
        "extension": [
            {"url": "definition", "valueCanonical": definition},
            {"url": "value", **value},
        ],
    }


def versions(supported: tuple[str, ...], default: str) -> dict[str, Any]:
    """$versions: the FHIR versions served at this base and the one used by default."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            *({"name": "version", "valueCode": v} for v in supported),
            {"name": "default", "valueCode": default},
        ],
    }


def capability_statement(
    base: str,
    code_systems: list[CodeSystemIndex],
    date: str,
    fhir_version: str = "4.0.1",
    pages: str | None = None,
) -> dict[str, Any]:
    """The server's CapabilityStatement; ``pages`` is the address of the human-readable
    pages, named in ``rest.documentation`` (FHIR's place for how to use the server)."""
    # each operation's definition is the one this server publishes (opdefs: what it takes)
    operations = [
        (op.resource, op.code, f"{base}/OperationDefinition/{op.id}")
        for op in opdefs.operations(fhir_version.startswith("5"))
    ]
    resources_ = [
        {
            "type": rt,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": n, "type": t} for n, t in SEARCH_PARAMS],
            "operation": [{"name": n, "definition": d} for r, n, d in operations if r == rt],
        }
        for rt in ("CodeSystem", "ValueSet", "ConceptMap")
    ]
    resources_.append({"type": "OperationDefinition", "interaction": [{"code": "read"}]})
    return {
        "resourceType": "CapabilityStatement",
        "id": "fhirterm",
        "extension": [
            _feature(
                "http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version",
                {"valueCode": TX_TESTS_VERSION},
            ),
            # tx-resource accepts CodeSystem resources (as well as ValueSet and ConceptMap)
            _feature(
                "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter",
                {"valueBoolean": True},
            ),
        ],
        "url": f"{base}/metadata",
        "version": __version__,
        "name": "FhirtermCapabilityStatement",
        "title": "fhirterm terminology server",
        "status": "active",
        "date": date,
        "publisher": "fhirterm",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "software": {"name": "fhirterm", "version": __version__, "releaseDate": __release_date__},
        "implementation": {"description": "fhirterm FHIR terminology server", "url": base},
        "fhirVersion": fhir_version,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                **(
                    {
                        "documentation": "Every code of every code system served here also "
                        f"has a page for people at {pages}/{{code-system-id}}/{{code}} "
                        f"(browse and search from {pages}/)."
                    }
                    if pages
                    else {}
                ),
                "resource": resources_,
                "operation": [
                    {"name": n, "definition": d}
                    for n, d in (*((n, d) for _, n, d in operations), VERSIONS_OPERATION)
                ],
            }
        ],
    }


# R4 has no TerminologyCapabilities.codeSystem.content: it travels as R5's cross-version
# extension ("Extensions for Using Data Elements from FHIR R5 in FHIR R4").
CONTENT_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-TerminologyCapabilities.codeSystem.content"


def _tc_code_system(url: str, versions: list[CodeSystemIndex], r5: bool) -> dict[str, Any]:
    """One codeSystem entry: its versions (the first is the default) and its content mode,
    which R5 requires (``content``) and R4 carries as an extension."""
    out: dict[str, Any] = {"uri": url}
    vs: list[dict[str, Any]] = []
    for i, cs in enumerate(versions):
        v: dict[str, Any] = {"code": cs.info.version} if cs.info.version else {}
        v["isDefault"] = i == 0
        if cs.info.property_defs:
            v["property"] = [d.code for d in cs.info.property_defs]
        vs.append(v)
    out["version"] = vs
    content = versions[0].info.content
    if r5:
        out["content"] = content
    else:
        out["extension"] = [{"url": CONTENT_EXT, "valueCode": content}]
    return out


def terminology_capabilities(
    base: str, code_systems: list[CodeSystemIndex], date: str, r5: bool = False
) -> dict[str, Any]:
    """TerminologyCapabilities of the code systems served at one base, R4 or R5 (``r5``)."""
    systems: dict[str, list[CodeSystemIndex]] = {}
    for cs in code_systems:
        systems.setdefault(cs.info.url, []).append(cs)
    return {
        "resourceType": "TerminologyCapabilities",
        "id": "fhirterm",
        "url": f"{base}/metadata?mode=terminology",
        "version": __version__,
        "name": "FhirtermTerminologyCapabilities",
        "title": "fhirterm terminology capabilities",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "fhirterm", "version": __version__},  # no releaseDate here
        "implementation": {"description": "fhirterm FHIR terminology server", "url": base},
        "codeSearch": "explicit",
        "codeSystem": [_tc_code_system(url, vs, r5) for url, vs in systems.items()],
        "expansion": {
            "hierarchical": True,
            "paging": True,
            "parameter": [{"name": n, "documentation": d} for n, d in EXPANSION_PARAMETERS],
            "textFilter": "Words in any order; each word matches a word of the display or a "
            "designation, or its start",
        },
        "validateCode": {"translations": False},
        "translation": {"needsMap": True},
    }
