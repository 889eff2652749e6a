"""JSON type checks of what a client sends: values by their FHIR type, resources by shape.

FHIR JSON gives every element one JSON type: a ``valueCode`` is a string, a
``valueInteger`` a number without a fraction, ``compose.include`` an array of
objects. The operations read request resources (``tx-resource``, ``valueSet``,
``conceptMap``) as plain dicts and trust those types, so they are checked here,
where the request comes in: anything of the wrong JSON type is an
``InvalidRequest`` naming the element, what was sent (shortened) and what was
expected. Nothing is coerced.

The resource shapes list the elements of CodeSystem, ValueSet and ConceptMap
(R4 and R5) this server reads, with their JSON types; elements it does not read
are not looked at. A check walks the resource once (about a microsecond per
element), which is small beside parsing it.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidRequest

# FHIR primitive type -> the JSON type it is written as (R4 and R5; integer64 is a string)
STRING_TYPES = frozenset(
    {
        "string",
        "code",
        "uri",
        "url",
        "canonical",
        "id",
        "oid",
        "uuid",
        "markdown",
        "base64Binary",
        "date",
        "dateTime",
        "instant",
        "time",
        "integer64",
        "xhtml",
    }
)
INTEGER_TYPES = frozenset({"integer", "unsignedInt", "positiveInt"})
PRIMITIVES = STRING_TYPES | INTEGER_TYPES | {"boolean", "decimal"}

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# FHIR integer syntax, R4's (-0) and R5's (+5) regexes together; ASCII digits only, at
# most 10 of them (no int() of a 4,301-digit text)
INTEGER_SYNTAX = re.compile(r"[-+]?(0|[1-9][0-9]{0,9})", re.ASCII)

ECHO = 60  # characters of a sent value echoed in a message


def shown(value: Any) -> str:
    """A sent value for a message: its JSON-ish text, shortened to ``ECHO`` characters."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dict):
        text = "an object"
        if value:
            text += (
                " {"
                + ", ".join(repr(k)[:20] for k in list(value)[:3])
                + ("...}" if len(value) > 3 else "}")
            )
    elif isinstance(value, list):
        text = f"an array of {len(value)}"
    else:
        text = repr(value)
    return text if len(text) <= ECHO else text[: ECHO - 3] + "..."


def _fail(where: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f"{where} must be {expected}, found {shown(value)}", expression=where)


