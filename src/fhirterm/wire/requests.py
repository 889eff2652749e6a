"""Operation requests from parameters: which names each operation takes, and their types."""

from __future__ import annotations

from ..operations.types import LookupRequest, ValidateCodeRequest
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
            from ..errors import InvalidRequest

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
