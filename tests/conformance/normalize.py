"""Put an actual response into the form the expected responses are written in.

What the reference runner does to a response before comparing (TxTester, its scrubbers and
sorters, and the FHIR parse/compose round trip), reimplemented on plain JSON:

* empty arrays, empty objects and nulls are dropped (a FHIR serialiser never writes them);
* ValueSet, OperationOutcome, CapabilityStatement, TerminologyCapabilities: `text` and
  `meta` are removed; for ValueSet and OperationOutcome, extensions with an absolute URL the
  runner does not manage are removed too (not inside `ValueSet.compose`), since a server may
  add its own. A URL the expected document requires (non-optional) is always kept;
* Parameters: `meta` is removed; a `message` parameter made of `; `-separated parts has its
  parts sorted (also in nested Parameters, as in `$batch-validate-code`);
* R4 (`r4_to_r5`): the R5 elements the runner carries as cross-version extensions in R4
  (ValueSet.expansion.property and .contains.property, IG page "R4 and the Test Cases")
  are turned back into R5 elements. The scrub keeps those extensions, since the reference
  runner converts an R4 response to R5 before it scrubs (see `R4_ELEMENT_EXTENSIONS`).

Array order is not normalised here: the comparer matches arrays without regard to order.
"""

from __future__ import annotations

from typing import Any

# Extensions the reference runner keeps in non-tight mode (TxTesterScrubbers).
MANAGED_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
        "http://hl7.org/fhir/StructureDefinition/codesystem-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/codesystem-label",
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
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
        "http://hl7.org/fhir/test/ValueSet/simple-filter-isa",
    }
)

R4_EXPANSION_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
)
R4_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)

# The R4 forms of R5 elements (lifted back by `r4_to_r5`) are never scrubbed: the reference
# runner parses an R4 response and converts it to R5 in its R4 client (TerminologyClientR4,
# VersionConvertor_40_50: ValueSet40_50.convertValueSetExpansionComponent and
# convertValueSetExpansionContainsComponent) before TxTesterScrubbers see it, so by then
# these extensions are `property` elements.
R4_ELEMENT_EXTENSIONS = frozenset({R4_EXPANSION_PROPERTY, R4_CONTAINS_PROPERTY})


def drop_empty(v: Any) -> Any:
    """Remove nulls, empty arrays and empty objects, recursively."""
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


def required_extension_urls(expected: Any) -> set[str]:
    """Extension URLs the expected document requires (entries without `$optional$`)."""
    urls: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("extension", "modifierExtension") and isinstance(x, list):
                    for ext in x:
                        if (
                            isinstance(ext, dict)
                            and "$optional$" not in ext
                            and isinstance(ext.get("url"), str)
                        ):
                            urls.add(ext["url"])
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(expected)
    return urls


def _strip_extensions(v: Any, keep: frozenset[str] | set[str], deep: bool = True) -> None:
    """Remove unmanaged extensions; ValueSet.compose loses only its own (as in the runner)."""
    if isinstance(v, dict):
        for k in ("extension", "modifierExtension"):
            exts = v.get(k)
            if isinstance(exts, list):
                v[k] = [
                    x
                    for x in exts
                    if not isinstance(x, dict)
                    or not _absolute(x.get("url"))
                    or x.get("url") in MANAGED_EXTENSIONS
                    or x.get("url") in R4_ELEMENT_EXTENSIONS
                    or x.get("url") in keep
                ]
                if not v[k]:
                    del v[k]
        if deep:
            for k, x in v.items():
                _strip_extensions(x, keep, deep=k != "compose")
    elif isinstance(v, list) and deep:
        for x in v:
            _strip_extensions(x, keep)


def _absolute(url: Any) -> bool:
    return isinstance(url, str) and ("://" in url or url.startswith("urn:"))


def sort_messages(params: dict[str, Any]) -> None:
    """Sort the `; `-separated parts of `message` parameters (also in nested Parameters)."""
    for p in params.get("parameter", []) or []:
        if not isinstance(p, dict):
            continue
        if p.get("name") == "message" and isinstance(p.get("valueString"), str):
            parts = p["valueString"].split("; ")
            if len(parts) > 1:
                p["valueString"] = "; ".join(sorted(parts))
        res = p.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == "Parameters":
            sort_messages(res)


def scrub(
    resource: Any, *, keep_extensions: set[str] | None = None, strip_extensions: bool = True
) -> Any:
    """Scrub and sort one actual response (see the module docstring). Returns a new object."""
    res = drop_empty(resource)
    if not isinstance(res, dict):
        return res
    rt = res.get("resourceType")
    if rt == "Parameters":
        res.pop("meta", None)
        sort_messages(res)
    elif rt in ("ValueSet", "OperationOutcome", "CapabilityStatement", "TerminologyCapabilities"):
        res.pop("text", None)
        res.pop("meta", None)
        if strip_extensions and rt in ("ValueSet", "OperationOutcome"):
            _strip_extensions(res, keep_extensions or set())
    return res


def _ext_value(ext: dict[str, Any]) -> tuple[str, Any] | None:
    for k, v in ext.items():
        if k.startswith("value"):
            return k, v
    return None


def _r4_property(ext: dict[str, Any], contains: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    for sub in ext.get("extension", []):
        if not isinstance(sub, dict):
            continue
        kv = _ext_value(sub)
        url = sub.get("url")
        if url == "code" and kv:
            prop["code"] = kv[1]
        elif url == "uri" and kv and not contains:
            prop["uri"] = kv[1]
        elif url in ("value", "value[x]") and kv and contains:  # ValueSet40_50 reads both
            prop[kv[0]] = kv[1]
        elif url == "subProperty" and contains:
            prop.setdefault("subProperty", []).append(_r4_property(sub, True))
    return prop


def _lift(owner: dict[str, Any], url: str, contains: bool) -> None:
    exts = owner.get("extension")
    if not isinstance(exts, list):
        return
    props = [_r4_property(x, contains) for x in exts if isinstance(x, dict) and x.get("url") == url]
    if props:
        owner["property"] = owner.get("property", []) + props
        rest = [x for x in exts if not (isinstance(x, dict) and x.get("url") == url)]
        if rest:
            owner["extension"] = rest
        else:
            del owner["extension"]


def r4_to_r5(resource: Any) -> Any:
    """Convert the R4 forms of R5-only elements the suite relies on back to R5 (in place)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "ValueSet":
        expansion = resource.get("expansion")
        if isinstance(expansion, dict):
            _lift(expansion, R4_EXPANSION_PROPERTY, contains=False)
            stack = list(expansion.get("contains", []))
            while stack:
                c = stack.pop()
                if isinstance(c, dict):
                    _lift(c, R4_CONTAINS_PROPERTY, contains=True)
                    stack.extend(c.get("contains", []))
    return resource
