"""The parameters of each operation: the one table requests are checked against and the
OperationDefinitions are rendered from.

Each ``Operation`` lists the input parameters this server takes (name, FHIR
type, cardinality, what it means here), after the HL7 definition it follows
(``base``), and the output parameters it returns. ``wire.requests`` reads its
names from here and ``Params.check`` checks each sent value's name, count and
type against it; ``definition`` renders the same table as the
OperationDefinition resource served at ``/OperationDefinition/{id}`` and
linked from the CapabilityStatement. So what is published is what is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HL7 = "http://hl7.org/fhir/OperationDefinition/"

STRINGS = frozenset(
    {"string", "code", "uri", "url", "canonical", "id", "oid", "uuid", "markdown", "dateTime"}
)
"""Declared types whose values are text: a value[x] of any of these types is taken
(clients send ``url`` as valueUri, valueUrl or valueCanonical, ``version`` as
valueString or valueCode; the HL7 test suite does both)."""

INTEGERS = frozenset({"integer", "unsignedInt", "positiveInt"})
RESOURCE_TYPES = frozenset(
    {"Resource", "CodeSystem", "ValueSet", "ConceptMap", "Parameters", "OperationOutcome"}
)
"""Declared types whose values are resources (``Resource``: any of them)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: ``type`` a FHIR data type or resource type (``Resource``: any), or
    None for a parameter of parts (``parts``)."""

    name: str
    type: str | None
    doc: str
    max: str = "1"
    min: int = 0
    parts: tuple[Param, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation at one resource type, as this server takes it."""

    id: str  # the OperationDefinition's id, e.g. CodeSystem-lookup
    code: str  # lookup
    resource: str  # CodeSystem
    title: str
    base: str | None  # the HL7 definition this one restricts
    description: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    # names a client may send that the server refuses with a message of their own
    refused: tuple[str, ...] = ()
    by_name: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update((p.name, p) for p in self.inputs)

    @property
    def names(self) -> tuple[str, ...]:
        """The input names, in table order, refused ones included."""
        return (*(p.name for p in self.inputs), *self.refused)


def _p(name: str, type_: str | None, doc: str, *, max_: str = "1", **kw: Any) -> Param:
    return Param(name, type_, doc, max_, **kw)


TX_RESOURCE = _p(
    "tx-resource",
    "Resource",
    "A CodeSystem, ValueSet or ConceptMap to use for this request only",
    max_="*",
)
DISPLAY_LANGUAGE = _p(
    "displayLanguage", "code", "Language of displays, as a language tag or an Accept-Language list"
)
USE_SUPPLEMENT = _p("useSupplement", "canonical", "A code system supplement to apply", max_="*")
DATE = _p(
    "date",
    "dateTime",
    "The date of service: a code system whose versions state when they are in effect is "
    "used in the version in effect that day",
)
VERSION_RULES = (
    _p("system-version", "canonical", "url|version used where none is stated", max_="*"),
    _p("check-system-version", "canonical", "url|version pattern a version must match", max_="*"),
    _p("force-system-version", "canonical", "url|version used whatever is stated", max_="*"),
)
# the parameters both $validate-code operations take (after the code and its system)
_VALIDATE_IN = (
    _p("display", "string", "A display to check"),
    _p("coding", "Coding", "The code as a Coding"),
    _p("codeableConcept", "CodeableConcept", "Codings of which one must be valid"),
    DATE,
    _p("abstract", "boolean", "false: an abstract code is not valid"),
    DISPLAY_LANGUAGE,
    *VERSION_RULES,
    _p("lenient-display-validation", "boolean", "A wrong display is a warning, not an error"),
    _p("activeOnly", "boolean", "Inactive codes are not valid"),
    USE_SUPPLEMENT,
    TX_RESOURCE,
)
DEFAULT_VS_VERSION = _p(
    "default-valueset-version",
    "canonical",
    "url|version of a value set imported without a version",
    max_="*",
)

