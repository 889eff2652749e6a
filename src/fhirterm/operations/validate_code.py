"""CodeSystem $validate-code: https://hl7.org/fhir/R4/codesystem-operation-validate-code.html

A problem with the code itself (unknown, wrong display, a header) is a result
with issues, not an error; only a request that cannot be evaluated raises.
"""

from __future__ import annotations

from ..errors import InvalidRequest, NotFound
from ..index import CodeSystemIndex
from ..model import Coding, Concept
from ..registry import Registry
from .types import Issue, ValidateCodeRequest, ValidateCodeResult

HEADER_EXAMPLES = 5


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def display_ok(concept: Concept, display: str) -> bool:
    """A display is right when it matches the display or a designation (case and spaces aside)."""
    d = _norm(display)
    if concept.display is not None and _norm(concept.display) == d:
        return True
    return any(_norm(x.value) == d for x in concept.designations)


def billable_descendants(cs: CodeSystemIndex, code: str) -> list[str]:
    return [d for d in cs.descendants(code) if not cs.concepts[d].abstract]


def _at(path: str, field: str) -> str:
    """The request element at fault: ``coding.display``, or ``display``/``url`` for loose parameters."""
    if path:
        return f"{path}.{field}"
    return "url" if field == "system" else field


def check_coding(registry: Registry, coding: Coding, path: str) -> ValidateCodeResult:
    """Validate one coding against its code system.

    ``path`` names the coding in issues (``coding``, ``codeableConcept.coding[0]``,
    or "" for the loose code/url/display parameters).
    """
    system, code, version = coding.system, coding.code, coding.version
    if not code:
        raise InvalidRequest(
            f"No code to validate in {path or 'the request'}", expression=_at(path, "code")
        )
    if not system:
        raise InvalidRequest(
            f"No system for code '{code}': send the code system url", expression=_at(path, "system")
        )
    try:
        cs = registry.code_system(system, version)
    except NotFound as e:
        tx = "x-unknown-system" if not registry.has_system(system) else "vs-invalid"
        msg = (
            f"A definition for CodeSystem '{system}' could not be found, so the code cannot be validated"
            if tx == "x-unknown-system"
            else e.message
        )
        return ValidateCodeResult(
            False,
            system,
            version,
            code,
            message=msg,
            issues=[Issue("error", "not-found", msg, tx, _at(path, "system"))],
        )
    v = cs.info.version
    concept = cs.get(code)
    vtxt = f" version '{v}'" if v else ""
    if concept is None:
        msg = f"Unknown code '{code}' in the CodeSystem '{system}'{vtxt}"
        if (s := cs.suggest(code)) is not None:
            msg += (
                f"; did you mean '{s}'? Codes are case-sensitive and written exactly as published"
            )
        elif code in cs.groupings:
            g = cs.groupings[code]
            msg += f"; '{code}' is a {g.kind} ({g.title}), a grouping that is not a code"
        return ValidateCodeResult(
            False,
            system,
            v,
            code,
            message=msg,
            issues=[Issue("error", "code-invalid", msg, "invalid-code", _at(path, "code"))],
        )
    res = ValidateCodeResult(True, system, v, concept.code, display=concept.display)
    messages: list[str] = []
    if coding.display is not None and not display_ok(concept, coding.display):
        res.result = False
        msg = (
            f"Wrong Display Name '{coding.display}' for {system}#{concept.code}. "
            f"Valid display is '{concept.display}' (for the language(s) 'en')"
        )
        res.issues.append(Issue("error", "invalid", msg, "invalid-display", _at(path, "display")))
        messages.append(msg)
    if concept.inactive:
        msg = f"The concept '{concept.code}' is inactive"
        res.issues.append(Issue("warning", "business-rule", msg, "code-rule", _at(path, "code")))
        messages.append(msg)
    if concept.abstract:
        leaves = billable_descendants(cs, concept.code)
        shown = ", ".join(leaves[:HEADER_EXAMPLES])
        more = f" and {len(leaves) - HEADER_EXAMPLES} more" if len(leaves) > HEADER_EXAMPLES else ""
        msg = (
            f"'{concept.code}' is a header, not selectable (not billable); use one of its "
            f"{len(leaves)} billable descendants: {shown}{more}"
        )
        res.issues.append(Issue("warning", "business-rule", msg, "code-rule", _at(path, "code")))
        messages.append(msg)
    res.message = "; ".join(messages) or None
    return res


def validate_code(registry: Registry, req: ValidateCodeRequest) -> ValidateCodeResult:
    """Validate a code, a coding or a codeable concept against a code system.

    With a codeableConcept the result is true when any coding is valid; the
    issues of every coding are reported. Raises InvalidRequest when nothing
    to validate is given or parameters disagree.
    """
    if req.codeable_concept is not None:
        if req.code is not None or req.coding is not None:
            raise InvalidRequest(
                "Send one of code, coding or codeableConcept, not several",
                expression="codeableConcept",
            )
        if not req.codeable_concept:
            raise InvalidRequest(
                "codeableConcept has no coding to validate", expression="codeableConcept"
            )
        results = [
            check_coding(registry, _with_system(c, req), f"codeableConcept.coding[{i}]")
            for i, c in enumerate(req.codeable_concept)
        ]
        good = next((r for r in results if r.result), None)
        out = good or results[0]
        merged = ValidateCodeResult(
            good is not None,
            out.system,
            out.version,
            out.code,
            out.display,
            codeable_concept=req.codeable_concept,
        )
        for r in results:
            merged.issues.extend(r.issues)
        merged.message = "; ".join(i.text for i in merged.issues) or None
        return merged
    if req.coding is not None:
        if req.code is not None and req.code != req.coding.code:
            raise InvalidRequest(
                f"code '{req.code}' and coding.code '{req.coding.code}' disagree; send one",
                expression="coding.code",
            )
        return check_coding(registry, _with_system(req.coding, req), "coding")
    if req.code is None:
        raise InvalidRequest(
            "Nothing to validate: send code (with url), coding or codeableConcept",
            expression="code",
        )
    return check_coding(registry, Coding(req.url, req.code, req.version, req.display), "")


def _with_system(c: Coding, req: ValidateCodeRequest) -> Coding:
    """A coding with the request's url/version/display filled in where it has none."""
    if req.system_fixed and req.url and c.system and c.system != req.url:
        raise InvalidRequest(
            f"coding.system '{c.system}' is not the code system '{req.url}' of this request",
            expression="coding.system",
        )
    return Coding(
        c.system or req.url,
        c.code,
        c.version or req.version,
        c.display if c.display is not None else req.display,
    )
