"""CodeSystem $validate-code: https://hl7.org/fhir/R5/codesystem-operation-validate-code.html

The check is the ValueSet one (``vs_validate``) against the implicit value set
of the whole code system version: a problem with the code itself (unknown,
wrong display, a header, an unknown version) is a result with issues, not an
error; only a request that cannot be evaluated raises.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import InvalidRequest
from ..index import CodeSystemIndex
from ..model import Coding
from ..registry import Registry
from . import changes, dates, limits
from . import messages as M
from .contracts import NOTHING_TO_VALIDATE, Issue, ValidateCodeRequest, ValidateCodeResult
from .supplements import canonical_of
from .validation import cs_facts, is_absolute
from .versions import present_versions, resolve
from .vs_validate import run


def validate_code(registry: Registry, req: ValidateCodeRequest) -> ValidateCodeResult:
    """Validate a code, a coding or a codeable concept against the code system ``req.system``
    (at ``req.system_version``), or the codings' when the request names none.

    With a codeableConcept the result is true when any coding is valid; the
    issues of every coding are reported. Raises InvalidRequest when nothing
    to validate is given or parameters disagree.
    """
    mode, first, codings = _codings(req)
    # what the first coding says (for a plain code, the request's system, code and version)
    system0, code0, version0 = first.system, first.code, first.version
    issue_path = (
        "" if mode == "code" else "Coding" if mode == "coding" else "CodeableConcept.coding[0]"
    )
    system_path = f"{issue_path}.system" if issue_path else "system"
    # Without url, the code system is the codings' (the first one known to the server).
    url = req.system or next(
        (c.system for c in codings if c.system and registry.has_system(c.system)), system0
    )
    if not url:
        text = M.NO_SYSTEM
        return _failed(
            system0,
            code0,
            mode,
            codings,
            Issue(
                "warning",
                "invalid",
                text,
                "invalid-data",
                issue_path or None,
                "Coding_has_no_system__cannot_validate",
            ),
        )
    if req.date:
        # the date of service chooses the version of a code system with dated versions
        req = replace(req, rules=dates.rules_on(registry, req.rules, req.date))
    found = resolve(registry, req.rules, url, req.system_version or version0)
    cs, version = found.cs, found.version
    if cs is None or cs.info.content == "supplement":
        return _not_a_code_system(registry, url, version, cs, system_path, codings, mode)
    res = run(registry, cs_facts(registry, cs).value_set, req, codings, mode, internal=True)
    if not res.result and registry.changes:
        changes.explain(registry, res, cs, [c.code for c in codings])
    return res


def _codings(req: ValidateCodeRequest) -> tuple[str, Coding, tuple[Coding, ...]]:
    """The request's code, coding or codeable concept (``mode``), its first coding as
    sent, and the codings checked: with the request's system, version and display where
    a coding has none. Raises InvalidRequest when nothing is given or what is given
    disagrees."""
    if req.codeable_concept is not None and (req.code is not None or req.coding is not None):
        raise InvalidRequest(
            "Send one of code, coding or codeableConcept, not several", expression="codeableConcept"
        )
    if req.coding is not None and req.code is not None and req.code != req.coding.code:
        raise InvalidRequest(
            f"code '{req.code}' and coding.code '{req.coding.code}' disagree; send one",
            expression="coding.code",
        )
    if req.code is None and req.coding is None and req.codeable_concept is None:
        raise InvalidRequest(NOTHING_TO_VALIDATE, expression="code")
    if req.codeable_concept is not None:
        limits.check_codings(len(req.codeable_concept))
        if not req.codeable_concept:
            raise InvalidRequest(
                "codeableConcept has no coding to validate", expression="codeableConcept"
            )
        mode, first = "codeableConcept", req.codeable_concept[0]
        codings = tuple(_with_system(c, req) for c in req.codeable_concept)
    elif req.coding is not None:
        mode, first = "coding", _with_system(req.coding, req)
        codings = (first,)
    else:
        mode, first = "code", Coding(req.system, req.code, req.system_version, req.display)
        codings = (first,)
    return mode, first, codings


def _not_a_code_system(
    registry: Registry,
    url: str,
    version: str,
    cs: CodeSystemIndex | None,
    system_path: str,
    codings: tuple[Coding, ...],
    mode: str,
) -> ValidateCodeResult:
    """The answer when ``url`` (at ``version``) is no code system known here (``cs`` None)
    or a supplement: the code is not valid."""
    system0, code0 = codings[0].system, codings[0].code
    if cs is None:
        res = _unknown(registry, url, version, system_path, system0, code0, mode, codings)
        if not is_absolute(url):
            res.issues.append(
                Issue(
                    "error",
                    "invalid",
                    M.RELATIVE_SYSTEM,
                    "invalid-data",
                    system_path,
                    "Terminology_TX_System_Relative",
                )
            )
        return res
    # a supplement is not a code system a code can be from: the code is not valid
    res = _failed(
        system0,
        code0,
        mode,
        codings,
        Issue(
            "error",
            "invalid",
            M.SUPPLEMENT_AS_SYSTEM.format(name=canonical_of(cs)),
            "invalid-data",
            system_path,
            "CODESYSTEM_CS_NO_SUPPLEMENT",
        ),
    )
    res.unknown_systems, res.unknown_is_cause = [cs.info.url], True
    return res


def _failed(
    system: str | None, code: str | None, mode: str, codings: tuple[Coding, ...], issue: Issue
) -> ValidateCodeResult:
    """A result that fails with ``issue``; ``system`` and ``code`` are the first coding's (of
    a code or coding: a codeable concept is echoed whole)."""
    res = ValidateCodeResult(False, message=issue.text, issues=[issue])
    if mode == "codeableConcept":
        res.codeable_concept = codings
    else:
        res.system, res.code = system, code
    return res


def _unknown(
    registry: Registry,
    url: str,
    version: str,
    path: str,
    system0: str | None,
    code0: str | None,
    mode: str,
    codings: tuple[Coding, ...],
) -> ValidateCodeResult:
    if registry.canonical("ValueSet", url) is not None:
        text = M.SYSTEM_IS_VS.format(url=url)
        return _failed(
            system0,
            code0,
            mode,
            codings,
            Issue(
                "error", "invalid", text, "invalid-data", path, "Terminology_TX_System_ValueSet2"
            ),
        )
    if not version:
        text, mid, key = M.UNKNOWN_CS.format(system=url), "UNKNOWN_CODESYSTEM", url
    elif registry.has_system(url):
        text = M.UNKNOWN_CS_VERSION.format(
            system=url, version=version, known=present_versions(registry, url)
        )
        mid, key = "UNKNOWN_CODESYSTEM_VERSION", f"{url}|{version}"
    else:
        text = M.UNKNOWN_CS_VERSION_NONE.format(system=url, version=version)
        mid, key = "UNKNOWN_CODESYSTEM_VERSION_NONE", url
    res = _failed(
        system0, code0, mode, codings, Issue("error", "not-found", text, "not-found", path, mid)
    )
    res.unknown_systems = [key]
    return res


def _with_system(c: Coding, req: ValidateCodeRequest) -> Coding:
    """A coding with the request's system/version/display filled in where it has none."""
    if req.system_fixed and req.system and c.system and c.system != req.system:
        raise InvalidRequest(
            f"coding.system '{c.system}' is not the code system '{req.system}' of this request",
            expression="coding.system",
        )
    return Coding(
        c.system or req.system,
        c.code,
        c.version or req.system_version,
        c.display if c.display is not None else req.display,
    )
