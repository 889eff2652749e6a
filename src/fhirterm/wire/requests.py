"""Operation requests from parameters: which names each operation takes, and their types."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..operations.expand import ExpandRequest
from ..operations.subsumes import SubsumesRequest
from ..operations.translate import TranslateRequest
from ..operations.types import LookupRequest, ValidateCodeRequest
from ..operations.vs_validate import VSValidateRequest
from .params import Params

LOOKUP = ("system", "code", "version", "coding", "property", "displayLanguage", "date")
CS_VALIDATE = (
    "url",
    "code",
    "version",
    "display",
    "coding",
    "codeableConcept",
    "displayLanguage",
    "system",
    "systemVersion",
    "abstract",
    "date",
)


def lookup_request(p: Params) -> LookupRequest:
    """$lookup parameters (R4 names); InvalidRequest for unknown or repeated ones."""
    p.check(LOOKUP, "$lookup")
    return LookupRequest(
        system=p.text("system"),
        code=p.text("code"),
        version=p.text("version"),
        coding=p.coding("coding"),
        properties=p.texts("property"),
        display_language=p.text("displayLanguage"),
    )


def cs_validate_request(
    p: Params, fixed_url: str | None = None, fixed_version: str | None = None
) -> ValidateCodeRequest:
    """CodeSystem/$validate-code parameters; ``fixed_url`` at instance level.

    ``system``/``systemVersion`` are accepted as aliases of ``url``/``version``
    (clients mix the ValueSet names in).
    """
    p.check(CS_VALIDATE, "CodeSystem/$validate-code")
    url = p.text("url") or p.text("system")
    version = p.text("version") or p.text("systemVersion")
    if fixed_url is not None:
        if url and url != fixed_url:
            raise InvalidRequest(
                f"url '{url}' is not the code system '{fixed_url}' named in the path",
                expression="url",
            )
        url = fixed_url
        version = version or fixed_version
    return ValidateCodeRequest(
        url=url,
        code=p.text("code"),
        version=version,
        display=p.text("display"),
        coding=p.coding("coding"),
        codeable_concept=p.codeable_concept("codeableConcept"),
        display_language=p.text("displayLanguage"),
        system_fixed=fixed_url is not None,
    )


EXPAND = (
    "url",
    "valueSet",
    "valueSetVersion",
    "filter",
    "offset",
    "count",
    "activeOnly",
    "includeDesignations",
    "includeDefinition",
    "excludeNested",
    "displayLanguage",
    "property",
    "date",
    "context",
    "contextDirection",
    "excludeNotForUI",
    "excludePostCoordinated",
)
VS_VALIDATE = (
    "url",
    "valueSet",
    "valueSetVersion",
    "code",
    "system",
    "systemVersion",
    "version",
    "display",
    "coding",
    "codeableConcept",
    "displayLanguage",
    "abstract",
    "date",
    "context",
)
SUBSUMES = ("codeA", "codeB", "system", "version", "codingA", "codingB")


def _resource(p: Params, name: str, resource_type: str) -> dict[str, Any] | None:
    vals = p.all(name)
    if not vals:
        return None
    if len(vals) > 1:
        raise InvalidRequest(f"Parameter '{name}' may appear once", expression=name)
    t, v = vals[0]
    if t != "resource" or not isinstance(v, dict) or v.get("resourceType") != resource_type:
        raise InvalidRequest(
            f"Parameter '{name}' must be a {resource_type} resource (in a POST body)",
            expression=name,
        )
    return v


def expand_request(
    p: Params, limit: int, fixed: tuple[str, str | None] | None = None
) -> ExpandRequest:
    """$expand parameters; ``fixed`` (url, version) at instance level."""
    p.check(EXPAND, "ValueSet/$expand")
    url, version = p.text("url"), p.text("valueSetVersion")
    if fixed is not None:
        if url and url != fixed[0]:
            raise InvalidRequest(
                f"url '{url}' is not the value set named in the path", expression="url"
            )
        url, version = fixed[0], version or fixed[1]
    for unsupported in ("context", "contextDirection"):
        if p.all(unsupported):
            raise InvalidRequest(
                f"Parameter '{unsupported}' is not supported by this server", expression=unsupported
            )
    return ExpandRequest(
        url=url,
        value_set=_resource(p, "valueSet", "ValueSet"),
        value_set_version=version,
        filter=p.text("filter"),
        offset=p.integer("offset") or 0,
        count=p.integer("count"),
        active_only=bool(p.flag("activeOnly")),
        include_designations=bool(p.flag("includeDesignations")),
        include_definition=bool(p.flag("includeDefinition")),
        exclude_nested=p.flag("excludeNested") is not False,
        display_language=p.text("displayLanguage"),
        properties=p.texts("property"),
        limit=limit,
    )


def vs_validate_request(
    p: Params, fixed: tuple[str, str | None] | None = None
) -> VSValidateRequest:
    """ValueSet/$validate-code parameters; ``fixed`` (url, version) at instance level."""
    p.check(VS_VALIDATE, "ValueSet/$validate-code")
    url, version = p.text("url"), p.text("valueSetVersion")
    if fixed is not None:
        if url and url != fixed[0]:
            raise InvalidRequest(
                f"url '{url}' is not the value set named in the path", expression="url"
            )
        url, version = fixed[0], version or fixed[1]
    if p.all("context"):
        raise InvalidRequest(
            "Parameter 'context' is not supported by this server", expression="context"
        )
    return VSValidateRequest(
        url=url,
        value_set=_resource(p, "valueSet", "ValueSet"),
        value_set_version=version,
        code=p.text("code"),
        system=p.text("system"),
        system_version=p.text("systemVersion") or p.text("version"),
        display=p.text("display"),
        coding=p.coding("coding"),
        codeable_concept=p.codeable_concept("codeableConcept"),
        display_language=p.text("displayLanguage"),
        abstract=p.flag("abstract") is not False,
    )


def subsumes_request(p: Params, fixed: tuple[str, str | None] | None = None) -> SubsumesRequest:
    p.check(SUBSUMES, "CodeSystem/$subsumes")
    system, version = p.text("system"), p.text("version")
    if fixed is not None:
        if system and system != fixed[0]:
            raise InvalidRequest(
                f"system '{system}' is not the code system named in the path", expression="system"
            )
        system, version = fixed[0], version or fixed[1]
    return SubsumesRequest(
        code_a=p.text("codeA"),
        code_b=p.text("codeB"),
        system=system,
        version=version,
        coding_a=p.coding("codingA"),
        coding_b=p.coding("codingB"),
    )


TRANSLATE = (
    "url",
    "conceptMap",
    "conceptMapVersion",
    "system",
    "code",
    "version",
    "coding",
    "codeableConcept",
    "source",
    "target",
    "targetsystem",
    "reverse",
    "dependency",
)
TRANSLATE_R5 = (
    "url",
    "conceptMap",
    "conceptMapVersion",
    "sourceCode",
    "sourceSystem",
    "sourceVersion",
    "sourceCoding",
    "sourceCodeableConcept",
    "targetCode",
    "targetCoding",
    "targetCodeableConcept",
    "targetSystem",
    "sourceScope",
    "targetScope",
    "dependency",
    "system",
)


def translate_request(
    p: Params, fixed: tuple[str, str | None] | None = None, r5: bool = False
) -> TranslateRequest:
    """ConceptMap/$translate parameters (R4 or R5 names); ``fixed`` (url, version) at instance level.

    R5 says the direction by the names: ``source*`` translates forwards,
    ``target*`` (a code to find as a target) in reverse.
    """
    p.check(TRANSLATE_R5 if r5 else TRANSLATE, "ConceptMap/$translate")
    if p.all("dependency"):
        raise InvalidRequest(
            "Parameter 'dependency' is not supported by this server", expression="dependency"
        )
    url, version = p.text("url"), p.text("conceptMapVersion")
    if fixed is not None:
        if url and url != fixed[0]:
            raise InvalidRequest(
                f"url '{url}' is not the concept map named in the path", expression="url"
            )
        url, version = fixed[0], version or fixed[1]
    cm = _resource(p, "conceptMap", "ConceptMap")
    if not r5:
        return TranslateRequest(
            url=url,
            concept_map=cm,
            concept_map_version=version,
            system=p.text("system"),
            code=p.text("code"),
            version=p.text("version"),
            coding=p.coding("coding"),
            codeable_concept=p.codeable_concept("codeableConcept"),
            source=p.text("source"),
            target=p.text("target"),
            target_system=p.text("targetsystem"),
            reverse=bool(p.flag("reverse")),
        )
    reverse = any(p.all(n) for n in ("targetCode", "targetCoding", "targetCodeableConcept"))
    side = "target" if reverse else "source"
    return TranslateRequest(
        url=url,
        concept_map=cm,
        concept_map_version=version,
        system=p.text("sourceSystem") or p.text("system")
        if not reverse
        else p.text("targetSystem"),
        code=p.text(f"{side}Code"),
        version=p.text("sourceVersion") if not reverse else None,
        coding=p.coding(f"{side}Coding"),
        codeable_concept=p.codeable_concept(f"{side}CodeableConcept"),
        source=p.text("sourceScope"),
        target=p.text("targetScope"),
        target_system=None if reverse else p.text("targetSystem"),
        reverse=reverse,
    )
