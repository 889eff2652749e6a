"""Put an actual response into the form the reference runner compares.

What TxTester (hapifhir/org.hl7.fhir.core, org.hl7.fhir.validation/.../special/TxTester.java)
does to a response before `CompareUtilities` sees it, reimplemented on plain JSON:

* the client parses the response and TxTester composes it again, so empty arrays, empty
  objects and nulls are gone (`drop_empty`);
* an error status is an `EFhirClientException` carrying the OperationOutcome; the client
  (FhirRequestBuilder.unmarshalReference, FHIRToolingClient) only reports one that holds an
  error or fatal issue, and a 2xx OperationOutcome with such an issue is an error too
  (`reference_form`);
* scrubbers (TxTesterScrubbers), per operation as TxTester calls them: `text` and `meta`
  removed; extensions with an absolute URL the runner does not manage removed from every
  element (not below ValueSet.compose); Parameters lose `meta` and `diagnostics`
  parameters; OperationOutcome issues that have diagnostics and no details are dropped,
  and diagnostics cleared (`issue.location` is kept, so it is compared). A
  `cs-validate-code` error only loses its `text`;
* sorters (TxTesterSorters): Parameters by name (`property` by code then value,
  `designation` by language then value), nested OperationOutcome issues by severity, code,
  expression and text, `message` parts split on "; " and sorted; ValueSet extensions,
  expansion parameters, properties and `contains` (by code, a stable sort) with their
  designations and properties; CapabilityStatement and TerminologyCapabilities lists.

Strings are ordered as Java's `String.compareTo` orders them (UTF-16 code units).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

# TxTesterScrubbers.TxTesterScrubberVisitor.isManagedExtension (non-tight mode)
MANAGED_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
        "http://hl7.org/fhir/StructureDefinition/codesystem-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/codesystem-label",
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
        "http://hl7.org/fhir/StructureDefinition/translation",
        "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
        "http://hl7.org/fhir/StructureDefinition/valueset-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "http://hl7.org/fhir/StructureDefinition/valueset-label",
        "http://hl7.org/fhir/StructureDefinition/valueset-supplement",
        "http://hl7.org/fhir/test/CodeSystem/de-multi",
        "http://hl7.org/fhir/test/CodeSystem/en-multi",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-1",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-3",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-4",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-5",
        "http://hl7.org/fhir/test/ValueSet/extensions-bad-supplement",
        "http://hl7.org/fhir/test/ValueSet/simple-all",
        "http://hl7.org/fhir/test/ValueSet/simple-enumerated",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-use",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-status",
        "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
        "http://hl7.org/fhir/test/ValueSet/simple-filter-isa",
        "http://hl7.org/fhir/StructureDefinition/valueset-unclosed",
        "http://hl7.org/fhir/StructureDefinition/valueset-unclosed-reason",
    }
)

_TOKEN_SCHEME = re.compile(r"[^\W\d_][^\W_]*(?:[_\[\]][^\W_]*)*|[^\W\d_]")
_ISO_URNS = (
    "urn:iso:",
    "urn:iso-iec:",
    "urn:iso-cie:",
    "urn:iso-astm:",
    "urn:iso-ieee:",
    "urn:iec:",
)


def is_absolute_url(ref: Any) -> bool:
    """org.hl7.fhir.utilities.Utilities.isAbsoluteUrl."""
    if not isinstance(ref, str) or ":" not in ref:
        return False
    scheme, details = ref.split(":", 1)
    token = _TOKEN_SCHEME.fullmatch(scheme) is not None and scheme == scheme.lower()
    known = scheme in ("http", "https", "urn") or token or ref.startswith(_ISO_URNS)
    return known and len(details) > 0 and " " not in details


def is_managed(url: Any) -> bool:
    return not is_absolute_url(url) or url in MANAGED_EXTENSIONS


def drop_empty(v: Any) -> Any:
    """Remove nulls, empty arrays and empty objects, recursively (a FHIR parse + compose)."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            x = drop_empty(x)
            if x is not None and x != [] and x != {}:
                out[k] = x
        return out
    if isinstance(v, list):
        items = [drop_empty(x) for x in v]
        return [x for x in items if x is not None and x != [] and x != {}]
    return v


