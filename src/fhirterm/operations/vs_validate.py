"""ValueSet $validate-code: https://hl7.org/fhir/R4/valueset-operation-validate-code.html

The code is first checked against its code system (unknown code, display,
header) by the CodeSystem validation, then for membership in the value set
without expanding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..model import Coding
from ..registry import Registry
from .types import Issue, ValidateCodeResult
from .validate_code import check_coding
from .valueset import CompiledValueSet, compile_value_set, resolve


@dataclass(frozen=True, slots=True)
class VSValidateRequest:
    url: str | None = None
    value_set: dict[str, Any] | None = None
    value_set_version: str | None = None
    code: str | None = None
    system: str | None = None
    system_version: str | None = None
    display: str | None = None
    coding: Coding | None = None
    codeable_concept: tuple[Coding, ...] | None = None
    display_language: str | None = None
    abstract: bool = True  # may an abstract (notSelectable) code be valid?


def _check(
    registry: Registry, vs: CompiledValueSet, coding: Coding, path: str, abstract_ok: bool
) -> ValidateCodeResult:
    res = check_coding(registry, coding, path)
    if res.code is None or res.system is None or not registry.has_system(res.system):
        return res
    if any(i.tx_code == "invalid-code" for i in res.issues):
        return res
    vs_name = f"{vs.url}|{vs.version}" if vs.version else str(vs.url)
    concept = vs.contains(res.system, res.code)
    where = f"{path}.code" if path else "code"
    if concept is None:
        msg = f"The provided code '{res.system}#{res.code}' was not found in the value set '{vs_name}'"
        res.result = False
        res.issues.insert(0, Issue("error", "code-invalid", msg, "not-in-vs", where))
    elif concept.abstract and not abstract_ok:
        msg = f"The code '{res.code}' is abstract (not selectable) and the request does not allow abstract codes"
        res.result = False
        res.issues.insert(0, Issue("error", "business-rule", msg, "code-rule", where))
    res.message = "; ".join(i.text for i in res.issues) or None
    return res


def validate_vs_code(registry: Registry, req: VSValidateRequest) -> ValidateCodeResult:
    """Is the code (coding, codeable concept) in the value set, and right?

    Raises InvalidRequest when there is nothing to validate or no value set,
    NotFound for an unknown value set.
    """
    if req.value_set is not None:
        vs_res = req.value_set
    elif req.url:
        vs_res = resolve(registry, req.url, req.value_set_version)
    else:
        raise InvalidRequest(
            "No value set: send url (or call ValueSet/{id}/$validate-code) or valueSet",
            expression="url",
        )
    vs = compile_value_set(registry, vs_res)
    given = sum(x is not None for x in (req.code, req.coding, req.codeable_concept))
    if given != 1:
        raise InvalidRequest(
            "Send exactly one of code (with system), coding or codeableConcept", expression="code"
        )
    if req.codeable_concept is not None:
        if not req.codeable_concept:
            raise InvalidRequest(
                "codeableConcept has no coding to validate", expression="codeableConcept"
            )
        results = [
            _check(registry, vs, c, f"codeableConcept.coding[{i}]", req.abstract)
            for i, c in enumerate(req.codeable_concept)
        ]
        good = next((r for r in results if r.result), None)
        first = good or results[0]
        out = ValidateCodeResult(
            good is not None,
            first.system,
            first.version,
            first.code,
            first.display,
            codeable_concept=req.codeable_concept,
        )
        for r in results:
            out.issues.extend(r.issues)
        out.message = "; ".join(i.text for i in out.issues) or None
        return out
    if req.coding is not None:
        c = req.coding
        coding = Coding(
            c.system or req.system,
            c.code,
            c.version or req.system_version,
            c.display if c.display is not None else req.display,
        )
        return _check(registry, vs, coding, "coding", req.abstract)
    if not req.system:
        raise InvalidRequest(
            f"No system for code '{req.code}': send system with code", expression="system"
        )
    return _check(
        registry,
        vs,
        Coding(req.system, req.code, req.system_version, req.display),
        "",
        req.abstract,
    )
