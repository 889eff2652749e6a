"""Operation requests from parameters: which names each operation takes, and their types."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidLanguage, InvalidRequest, TerminologyError
from ..operations.contracts import (
    NOTHING_TO_VALIDATE,
    ExpandRequest,
    LookupRequest,
    SubsumesRequest,
    TranslateRequest,
    ValidateCodeRequest,
    VersionRules,
    canonical_versions,
)
from . import checks, opdefs
from .params import GENERAL, Params, from_parameters

VERSION_RULES = ("system-version", "check-system-version", "force-system-version")
# the rules of a request that sends none of VERSION_RULES (shared: VersionRules is read-only)
NO_RULES = VersionRules()


def _pinned(
    url: str | None, version: str | None, fixed: tuple[str, str | None] | None, kind: str, name: str
) -> tuple[str | None, str | None]:
    """At instance level the path names the resource: its url wins, a different one is an error."""
    if fixed is None:
        return url, version
    if url and url != fixed[0]:
        raise InvalidRequest(f"{name} '{url}' is not the {kind} named in the path", expression=name)
    return fixed[0], version or fixed[1]


def version_rules(p: Params) -> VersionRules:
    """The system-version, check-system-version and force-system-version canonicals."""
    return VersionRules.parse(*(p.texts(n) for n in VERSION_RULES))


def languages(accept_language: str | None) -> tuple[str, ...]:
    """Language tags of an Accept-Language header, best first (``*`` and q=0 left out)."""
    if not accept_language:
        return ()
    tagged: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and tag != "*" and q > 0:
            tagged.append((-q, i, tag.strip()))
    return tuple(t for _, _, t in sorted(tagged))


# one entry of a displayLanguage: a language tag (or *), optionally weighted as in Accept-Language
_LANGUAGE_ENTRY = re.compile(
    r"\s*(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)\s*(;\s*q\s*=\s*[0-9.]+\s*)?", re.ASCII
)


def display_language(p: Params) -> str | None:
    """The displayLanguage parameter; InvalidLanguage when it is not a language (list)."""
    v = p.text("displayLanguage")
    if v is not None and not all(_LANGUAGE_ENTRY.fullmatch(e) for e in v.split(",")):
        raise InvalidLanguage(f"Invalid displayLanguage: '{v}'")
    return v


# the names of the common request (a code, maybe a display, of a code system version),
# all of them text: a query of these alone needs no type check, and leaves every other
# field of ValidateCodeRequest at its default
CS_VALIDATE_PLAIN = (
    frozenset({"url", "system", "version", "systemVersion", "code", "display"}) | GENERAL
)


def lookup_request(p: Params) -> LookupRequest:
    """$lookup parameters (R4 names); InvalidRequest for unknown or repeated ones."""
    p.check_operation(opdefs.LOOKUP)
    return LookupRequest(
        system=p.text("system"),
        code=p.text("code"),
        version=p.text("version"),
        coding=p.coding("coding"),
        properties=p.texts("property"),
        display_language=display_language(p),
        use_supplements=p.texts("useSupplement"),
        date=p.text("date"),
    )


def cs_validate_request(
    p: Params,
    fixed_url: str | None = None,
    fixed_version: str | None = None,
    accept_language: str | None = None,
) -> ValidateCodeRequest:
    """CodeSystem/$validate-code parameters; ``fixed_url`` at instance level.

    ``system``/``systemVersion`` are accepted as aliases of ``url``/``version``
    (clients mix the ValueSet names in).
    """
    # The check of names and types is skipped for the common query (text parameters
    # only); the version rules are parsed only when one is sent (most requests send none).
    has = p.names()
    if not (p.from_query and has <= CS_VALIDATE_PLAIN):
        p.check_operation(opdefs.CS_VALIDATE)
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
    if has <= CS_VALIDATE_PLAIN:
        # the common request: the other parameters are absent, their fields keep their
        # defaults (reading each absent one and passing its default costs a few µs)
        return ValidateCodeRequest(
            code=p.text("code"),
            system=url,
            system_version=version,
            display=p.text("display"),
            system_fixed=fixed_url is not None,
            rules=NO_RULES,
            languages=languages(accept_language),
        )
    return ValidateCodeRequest(
        code=p.text("code"),
        system=url,
        system_version=version,
        display=p.text("display"),
        coding=p.coding("coding"),
        codeable_concept=p.codeable_concept("codeableConcept"),
        display_language=display_language(p),
        system_fixed=fixed_url is not None,
        abstract=p.flag("abstract") is not False,
        lenient_display=bool(p.flag("lenient-display-validation")),
        active_only=bool(p.flag("activeOnly")),
        rules=version_rules(p) if not has.isdisjoint(VERSION_RULES) else NO_RULES,
        languages=languages(accept_language),
        use_supplements=p.texts("useSupplement"),
        date=p.text("date"),
    )


# the names of the common request (a code, maybe a display, and a value set), all text:
# a query of these alone needs no type check, and leaves every other field of
# ValidateCodeRequest at its default
VS_VALIDATE_PLAIN = (
    frozenset({"url", "valueSetVersion", "code", "system", "systemVersion", "version", "display"})
    | GENERAL
)


def tx_resources(p: Params) -> list[dict[str, Any]]:
    """Take the ``tx-resource`` parameters out of ``p``: their resources, each checked
    (``checks.resource``); InvalidRequest for one that is not a resource or of the wrong
    shape."""
    out: list[dict[str, Any]] = []
    for i, (t, v) in enumerate(p.take("tx-resource")):
        where = f"tx-resource[{i}]"
        if t != "resource":
            found = "text in a query" if p.from_query else f"value{t[0].upper()}{t[1:]}"
            raise InvalidRequest(
                f"{where} must be a resource (in a POST body), found {found}",
                expression="tx-resource",
            )
        out.append(checks.resource(v, where))
    return out


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
    p: Params,
    limit: int,
    fixed: tuple[str, str | None] | None = None,
    accept_language: str | None = None,
) -> ExpandRequest:
    """$expand parameters; ``fixed`` (url, version) at instance level.

    ``accept_language`` (the HTTP header) stands for displayLanguage when that is not sent.
    """
    p.check_operation(opdefs.EXPAND)
    url, version = p.text("url"), p.text("valueSetVersion")
    url, version = _pinned(url, version, fixed, "value set", "url")
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
        offset=p.integer("offset"),
        count=p.integer("count"),
        active_only=p.flag("activeOnly"),
        include_designations=p.flag("includeDesignations"),
        include_definition=p.flag("includeDefinition"),
        exclude_nested=p.flag("excludeNested"),
        display_language=p.text("displayLanguage") or accept_language or None,
        designations=p.texts("designation"),
        properties=p.texts("property"),
        system_versions=p.texts("system-version"),
        check_system_versions=p.texts("check-system-version"),
        force_system_versions=p.texts("force-system-version"),
        default_valueset_versions=p.texts("default-valueset-version"),
        use_supplements=p.texts("useSupplement"),
        versions_match=p.flag("versionsMatch"),
        limit=limit,
        date=p.text("date"),
    )


def vs_validate_request(
    p: Params, fixed: tuple[str, str | None] | None = None, accept_language: str | None = None
) -> ValidateCodeRequest:
    """ValueSet/$validate-code parameters; ``fixed`` (url, version) at instance level."""
    # The check of names and types is skipped for the common query (text parameters
    # only); the version rules are parsed only when one is sent (most requests send none).
    has = p.names()
    if not (p.from_query and has <= VS_VALIDATE_PLAIN):
        p.check_operation(opdefs.VS_VALIDATE)
    url = p.text("url")
    version = p.text("valueSetVersion")
    url, version = _pinned(url, version, fixed, "value set", "url")
    if has <= VS_VALIDATE_PLAIN:
        # the common request: the other parameters are absent, their fields keep their
        # defaults (reading each absent one and passing its default costs a few µs)
        return ValidateCodeRequest(
            value_set_url=url,
            value_set_version=version,
            code=p.text("code"),
            system=p.text("system"),
            system_version=p.text("systemVersion") or p.text("version"),
            display=p.text("display"),
            rules=NO_RULES,
            languages=languages(accept_language),
        )
    if p.all("context"):
        raise InvalidRequest(
            "Parameter 'context' is not supported by this server", expression="context"
        )
    return ValidateCodeRequest(
        value_set_url=url,
        value_set=_resource(p, "valueSet", "ValueSet"),
        value_set_version=version,
        code=p.text("code"),
        system=p.text("system"),
        system_version=p.text("systemVersion") or p.text("version"),
        display=p.text("display"),
        coding=p.coding("coding"),
        codeable_concept=p.codeable_concept("codeableConcept"),
        display_language=display_language(p),
        abstract=p.flag("abstract") is not False,
        infer_system=bool(p.flag("inferSystem")),
        membership_only=bool(p.flag("valueset-membership-only")),
        lenient_display=bool(p.flag("lenient-display-validation")),
        active_only=bool(p.flag("activeOnly")),
        rules=version_rules(p) if not has.isdisjoint(VERSION_RULES) else NO_RULES,
        languages=languages(accept_language),
        text=_cc_text(p),
        vs_defaults=canonical_versions(
            p.texts("default-valueset-version"), "default-valueset-version"
        ),
        use_supplements=p.texts("useSupplement"),
        date=p.text("date"),
    )


CODE_FORMS = ("code", "coding", "codeableConcept")


def batch_validate_requests(
    p: Params, fixed: tuple[str, str | None] | None = None, accept_language: str | None = None
) -> list[ValidateCodeRequest | TerminologyError]:
    """ValueSet/$batch-validate-code: one request per ``validation`` Parameters.

    The parameters outside the ``validation`` entries apply to every entry; a
    parameter an entry sets itself replaces them. A malformed entry is its
    error, in place, so the other entries are still answered.
    """
    entries = p.take("validation")
    if not entries:
        raise InvalidRequest(
            "No 'validation' parameters: send one Parameters resource per code to validate",
            expression="validation",
        )
    out: list[ValidateCodeRequest | TerminologyError] = []
    for i, (t, v) in enumerate(entries):
        try:
            if t != "resource" or not isinstance(v, dict):
                raise InvalidRequest(
                    f"validation[{i}] must be a Parameters resource", expression="validation"
                )
            inner = from_parameters(v)
            own = inner.names()
            if "tx-resource" in own:
                # the resources of a request are read once, for every entry: one sent
                # inside an entry would otherwise be left unread
                raise InvalidRequest(
                    f"validation[{i}] holds a tx-resource: send tx-resource beside the "
                    "validation parameters (it applies to every entry), not inside one",
                    expression="tx-resource",
                )
            merged = Params([it for it in p.items if it[0] not in own] + inner.items)
            if not merged.names() & set(CODE_FORMS):
                raise InvalidRequest(NOTHING_TO_VALIDATE)
            out.append(vs_validate_request(merged, fixed, accept_language))
        except TerminologyError as e:
            out.append(e)
    return out


def _cc_text(p: Params) -> str | None:
    vals = p.all("codeableConcept")
    if len(vals) == 1 and isinstance(vals[0][1], dict):
        t = vals[0][1].get("text")
        return t if isinstance(t, str) else None
    return None


def subsumes_request(p: Params, fixed: tuple[str, str | None] | None = None) -> SubsumesRequest:
    p.check_operation(opdefs.SUBSUMES)
    system, version = p.text("system"), p.text("version")
    system, version = _pinned(system, version, fixed, "code system", "system")
    return SubsumesRequest(
        code_a=p.text("codeA"),
        code_b=p.text("codeB"),
        system=system,
        version=version,
        coding_a=p.coding("codingA"),
        coding_b=p.coding("codingB"),
    )


# R5's names for what R4 calls code, system, version, coding, codeableConcept, source, target,
# targetsystem and reverse (plus the reverse forms target*)
TRANSLATE_R5_ONLY = opdefs.TRANSLATE_R5_NAMES
# R4's names that R5 does not have (system is in both)
TRANSLATE_R4_ONLY = tuple(n for n in opdefs.TRANSLATE_R4_NAMES if n != "system")


def translate_request(
    p: Params, fixed: tuple[str, str | None] | None = None, r5: bool = False
) -> TranslateRequest:
    """ConceptMap/$translate parameters (R4 or R5 names); ``fixed`` (url, version) at instance level.

    R5 says the direction by the names: ``source*`` translates forwards,
    ``target*`` (a code to find as a target) in reverse. The R4 endpoint takes
    either form, as R4 clients that speak R5 $translate send it (tx.fhir.org
    does the same); one request uses one form. A request in R5 names is answered
    in R5's match shape (``r5_names``).
    """
    p.check_operation(opdefs.TRANSLATE_R5 if r5 else opdefs.TRANSLATE)
    r5_names = r5 or any(p.all(n) for n in TRANSLATE_R5_ONLY)
    mixed = next((n for n in TRANSLATE_R4_ONLY if p.all(n)), None)
    if r5_names and mixed is not None:
        r5_name = next(n for n in TRANSLATE_R5_ONLY if p.all(n))
        raise InvalidRequest(
            f"Parameter '{mixed}' is an R4 name, '{r5_name}' an R5 one: "
            "name the parameters of one $translate request in one FHIR version",
            expression=mixed,
        )
    if p.all("dependency"):
        raise InvalidRequest(
            "Parameter 'dependency' is not supported by this server", expression="dependency"
        )
    url, version = p.text("url"), p.text("conceptMapVersion")
    url, version = _pinned(url, version, fixed, "concept map", "url")
    cm = _resource(p, "conceptMap", "ConceptMap")
    if not r5_names:
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
        # in reverse the results are source concepts: sourceSystem filters them
        target_system=p.text("sourceSystem") if reverse else p.text("targetSystem"),
        reverse=reverse,
        r5_names=True,
    )