def _prune(owner: dict[str, Any], key: str) -> None:
    if owner.get(key) in ([], {}, None):
        owner.pop(key, None)


# -- scrubbers (TxTesterScrubbers) --------------------------------------------------------------


def _keep_managed(owner: dict[str, Any]) -> None:
    exts = owner.get("extension")
    if isinstance(exts, list):
        owner["extension"] = [
            x for x in exts if not isinstance(x, dict) or is_managed(x.get("url"))
        ]
        _prune(owner, "extension")


def _visit(v: Any) -> None:
    """TxTesterScrubberVisitor through ElementVisitor: every element (and resource) loses
    its unmanaged `extension` entries; the children of ValueSet.compose are not visited."""
    if isinstance(v, list):
        for x in v:
            _visit(x)
        return
    if not isinstance(v, dict):
        return
    _keep_managed(v)
    for k, x in list(v.items()):
        if k == "compose" and v.get("resourceType") == "ValueSet" and isinstance(x, dict):
            _keep_managed(x)
        else:
            _visit(x)
        _prune(v, k)


def scrub_domain_resource(res: dict[str, Any]) -> None:
    res.pop("text", None)
    res.pop("meta", None)
    _visit(res)


def scrub_operation_outcome(oo: dict[str, Any]) -> None:
    scrub_domain_resource(oo)
    issues = [
        i
        for i in oo.get("issue", [])
        if not (isinstance(i, dict) and "diagnostics" in i and not i.get("details"))
    ]
    for i in issues:
        if not isinstance(i, dict) or "diagnostics" not in i:
            continue
        if "x-request-id" not in str(i["diagnostics"]).lower():
            del i["diagnostics"]
    oo["issue"] = issues
    _prune(oo, "issue")


def scrub_parameters(p: dict[str, Any]) -> None:
    p.pop("meta", None)
    params = [
        x
        for x in p.get("parameter", [])
        if not (isinstance(x, dict) and x.get("name") == "diagnostics")
    ]
    p["parameter"] = params
    for x in params:
        res = x.get("resource") if isinstance(x, dict) else None
        if isinstance(res, dict):
            rt = res.get("resourceType")
            if rt == "ValueSet":
                scrub_domain_resource(res)
            elif rt == "OperationOutcome":
                scrub_operation_outcome(res)
            elif rt == "Parameters":
                scrub_parameters(res)
    _prune(p, "parameter")


# -- sorters (TxTesterSorters) ------------------------------------------------------------------


def jcmp(a: str, b: str) -> int:
    """Java String.compareTo: UTF-16 code units."""
    x, y = a.encode("utf-16-be"), b.encode("utf-16-be")
    return (x > y) - (x < y)


def _jkey(s: Any) -> bytes:
    return str(s if s is not None else "").encode("utf-16-be")


def _primitive(element: Any) -> str | None:
    """The primitive value of a `value[x]` in an element, as Java's primitiveValue()."""
    if not isinstance(element, dict):
        return None
    for k, v in element.items():
        if k.startswith("value") and not isinstance(v, dict | list):
            if isinstance(v, bool):
                return "true" if v else "false"
            return str(v)
    return None


def _sort(
    items: Any, compare: Callable[[Any, Any], int], touch: Callable[[Any], None] | None = None
) -> None:
    """Collections.sort (stable). `touch` is the comparator's side effect on each element
    it sees: Java calls it only when the list has two or more elements."""
    if not isinstance(items, list) or len(items) < 2:
        return
    if touch is not None:
        for x in items:
            touch(x)
    items.sort(key=cmp_to_key(compare))


def sort_extensions(exts: Any) -> None:
    """ExtensionSorter: by url; each compared extension's own extensions sorted first."""
    _sort(
        exts,
        lambda a, b: jcmp(str(a.get("url", "")), str(b.get("url", ""))),
        lambda x: sort_extensions(x.get("extension")) if isinstance(x, dict) else None,
    )


def _part(p: dict[str, Any], name: str) -> dict[str, Any] | None:
    for x in p.get("part", []) or []:
        if isinstance(x, dict) and x.get("name") == name:
            return x
    return None


def _part_value(p: dict[str, Any], name: str, default: str | None) -> str | None:
    part = _part(p, name)
    v = _primitive(part) if part is not None else None
    return v.lower() if v is not None else default