_DESIGNATION_OUT = _p(
    "designation",
    None,
    "Other representations of the concept",
    max_="*",
    parts=(
        _p("language", "code", "Language of the designation"),
        _p("use", "Coding", "What the designation is for"),
        _p("value", "string", "The text", min=1),
    ),
)
_PROPERTY_OUT = _p(
    "property",
    None,
    "A property of the concept",
    max_="*",
    parts=(
        _p("code", "code", "The property's code", min=1),
        _p("value", "string", "Its value (value[x] of the property's type)"),
        _p("description", "string", "What the value means"),
    ),
)
_VALIDATE_OUT = (
    _p("result", "boolean", "Whether the code is valid", min=1),
    _p("message", "string", "Why not, or a warning"),
    _p("display", "string", "The display of the code"),
    _p("code", "code", "The code validated"),
    _p("system", "uri", "Its code system"),
    _p("version", "string", "The code system version used"),
    _p("inactive", "boolean", "The code is inactive"),
    _p("issues", "OperationOutcome", "The issues found"),
)

LOOKUP = Operation(
    "CodeSystem-lookup",
    "lookup",
    "CodeSystem",
    "Concept Look Up & Decomposition",
    HL7 + "CodeSystem-lookup",
    "Details of a code: display, definition, designations and properties",
    (
        _p("code", "code", "The code to look up (with system)"),
        _p("system", "uri", "The code system of the code"),
        _p("version", "string", "The code system version"),
        _p("coding", "Coding", "The code as a Coding (instead of code, system and version)"),
        DATE,
        DISPLAY_LANGUAGE,
        _p("property", "code", "A property to return (all when none is named)", max_="*"),
        USE_SUPPLEMENT,
        TX_RESOURCE,
    ),
    (
        _p("name", "string", "The code system's name", min=1),
        _p("version", "string", "The code system version"),
        _p("display", "string", "The preferred display", min=1),
        _p("definition", "string", "The concept's definition"),
        _p("abstract", "boolean", "The concept is not selectable"),
        _DESIGNATION_OUT,
        _PROPERTY_OUT,
    ),
)

CS_VALIDATE = Operation(
    "CodeSystem-validate-code",
    "validate-code",
    "CodeSystem",
    "Code System based Validation",
    HL7 + "CodeSystem-validate-code",
    "Whether a code is in a code system, and whether its display is right",
    (
        _p("url", "uri", "The code system"),
        _p("code", "code", "The code to validate"),
        _p("version", "string", "The code system version"),
        _p("system", "uri", "Same as url"),
        _p("systemVersion", "string", "Same as version"),
        *_VALIDATE_IN,
    ),
    _VALIDATE_OUT,
)

SUBSUMES = Operation(
    "CodeSystem-subsumes",
    "subsumes",
    "CodeSystem",
    "Subsumption Testing",
    HL7 + "CodeSystem-subsumes",
    "How code A relates to code B in the code system's hierarchy",
    (
        _p("codeA", "code", "Code A"),
        _p("codeB", "code", "Code B"),
        _p("system", "uri", "The code system of both codes"),
        _p("version", "string", "The code system version"),
        _p("codingA", "Coding", "Code A as a Coding"),
        _p("codingB", "Coding", "Code B as a Coding"),
        TX_RESOURCE,
    ),
    (
        _p(
            "outcome",
            "code",
            "equivalent, subsumes, subsumed-by or not-subsumed",
            min=1,
        ),
    ),
)