def integer(value: Any, where: str) -> int:
    """A JSON integer within FHIR's 32-bit range; InvalidRequest otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, "an integer (a JSON number without a fraction)", value)
    if not INT32_MIN <= value <= INT32_MAX:
        raise _fail(where, f"an integer from {INT32_MIN} to {INT32_MAX}", value)
    return value


def integer_text(text: str, where: str) -> int:
    """An integer written in FHIR integer syntax (query form); InvalidRequest otherwise."""
    if INTEGER_SYNTAX.fullmatch(text) is None:
        raise _fail(where, "an integer (digits, optionally signed, no leading zeros)", text)
    return integer(int(text), where)


def primitive(type_: str, value: Any, where: str) -> None:
    """Check ``value`` is the JSON type FHIR writes ``type_`` as (a primitive type name)."""
    if type_ in STRING_TYPES:
        if not isinstance(value, str):
            raise _fail(where, f"a string (FHIR {type_})", value)
    elif type_ == "boolean":
        if not isinstance(value, bool):
            raise _fail(where, "true or false (a JSON boolean)", value)
    elif type_ in INTEGER_TYPES:
        integer(value, where)
    elif type_ == "decimal":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(where, "a number (FHIR decimal)", value)
    else:
        raise InvalidRequest(f"{where}: '{type_}' is not a FHIR data type", expression=where)


def value_x(suffix: str, value: Any, where: str) -> None:
    """Check a ``value[x]`` element by its type suffix (``Code``, ``Coding``...)."""
    type_ = suffix[:1].lower() + suffix[1:]
    if suffix[:1].isupper() and type_ in PRIMITIVES:
        primitive(type_, value, where)
    elif suffix in COMPLEX:
        check(value, COMPLEX[suffix], where)
    elif suffix in DATA_TYPES:
        if not isinstance(value, dict):
            raise _fail(where, f"an object (FHIR {suffix})", value)
    else:
        raise InvalidRequest(
            f"{where}: 'value{shown(suffix)[1:-1]}' is not a FHIR value[x] element "
            "(valueCode, valueString, valueCoding...)",
            expression=where,
        )


# A shape is a JSON type name ("string", "boolean", "integer", "decimal"), a dict of
# element -> shape (an object; VALUE_X in it: its value[x] elements are checked by
# suffix), or a list of one shape (an array of them). "extension" and
# "modifierExtension" are checked everywhere; unlisted elements are not read.
Shape = str | dict[str, Any] | list[Any]
S, B, INT = "string", "boolean", "integer"
VALUE_X = "value[x]"

CODING: dict[str, Any] = {"system": S, "version": S, "code": S, "display": S, "userSelected": B}
CODEABLE_CONCEPT: dict[str, Any] = {"coding": [CODING], "text": S}
COMPLEX: dict[str, dict[str, Any]] = {"Coding": CODING, "CodeableConcept": CODEABLE_CONCEPT}
# the other FHIR data types a value[x] may hold (R4 and R5): objects, not looked into
DATA_TYPES = frozenset(
    {
        "Address", "Age", "Annotation", "Attachment", "Availability", "CodeableReference",
        "ContactDetail", "ContactPoint", "Contributor", "Count", "DataRequirement", "Distance",
        "Dosage", "Duration", "Expression", "ExtendedContactDetail", "HumanName", "Identifier",
        "Meta", "Money", "MonetaryComponent", "ParameterDefinition", "Period", "Quantity",
        "Range", "Ratio", "RatioRange", "Reference", "RelatedArtifact", "SampledData",
        "Signature", "Timing", "TriggerDefinition", "UsageContext", "VirtualServiceDetail",
    }
)  # fmt: skip
EXTENSION: dict[str, Any] = {"url": S, VALUE_X: True}
DESIGNATION: dict[str, Any] = {
    "language": S,
    "use": CODING,
    "additionalUse": [CODING],
    "value": S,
}
PROPERTY_VALUE: dict[str, Any] = {"code": S, VALUE_X: True}
PROPERTY_VALUE["subProperty"] = [PROPERTY_VALUE]

_METADATA: dict[str, Any] = {
    "id": S,
    "url": S,
    "version": S,
    "name": S,
    "title": S,
    "status": S,
    "experimental": B,
    "date": S,
    "publisher": S,
    "description": S,
    "purpose": S,
    "copyright": S,
    "language": S,
}

CS_CONCEPT: dict[str, Any] = {
    "code": S,
    "display": S,
    "definition": S,
    "designation": [DESIGNATION],
    "property": [PROPERTY_VALUE],
}
CS_CONCEPT["concept"] = [CS_CONCEPT]
CODE_SYSTEM: dict[str, Any] = {
    **_METADATA,
    "caseSensitive": B,
    "valueSet": S,
    "hierarchyMeaning": S,
    "compositional": B,
    "versionNeeded": B,
    "content": S,
    "supplements": S,
    "count": INT,
    "filter": [{"code": S, "description": S, "operator": [S], "value": S}],
    "property": [{"code": S, "uri": S, "description": S, "type": S}],
    "concept": [CS_CONCEPT],
}

INCLUDE: dict[str, Any] = {
    "system": S,
    "version": S,
    "concept": [{"code": S, "display": S, "designation": [DESIGNATION]}],
    "filter": [{"property": S, "op": S, "value": S}],
    "valueSet": [S],
    "copyright": S,
}
CONTAINS: dict[str, Any] = {
    "system": S,
    "abstract": B,
    "inactive": B,
    "version": S,
    "code": S,
    "display": S,
    "designation": [DESIGNATION],
    "property": [PROPERTY_VALUE],
}
CONTAINS["contains"] = [CONTAINS]
VALUE_SET: dict[str, Any] = {
    **_METADATA,
    "immutable": B,
    "compose": {
        "lockedDate": S,
        "inactive": B,
        "include": [INCLUDE],
        "exclude": [INCLUDE],
        "property": [S],
    },
    "expansion": {
        "identifier": S,
        "next": S,
        "timestamp": S,
        "total": INT,
        "offset": INT,
        "parameter": [{"name": S, VALUE_X: True}],
        "property": [{"code": S, "uri": S}],
        "contains": [CONTAINS],
    },
}

DEPENDS_ON: dict[str, Any] = {
    "property": S,
    "attribute": S,
    "system": S,
    "value": S,
    "display": S,
    "valueSet": S,
    VALUE_X: True,
}
TARGET: dict[str, Any] = {
    "code": S,
    "display": S,
    "valueSet": S,
    "equivalence": S,
    "relationship": S,
    "comment": S,
    "dependsOn": [DEPENDS_ON],
    "product": [DEPENDS_ON],
    "property": [PROPERTY_VALUE],
}
CONCEPT_MAP: dict[str, Any] = {
    **_METADATA,
    "sourceUri": S,
    "sourceCanonical": S,
    "targetUri": S,
    "targetCanonical": S,
    "sourceScopeUri": S,
    "sourceScopeCanonical": S,
    "targetScopeUri": S,
    "targetScopeCanonical": S,
    "property": [{"code": S, "uri": S, "description": S, "type": S, "system": S}],
    "group": [
        {
            "source": S,
            "sourceVersion": S,
            "target": S,
            "targetVersion": S,
            "element": [{"code": S, "display": S, "valueSet": S, "noMap": B, "target": [TARGET]}],
            "unmapped": {
                "mode": S,
                "code": S,
                "display": S,
                "url": S,
                "valueSet": S,
                "relationship": S,
                "otherMap": S,
            },
        }
    ],
}

RESOURCES: dict[str, dict[str, Any]] = {
    "CodeSystem": CODE_SYSTEM,
    "ValueSet": VALUE_SET,
    "ConceptMap": CONCEPT_MAP,
}


def resource(res: Any, where: str, expected: str | None = None) -> dict[str, Any]:
    """Check a resource sent in a request; InvalidRequest naming the first element of the
    wrong JSON type. ``expected`` is the resource type required, if one is."""
    if not isinstance(res, dict):
        raise _fail(where, f"a {expected or 'resource'} (a JSON object)", res)
    rt = res.get("resourceType")
    if not isinstance(rt, str) or (expected is not None and rt != expected):
        raise _fail(f"{where}.resourceType", f"'{expected}'" if expected else "a resource type", rt)
    shape = RESOURCES.get(rt)
    if shape is not None and not _ok(res, shape):
        # the path of the first mismatch is built only now (checking without one is
        # about three times faster on a large code system)
        check(res, shape, where)
    contained = res.get("contained")
    if contained is not None:
        if not isinstance(contained, list):
            raise _fail(f"{where}.contained", "an array of resources", contained)
        for i, c in enumerate(contained):
            resource(c, f"{where}.contained[{i}]")
    return res


def check(value: Any, shape: Shape, where: str) -> None:
    """Check ``value`` against ``shape``; InvalidRequest at the first mismatch."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        for key, v in value.items():
            sub = shape.get(key)
            if sub is S:
                # the common case inline: a string element (no path built unless it fails)
                if not isinstance(v, str):
                    primitive(S, v, f"{where}.{key}")
            elif sub is not None:
                check(v, sub, f"{where}.{key}")
            elif key in ("extension", "modifierExtension"):
                check(v, [EXTENSION], f"{where}.{key}")
            elif key.startswith("value") and VALUE_X in shape:
                value_x(key[5:], v, f"{where}.{key}")
            elif key.startswith("_") and not isinstance(v, dict | list):
                # a primitive's id and extensions (or an array of them, with nulls)
                raise _fail(f"{where}.{key}", "an object or an array", v)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise _fail(where, "an array", value)
        inner = shape[0]
        for i, v in enumerate(value):
            check(v, inner, f"{where}[{i}]")
    else:
        primitive(shape, value, where)