def _param_cmp(o1: dict[str, Any], o2: dict[str, Any]) -> int:
    """ParameterSorter.compare (after its side effects, done by `_param_touch`)."""
    n1, n2 = str(o1.get("name", "")), str(o2.get("name", ""))
    if n1 == n2 == "property":
        c1, c2 = _part_value(o1, "code", ""), _part_value(o2, "code", "")
        if c1 != c2:
            return jcmp(c1 or "", c2 or "")
        v1, v2 = _part_value(o1, "value", None), _part_value(o2, "value", None)
        if v1 is not None and v2 is not None and v1 != v2:
            return jcmp(v1, v2)
    if n1 == n2 == "designation":
        c1, c2 = _part_value(o1, "language", ""), _part_value(o2, "language", "")
        if c1 != c2:
            return jcmp(c1 or "", c2 or "")
        v1, v2 = _part_value(o1, "value", None), _part_value(o2, "value", None)
        if v1 is not None and v2 is not None and v1 != v2:
            return jcmp(v1, v2)
    return jcmp(n1, n2)


def _param_touch(p: Any) -> None:
    if isinstance(p, dict):
        sort_extensions(p.get("extension"))
        _sort(p.get("part"), _param_cmp, _param_touch)


def _issue_cmp(o1: dict[str, Any], o2: dict[str, Any]) -> int:
    """OperationIssueSorter: severity, code, first expression, details.text."""
    for get in (
        lambda i: i.get("severity", ""),
        lambda i: i.get("code", ""),
        lambda i: (i.get("expression") or [""])[0],
        lambda i: (i.get("details") or {}).get("text", ""),
    ):
        r = jcmp(str(get(o1)), str(get(o2)))
        if r:
            return r
    return 0


def sort_parameters(po: dict[str, Any]) -> None:
    params = po.get("parameter")
    _sort(params, _param_cmp, _param_touch)
    for p in params or []:
        if not isinstance(p, dict):
            continue
        res = p.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == "OperationOutcome":
            _sort(res.get("issue"), _issue_cmp)
        if isinstance(res, dict) and res.get("resourceType") == "Parameters":
            sort_parameters(res)
        if p.get("name") == "message":
            pv = _primitive(p)
            if pv is not None and "; " in pv:
                key = next(k for k in p if k.startswith("value"))
                p[key] = "; ".join(sorted(pv.split("; "), key=_jkey))


def _designation_cmp(o1: dict[str, Any], o2: dict[str, Any]) -> int:
    if "language" in o1 and "language" in o2:
        return jcmp(str(o1["language"]), str(o2["language"]))
    return jcmp(str(o1.get("value", "")), str(o2.get("value", "")))


def _by(key: str) -> Callable[[Any, Any], int]:
    return lambda a, b: jcmp(str(a.get(key, "")), str(b.get(key, "")))


def _property_defn_cmp(o1: dict[str, Any], o2: dict[str, Any]) -> int:
    u1, u2 = o1.get("uri"), o2.get("uri")
    if u1 is None or u2 is None:
        i = 0 if u1 is None and u2 is None else (-1 if u1 is None else 1)
    else:
        i = jcmp(str(u1), str(u2))
    return i or jcmp(str(o1.get("code", "")), str(o2.get("code", "")))


def _exp_param_cmp(o1: dict[str, Any], o2: dict[str, Any]) -> int:
    r = jcmp(str(o1.get("name", "")), str(o2.get("name", "")))
    return r or jcmp(_primitive(o1) or "", _primitive(o2) or "")


def _contains_features(cc: dict[str, Any]) -> None:
    _sort(cc.get("contains"), _by("code"))
    sort_extensions(cc.get("extension"))
    _sort(cc.get("designation"), _designation_cmp)
    _sort(cc.get("property"), _by("code"))
    for c in cc.get("contains", []) or []:
        if isinstance(c, dict):
            _contains_features(c)


