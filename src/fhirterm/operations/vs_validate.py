"""ValueSet $validate-code: https://hl7.org/fhir/R5/valueset-operation-validate-code.html

A code, coding or codeable concept is checked against the value set's compose, compiled
by the one compose engine (``compose.compile_for_validation``) and read include by
include without expanding (``membership``), and each coding against its code system:
unknown code, display, version, status. The issues, their codes (issue-type and the
terminology ecosystem's tx-issue-type), the elements they point at (``code``,
``Coding.code``, ``CodeableConcept.coding[0].code``) and their wording follow the HL7
terminology ecosystem (tx.fhir.org), so that clients see the same answer from any server.

CodeSystem $validate-code is the same check against the implicit value set of
the whole code system (``internal``): it reports no value set membership.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import InvalidRequest, NotFound, TerminologyError
from ..model import Coding
from ..registry import Registry
from . import changes, dates, limits, supplements
from . import messages as M
from .compose import UnresolvedImport, compile_for_validation, registry_implicit
from .contracts import NOTHING_TO_VALIDATE, Issue, ValidateCodeRequest, ValidateCodeResult
from .displays import language_list, vs_languages
from .validation import Validation, validate_codings
from .valueset import CompiledValueSet
from .versions import resolve


def resolve_value_set(registry: Registry, req: ValidateCodeRequest) -> dict[str, Any]:
    if req.value_set is not None:
        return req.value_set
    if not req.value_set_url:
        raise InvalidRequest(
            "No value set: send url (or call ValueSet/{id}/$validate-code) or valueSet",
            expression="url",
        )
    url, _, pinned = req.value_set_url.partition("|")
    version = req.value_set_version or pinned or req.vs_defaults.get(url) or None
    vs = registry_implicit(registry, url) or registry.canonical("ValueSet", url, version)
    if vs is None:
        name = f"{url}|{version}" if version else url
        raise NotFound(M.UNKNOWN_VS.format(url=name))
    return vs


def _codings(req: ValidateCodeRequest) -> tuple[tuple[Coding, ...], str]:
    if req.codeable_concept is not None:
        return req.codeable_concept, "codeableConcept"
    if req.coding is not None:
        c = req.coding
        return (
            Coding(
                c.system,
                c.code,
                c.version,
                c.display if c.display is not None else req.display,
            ),
        ), "coding"
    if req.code is not None:
        return (Coding(req.system, req.code, req.system_version, req.display),), "code"
    raise InvalidRequest(NOTHING_TO_VALIDATE, expression="code")


def run(
    registry: Registry,
    vs: dict[str, Any],
    req: ValidateCodeRequest,
    codings: tuple[Coding, ...],
    mode: str,
    internal: bool = False,
) -> ValidateCodeResult:
    """Validate ``codings``, the request's code, coding or codeable concept (``mode``) as
    its operation reads them, against ``vs``; ``internal``: ``vs`` is the implicit value
    set of a code system (CodeSystem $validate-code).
    """
    if mode == "codeableConcept" and not codings:
        raise InvalidRequest(
            "codeableConcept has no coding to validate", expression="codeableConcept"
        )
    infer = req.infer_system or (mode == "code" and not codings[0].system)
    # the value set's supplements (extension) and the request's: their designations count
    # as displays; one that is not known makes the request fail (NotFound)
    if req.use_supplements or "extension" in vs:  # else there is none to apply
        registry, _used = supplements.apply(
            registry, supplements.requested(vs, req.use_supplements)
        )
    try:
        # a value set sent in the request lives as long as the request: it is not kept
        compiled = compile_for_validation(
            registry, vs, req.vs_defaults, remember=vs is not req.value_set
        )
    except UnresolvedImport as e:
        return _unresolved(e.name, codings, mode, req)
    langs = language_list(req.display_language) or req.languages or _languages(compiled)
    return validate_codings(
        Validation(registry, req, compiled, internal, infer, langs, mode), codings
    )


def _languages(vs: CompiledValueSet) -> tuple[str, ...]:
    """``vs_languages`` of the value set, derived once per compiled value set."""
    langs: tuple[str, ...] | None = vs.memo.get("languages")
    if langs is None:
        langs = vs.memo["languages"] = vs_languages(vs.resource)
    return langs


def _unresolved(
    name: str, codings: tuple[Coding, ...], mode: str, req: ValidateCodeRequest
) -> ValidateCodeResult:
    """The answer when a value set the compose imports is not known."""
    issue = Issue(
        "error",
        "not-found",
        M.UNKNOWN_VS.format(url=name),
        "not-found",
        None,
        "Unable_to_resolve_value_Set_",
    )
    first = codings[0]
    res = ValidateCodeResult(False, message=issue.text, issues=[issue])
    if mode != "codeableConcept":
        res.system, res.code = first.system, first.code
    else:
        res.codeable_concept = codings
        res.text = req.text
    return res


def validate_vs_code(registry: Registry, req: ValidateCodeRequest) -> ValidateCodeResult:
    """Is the code (coding, codeable concept) in the value set, and right?

    Raises InvalidRequest when there is nothing to validate or no value set,
    NotFound for an unknown value set.
    """
    if req.codeable_concept is not None:
        limits.check_codings(len(req.codeable_concept))
    vs = resolve_value_set(registry, req)
    if req.code is None and req.coding is None and req.codeable_concept is None:
        raise InvalidRequest(NOTHING_TO_VALIDATE, expression="code")
    if req.date:
        # the date of service chooses the version of a code system with dated versions;
        # a version the request states beside it must be that one
        stated = [
            (c.system, c.version)
            for c in (
                Coding(req.system, None, req.system_version),
                req.coding,
                *(req.codeable_concept or ()),
            )
            if c is not None and c.system and c.version
        ]
        for system, version in stated:
            dates.version_on(registry, system, version, req.date)
        req = replace(req, rules=dates.rules_on(registry, req.rules, req.date))
    res = run(registry, vs, req, *_codings(req))
    if not res.result and registry.changes:
        _explain(registry, req, res)
    return res


def _explain(registry: Registry, req: ValidateCodeRequest, res: ValidateCodeResult) -> None:
    """What the loaded releases say of a code its code system version does not hold."""
    c = req.coding
    system = req.system or (c.system if c else None)
    code = req.code or (c.code if c else None)
    if not system or not code or system not in registry.changes:
        return
    cs = resolve(registry, req.rules, system, req.system_version or (c.version if c else None)).cs
    if cs is not None:
        changes.explain(registry, res, cs, [code])


def batch_validate(
    registry: Registry, entries: list[ValidateCodeRequest | TerminologyError]
) -> list[ValidateCodeResult | TerminologyError]:
    """ValueSet $batch-validate-code: each entry validated on its own.

    An entry that cannot be answered (a bad request, an unknown value set)
    is reported as its error in place; the other entries are still answered.
    """
    limits.check_codings(
        sum(
            1 if e.codeable_concept is None else max(len(e.codeable_concept), 1)
            for e in entries
            if not isinstance(e, TerminologyError)
        ),
        "validation",
    )
    out: list[ValidateCodeResult | TerminologyError] = []
    for e in entries:
        if isinstance(e, TerminologyError):
            out.append(e)
            continue
        try:
            out.append(validate_vs_code(registry, e))
        except TerminologyError as err:
            out.append(err)
    return out