_EXTENSIONS = [EXTENSION]
# value[x] suffix of a primitive type -> the Python type orjson reads its JSON type as
_PY_TYPES: dict[str, type] = {
    **{t[0].upper() + t[1:]: str for t in STRING_TYPES},
    "Boolean": bool,
    "Decimal": float,
    **{t[0].upper() + t[1:]: int for t in INTEGER_TYPES},
}


def _ok(value: Any, shape: Shape) -> bool:
    """Whether ``check`` would pass: the same rules, without building any path."""
    if type(shape) is dict:
        if type(value) is not dict:
            return False
        for key, v in value.items():
            sub = shape.get(key)
            if sub is S:
                if type(v) is not str:
                    return False
            elif sub is not None:
                if not _ok(v, sub):
                    return False
            elif key == "extension" or key == "modifierExtension":
                if not _ok(v, _EXTENSIONS):
                    return False
            elif key[:5] == "value" and VALUE_X in shape:
                if not _value_ok(key[5:], v):
                    return False
            elif key[:1] == "_" and type(v) is not dict and type(v) is not list:
                return False
        return True
    if type(shape) is list:
        if type(value) is not list:
            return False
        inner = shape[0]
        return all(_ok(v, inner) for v in value)
    try:
        primitive(shape, value, "")  # type: ignore[arg-type]
    except InvalidRequest:
        return False
    return True


def _value_ok(suffix: str, value: Any) -> bool:
    py = _PY_TYPES.get(suffix)
    if py is str or py is bool:
        return type(value) is py
    if py is int:
        return type(value) is int and INT32_MIN <= value <= INT32_MAX
    if py is float:
        return type(value) is float or type(value) is int
    complex_ = COMPLEX.get(suffix)
    if complex_ is not None:
        return _ok(value, complex_)
    return (
        suffix[:1].isupper()
        and suffix[0].lower() + suffix[1:] not in PRIMITIVES
        and type(value) is dict
    )