def sort_value_set(vs: dict[str, Any]) -> None:
    sort_extensions(vs.get("extension"))
    exp = vs.get("expansion")
    if isinstance(exp, dict):
        _sort(exp.get("parameter"), _exp_param_cmp, lambda x: sort_extensions(x.get("extension")))
        _sort(exp.get("property"), _property_defn_cmp)
        sort_extensions(exp.get("extension"))
        _sort(exp.get("contains"), _by("code"))
        for c in exp.get("contains", []) or []:
            if isinstance(c, dict):
                _contains_features(c)


def _text_cmp(a: Any, b: Any) -> int:
    return jcmp(str(a), str(b))


def sort_cap_stmt(cs: dict[str, Any]) -> None:
    for k in ("format", "instantiates", "imports", "acceptLanguage"):
        _sort(cs.get(k), _text_cmp)
    _sort(cs.get("rest"), _by("mode"))
    for r in cs.get("rest", []) or []:
        for res in r.get("resource", []) or []:
            _sort(res.get("supportedProfile"), _text_cmp)
            _sort(res.get("interaction"), _by("code"))
            _sort(res.get("searchInclude"), _text_cmp)
            _sort(res.get("searchRevInclude"), _text_cmp)
            _sort(res.get("searchParam"), _by("name"))
            _sort(res.get("operation"), _by("name"))
        _sort(r.get("resource"), _by("type"))
        _sort(r.get("interaction"), _by("code"))
        _sort(r.get("searchParam"), _by("name"))
        _sort(r.get("operation"), _by("name"))
        _sort(r.get("compartment"), _text_cmp)


def sort_term_caps(tc: dict[str, Any]) -> None:
    _sort(tc.get("codeSystem"), _by("uri"))
    for cs in tc.get("codeSystem", []) or []:
        _sort(
            cs.get("version"),
            lambda a, b: (
                0 if a.get("code") is None or b.get("code") is None else jcmp(a["code"], b["code"])
            ),
        )
        for v in cs.get("version", []) or []:
            _sort(v.get("language"), _text_cmp)
            _sort(v.get("property"), _text_cmp)
            _sort(v.get("filter"), _by("code"))
    exp = tc.get("expansion")
    if isinstance(exp, dict):
        _sort(exp.get("parameter"), _by("name"))


# -- per operation (TxTester.expand/validate/validateCS/lookup/translate/...) ------------------


def _has_error(oo: dict[str, Any]) -> bool:
    return any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in oo.get("issue", [])
    )


def reference_form(operation: str, doc: Any, status: int) -> tuple[Any, str | None]:
    """The document TxTester composes for `operation` from a response, and why there is none
    when the reference client would have raised instead (the test then fails).

    `doc` is the parsed response (after any R4 -> R5 conversion); a new object is returned.
    """
    res = drop_empty(doc)
    if not isinstance(res, dict) or "resourceType" not in res:
        return None, "the response is not a FHIR resource"
    ok = 200 <= status < 300
    rt = res["resourceType"]
    if rt == "OperationOutcome" and operation not in ("metadata", "term-caps"):
        # FhirRequestBuilder.unmarshalReference: an OperationOutcome is an error when it has
        # an error or fatal issue; without one the client returns null and TxTester fails
        if not _has_error(res):
            return (
                None,
                "OperationOutcome without an error or fatal issue: the client returns nothing",
            )
        if operation == "cs-validate-code":
            res.pop("text", None)  # TxTester.validateCS: oo.setText(null), no scrub
        else:
            scrub_operation_outcome(res)
        return res, None
    if not ok:
        return None, f"HTTP {status} with a {rt}: the client expects an OperationOutcome"
    if operation == "expand":
        if rt != "ValueSet":
            return None, f"expected a ValueSet, found a {rt}"
        scrub_domain_resource(res)
        sort_value_set(res)
    elif operation == "metadata":
        sort_cap_stmt(res)
    elif operation == "term-caps":
        sort_term_caps(res)
    elif operation == "batch":
        for entry in res.get("entry", []) or []:
            r = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(r, dict) and r.get("resourceType") == "Parameters":
                scrub_parameters(r)
                sort_parameters(r)
            elif isinstance(r, dict) and r.get("resourceType") == "OperationOutcome":
                scrub_operation_outcome(r)
    else:
        if rt != "Parameters":
            return None, f"expected a Parameters, found a {rt}"
        scrub_parameters(res)
        sort_parameters(res)
    return res, None