EXPAND = Operation(
    "ValueSet-expand",
    "expand",
    "ValueSet",
    "Value Set Expansion",
    HL7 + "ValueSet-expand",
    "The codes of a value set, filtered and paged",
    (
        _p("url", "uri", "The value set"),
        _p("valueSet", "ValueSet", "The value set itself"),
        _p("valueSetVersion", "string", "The value set version"),
        _p("filter", "string", "Text filter: words in any order, word prefixes"),
        DATE,
        _p("offset", "integer", "Page start (0 or more)"),
        _p("count", "integer", "Page size (0 or more)"),
        _p("includeDesignations", "boolean", "Include the concepts' designations"),
        _p(
            "designation",
            "string",
            "Designations to include: [system|]code or a language",
            max_="*",
        ),
        _p("includeDefinition", "boolean", "Repeat the value set's definition"),
        _p("activeOnly", "boolean", "Only active concepts"),
        _p("excludeNested", "boolean", "false: nest by the code systems' hierarchy"),
        _p("excludeNotForUI", "boolean", "Accepted"),
        _p("excludePostCoordinated", "boolean", "Accepted (no post-coordinated codes)"),
        DISPLAY_LANGUAGE,
        _p("property", "string", "A concept property to return", max_="*"),
        *VERSION_RULES,
        DEFAULT_VS_VERSION,
        USE_SUPPLEMENT,
        _p("versionsMatch", "boolean", "Versions of one code system are taken to match"),
        TX_RESOURCE,
    ),
    (_p("return", "ValueSet", "The expansion", min=1),),
    refused=("context", "contextDirection"),
)

VS_VALIDATE = Operation(
    "ValueSet-validate-code",
    "validate-code",
    "ValueSet",
    "Value Set based Validation",
    HL7 + "ValueSet-validate-code",
    "Whether a code is in a value set, and whether its display is right",
    (
        _p("url", "uri", "The value set"),
        _p("valueSet", "ValueSet", "The value set itself"),
        _p("valueSetVersion", "string", "The value set version"),
        _p("code", "code", "The code to validate (with system)"),
        _p("system", "uri", "The code system of the code"),
        _p("systemVersion", "string", "The code system version"),
        _p("version", "string", "Same as systemVersion"),
        _p("inferSystem", "boolean", "Find the code system of a code sent without one"),
        _p("valueset-membership-only", "boolean", "Check membership only, not the display"),
        DEFAULT_VS_VERSION,
        *_VALIDATE_IN,
    ),
    _VALIDATE_OUT,
    refused=("context",),
)

BATCH_VALIDATE = Operation(
    "ValueSet-batch-validate-code",
    "batch-validate-code",
    "ValueSet",
    "Batch Value Set based Validation",
    None,
    "$validate-code for many codes: one Parameters resource per code in 'validation'; "
    "the other parameters apply to every entry",
    (
        _p(
            "validation",
            "Parameters",
            "The parameters of one validation",
            min=1,
            max_="*",
        ),
        *(p for p in VS_VALIDATE.inputs),
    ),
    (
        _p(
            "validation",
            "Parameters",
            "The result of each validation, in order",
            max_="*",
        ),
    ),
    refused=("context",),
)

_TRANSLATE_COMMON = (
    _p("url", "uri", "The concept map"),
    _p("conceptMap", "ConceptMap", "The concept map itself"),
    _p("conceptMapVersion", "string", "The concept map version"),
)
_TRANSLATE_R4 = (
    _p("code", "code", "The code to translate"),
    _p("system", "uri", "Its code system"),
    _p("version", "string", "Its code system version"),
    _p("source", "uri", "The value set the code is from"),
    _p("coding", "Coding", "The code as a Coding"),
    _p("codeableConcept", "CodeableConcept", "The code as a CodeableConcept"),
    _p("target", "uri", "The value set to translate into"),
    _p("targetsystem", "uri", "The code system to translate into"),
    _p("reverse", "boolean", "Translate from target to source"),
)
_TRANSLATE_R5 = (
    _p("sourceCode", "code", "The code to translate"),
    _p("sourceSystem", "uri", "Its code system"),
    _p("sourceVersion", "string", "Its code system version"),
    _p("sourceScope", "uri", "The value set the code is from"),
    _p("sourceCoding", "Coding", "The code as a Coding"),
    _p("sourceCodeableConcept", "CodeableConcept", "The code as a CodeableConcept"),
    _p("targetCode", "code", "A target code to translate back (reverse)"),
    _p("targetCoding", "Coding", "A target Coding to translate back"),
    _p("targetCodeableConcept", "CodeableConcept", "A target CodeableConcept to translate back"),
    _p("targetScope", "uri", "The value set to translate into"),
    _p("targetSystem", "uri", "The code system to translate into"),
)
# the names of the request form of one FHIR version (url, conceptMap... are common)
TRANSLATE_R4_NAMES = tuple(p.name for p in _TRANSLATE_R4)
TRANSLATE_R5_NAMES = tuple(p.name for p in _TRANSLATE_R5)
_MATCH = _p(
    "match",
    None,
    "A mapping found",
    max_="*",
    parts=(
        _p("equivalence", "code", "How the target relates to the source (R4)"),
        _p("relationship", "code", "How the target relates to the source (R5)"),
        _p("concept", "Coding", "The code mapped to"),
        _p("originMap", "canonical", "The concept map of the mapping"),
    ),
)
_TRANSLATE_OUT = (
    _p("result", "boolean", "Whether a mapping was found", min=1),
    _p("message", "string", "Why not, or a warning"),
    _MATCH,
)

