"""Results -> FHIR JSON dicts (Parameters, OperationOutcome). Plain dicts, no models."""

from __future__ import annotations

from typing import Any

from ..errors import TerminologyError, clip, clip_message
from ..model import Coding, Designation, Property
from ..operations.contracts import (
    ExpandResult,
    ExpansionItem,
    Issue,
    LookupResult,
    TranslateResult,
    ValidateCodeResult,
)
from . import forms

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"


_VALUE_KEYS: dict[str, str] = {}


def value_key(type_: str) -> str:
    """The value[x] element name for a FHIR type: code -> valueCode, Coding -> valueCoding."""
    key = _VALUE_KEYS.get(type_)
    if key is None:
        key = "value" + type_[0].upper() + type_[1:]
        if len(_VALUE_KEYS) < 256:  # FHIR has a few dozen types; bounded against odd content
            _VALUE_KEYS[type_] = key
    return key


def parameters(params: list[dict[str, Any]]) -> dict[str, Any]:
    """A Parameters resource (without ``parameter`` when there are none: no empty arrays)."""
    if not params:
        return {"resourceType": "Parameters"}
    return {"resourceType": "Parameters", "parameter": params}


def _property(p: Property, name: str = "property") -> dict[str, Any]:
    code, type_, value, description, sub = p
    if value is not None and not sub:
        # the common shape (a $lookup lists dozens: parents, children, siblings),
        # built in one expression: about half the time of the general one below
        key = _VALUE_KEYS.get(type_) or value_key(type_)
        if description:
            return {
                "name": name,
                "part": [
                    {"name": "code", "valueCode": code},
                    {"name": "value", key: value},
                    {"name": "description", "valueString": description},
                ],
            }
        return {
            "name": name,
            "part": [{"name": "code", "valueCode": code}, {"name": "value", key: value}],
        }
    parts: list[dict[str, Any]] = [{"name": "code", "valueCode": code}]
    if value is not None:
        parts.append({"name": "value", value_key(type_): value})
    if description:
        parts.append({"name": "description", "valueString": description})
    if sub:
        parts += [_property(s, "subproperty") for s in sub]
    return {"name": name, "part": parts}


def _designation(d: Designation) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if d.language:
        parts.append({"name": "language", "valueCode": d.language})
    if d.use:
        parts.append({"name": "use", "valueCoding": d.use})
    if d.source:
        parts.append({"name": "source", "valueCanonical": d.source})
    parts.append({"name": "value", "valueString": d.value})
    return {"name": "designation", "part": parts}


def lookup(r: LookupResult) -> dict[str, Any]:
    out: list[dict[str, Any]] = [
        {"name": "name", "valueString": r.name},
        {"name": "code", "valueCode": r.code},
        {"name": "system", "valueUri": r.system},
    ]
    if r.version:
        out.append({"name": "version", "valueString": r.version})
    if r.display is not None:
        out.append({"name": "display", "valueString": r.display})
    if r.definition:
        out.append({"name": "definition", "valueString": r.definition})
    out.append({"name": "abstract", "valueBoolean": r.abstract})
    out += [_designation(d) for d in r.designations]
    out += [_property(p) for p in r.properties]
    out += [{"name": "used-supplement", "valueCanonical": u} for u in r.used_supplements]
    return parameters(out)


def issue(i: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": i.severity, "code": i.code}
    details: dict[str, Any] = {"text": clip_message(i.text)}
    if i.tx_code:
        details["coding"] = [{"system": TX_ISSUE_TYPE, "code": i.tx_code}]
    out["details"] = details
    if i.message_id:
        out["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
                "valueString": i.message_id,
            }
        ]
    # `expression` only: `location` (an XPath in R4, deprecated in favour of `expression`)
    # is not written.
    if i.expression:
        out["expression"] = [clip(i.expression)]
    return out


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue(i) for i in issues]}