TRANSLATE = Operation(
    "ConceptMap-translate",
    "translate",
    "ConceptMap",
    "Concept Translation",
    HL7 + "ConceptMap-translate",
    "Codes a concept map maps a code to (R4 names; R5's names are taken too, one form per request)",
    (
        *_TRANSLATE_COMMON,
        *_TRANSLATE_R4,
        *(p for p in _TRANSLATE_R5 if p.name not in {q.name for q in _TRANSLATE_R4}),
        TX_RESOURCE,
    ),
    _TRANSLATE_OUT,
    refused=("dependency",),
)

TRANSLATE_R5 = Operation(
    "ConceptMap-translate",
    "translate",
    "ConceptMap",
    "Concept Translation",
    HL7 + "ConceptMap-translate",
    "Codes a concept map maps a code to, or from (target* parameters)",
    (
        *_TRANSLATE_COMMON,
        *_TRANSLATE_R5,
        _p("system", "uri", "Same as sourceSystem"),
        TX_RESOURCE,
    ),
    _TRANSLATE_OUT,
    refused=("dependency",),
)


def operations(r5: bool) -> tuple[Operation, ...]:
    """The operations of an R4 or R5 base, in CapabilityStatement order."""
    return (
        LOOKUP,
        CS_VALIDATE,
        SUBSUMES,
        EXPAND,
        VS_VALIDATE,
        BATCH_VALIDATE,
        TRANSLATE_R5 if r5 else TRANSLATE,
    )


def by_id(r5: bool) -> dict[str, Operation]:
    return {op.id: op for op in operations(r5)}


def _param(p: Param, use: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "use": use, "min": p.min, "max": p.max}
    out["documentation"] = p.doc
    if p.type is not None:
        out["type"] = p.type
    if p.parts:
        out["part"] = [_param(q, use) for q in p.parts]
    return out


def definition(op: Operation, base: str, fhir_version: str, version: str) -> dict[str, Any]:
    """The OperationDefinition of ``op`` as served at ``{base}/OperationDefinition/{id}``
    (R4 and R5 alike: the elements used are the same in both)."""
    out: dict[str, Any] = {
        "resourceType": "OperationDefinition",
        "id": op.id,
        "url": f"{base}/OperationDefinition/{op.id}",
        "version": version,
        "name": op.id.replace("-", ""),
        "title": op.title,
        "status": "active",
        "kind": "operation",
        "publisher": "fhirterm",
        "description": op.description,
        "affectsState": False,
        "code": op.code,
        "resource": [op.resource],
        "system": False,
        "type": True,
        "instance": True,
        "parameter": [
            *(_param(p, "in") for p in op.inputs),
            *(_param(p, "out") for p in op.outputs),
        ],
    }
    if op.base is not None:
        out["base"] = op.base
    return out