def validate_code(r: ValidateCodeResult) -> dict[str, Any]:
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": r.result}]
    # A code with leading/trailing or doubled spaces is not a valid FHIR code:
    # it is not echoed (the message quotes it).
    if r.code and r.code == " ".join(r.code.split()):
        out.append({"name": "code", "valueCode": r.code})
    if r.system:
        out.append({"name": "system", "valueUri": r.system})
    if r.version:
        out.append({"name": "version", "valueString": r.version})
    if r.display is not None:
        out.append({"name": "display", "valueString": r.display})
    if r.codeable_concept is not None:
        cc: dict[str, Any] = {
            "coding": [
                {
                    k: v
                    for k, v in (
                        ("system", c.system),
                        ("version", c.version),
                        ("code", c.code),
                        ("display", c.display),
                    )
                    if v is not None
                }
                for c in r.codeable_concept
            ]
        }
        if r.text is not None:
            cc["text"] = r.text
        out.append({"name": "codeableConcept", "valueCodeableConcept": cc})
    if r.inactive is not None:
        out.append({"name": "inactive", "valueBoolean": r.inactive})
    if r.status:
        out.append({"name": "status", "valueCode": r.status})
    if r.normalized_code:
        out.append({"name": "normalized-code", "valueCode": r.normalized_code})
    unknown = "x-caused-by-unknown-system" if r.unknown_is_cause else "x-unknown-system"
    out.extend({"name": unknown, "valueCanonical": u} for u in r.unknown_systems)
    if r.message:
        out.append({"name": "message", "valueString": clip_message(r.message)})
    if r.issues:
        out.append({"name": "issues", "resource": operation_outcome(r.issues)})
    return parameters(out)


VALUESET_UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
VS_META = (
    "language",
    "url",
    "version",
    "name",
    "title",
    "status",
    "experimental",
)  # what an expansion repeats of its value set (as the reference server does: no narrative
# metadata such as publisher, description or copyright)


def _contains(i: ExpansionItem, r5: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"system": i.system}
    if i.extensions:
        out["extension"] = list(i.extensions)
    if i.version:
        out["version"] = i.version
    if i.abstract:
        out["abstract"] = True
    if i.inactive:
        out["inactive"] = True
    out["code"] = i.code
    if i.display is not None:
        out["display"] = i.display
    if i.designations:
        out["designation"] = [
            {
                k: v
                for k, v in (
                    ("extension", list(d.extensions)),
                    ("language", d.language),
                    ("use", d.use),
                    ("value", d.value),
                )
                if v
            }
            for d in i.designations
        ]
    if i.children:
        out["contains"] = [_contains(c, r5) for c in i.children]
    if i.properties and r5:
        out["property"] = [{"code": p.code, value_key(p.type): p.value} for p in i.properties]
    elif i.properties:
        # R4 has no contains.property: the R5 element travels as its cross-version extension.
        out["extension"] = out.get("extension", []) + [
            {
                "url": forms.CONTAINS_PROPERTY_EXT,
                "extension": [
                    {"url": "code", "valueCode": p.code},
                    {"url": "value", value_key(p.type): p.value},
                ],
            }
            for p in i.properties
        ]
    return out


def expansion(
    r: ExpandResult, identifier: str, timestamp: str, include_definition: bool, r5: bool = False
) -> dict[str, Any]:
    vs = r.value_set
    out: dict[str, Any] = {"resourceType": "ValueSet"}
    if vs.get("id"):
        out["id"] = vs["id"]
    if include_definition and vs.get("extension"):
        out["extension"] = vs["extension"]  # the value set's own, with its definition only
    out.update((k, vs[k]) for k in VS_META if k in vs)
    if "status" not in out:
        out["status"] = "unknown"  # required in FHIR; the value set did not say
    if include_definition and "compose" in vs:
        # the value set may be written in R5's form: R4 gets R5's elements as extensions
        out["compose"] = vs["compose"] if r5 else forms.compose_r4(vs["compose"])
    exp: dict[str, Any] = {}
    if r.unclosed:
        exp["extension"] = [
            {"url": VALUESET_UNCLOSED, "valueBoolean": True},
            *({"url": VALUESET_UNCLOSED + "-reason", "valueString": why} for why in r.unclosed),
        ]
    exp.update(identifier=identifier, timestamp=timestamp, total=r.total)
    if r.offset is not None:
        exp["offset"] = r.offset
    if r.parameters:
        exp["parameter"] = [{"name": n, value_key(t): v} for n, t, v in r.parameters]
    if r.properties and r5:
        exp["property"] = [{"code": c, "uri": u} if u else {"code": c} for c, u in r.properties]
    elif r.properties:
        # R4 has no expansion.property: the R5 element travels as its cross-version extension.
        exp["extension"] = exp.get("extension", []) + [
            {
                "url": forms.EXPANSION_PROPERTY_EXT,
                "extension": [{"url": "code", "valueCode": c}]
                + ([{"url": "uri", "valueUri": u}] if u else []),
            }
            for c, u in r.properties
        ]
    if r.items:
        exp["contains"] = [_contains(i, r5) for i in r.items]
    out["expansion"] = exp
    return out


def subsumes(outcome: str) -> dict[str, Any]:
    return parameters([{"name": "outcome", "valueCode": outcome}])


# a match's R4 equivalence -> R5 relationship; a match says "unmatched" where a map has
# noMap, which $translate reports as not related
R4_TO_R5_RELATIONSHIP = {**forms.EQUIVALENCE_TO_RELATIONSHIP, "unmatched": "not-related-to"}


def _coding(c: Coding) -> dict[str, Any]:
    return {
        k: v
        for k, v in (
            ("system", c.system),
            ("version", c.version),
            ("code", c.code),
            ("display", c.display),
        )
        if v
    }


def translate(r: TranslateResult, r5: bool = False) -> dict[str, Any]:
    """R4: match.equivalence, concept and source (the map); R5: match.relationship, concept
    and originMap, and in reverse concept is the code asked about and source the concept
    mapped from.

    A request in R5's names (``r.r5_names``) is answered in R5's match shape at R4 too, with
    the link's R4 ``equivalence`` in place of ``relationship``, which R4 lacks (as R4 servers
    that speak R5 $translate, tx.fhir.org among them, answer it).
    """
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": r.result}]
    if r.message:
        out.append({"name": "message", "valueString": clip_message(r.message)})
    for m in r.matches:
        parts: list[dict[str, Any]]
        if not (r5 or r.r5_names):
            parts = [
                {"name": "equivalence", "valueCode": m.equivalence},
                {"name": "concept", "valueCoding": _coding(m.concept)},
                {"name": "source", "valueUri": m.source},
            ]
        else:
            # R5 reports the link as the map states it: in reverse, concept is the
            # link's target (the code asked about) and source the concept mapped from.
            reverse = m.link_target is not None
            eq = (m.link_equivalence or m.equivalence) if reverse else m.equivalence
            parts = [
                {"name": "relationship", "valueCode": R4_TO_R5_RELATIONSHIP.get(eq, "related-to")}
                if r5
                else {"name": "equivalence", "valueCode": eq},
                {"name": "concept", "valueCoding": _coding(m.link_target or m.concept)},
                {
                    "name": "originMap",
                    "valueCanonical": f"{m.source}|{m.map_version}" if m.map_version else m.source,
                },
            ]
            if reverse:
                parts.append({"name": "source", "valueCoding": _coding(m.concept)})
        if m.comment:
            parts.append({"name": "comment", "valueString": m.comment})
        if m.link_source:
            parts.append({"name": "reference", "valueUri": m.link_source})
        out.append({"name": "match", "part": parts})
    return parameters(out)


def batch_validate(results: list[ValidateCodeResult | TerminologyError]) -> dict[str, Any]:
    """One ``validation`` per entry: its Parameters, or an OperationOutcome for an entry in error."""
    out: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, TerminologyError):
            body = operation_outcome([Issue("error", r.issue_type, r.message, r.tx_code)])
        else:
            body = validate_code(r)
        out.append({"name": "validation", "resource": body})
    return parameters(out)
