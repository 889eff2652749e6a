"""One validation of codings against a compiled value set: each coding read in the value
set (``membership``) and, when it is not there, in its own code system; the answer.

The answer's parameters and issues, and the way several codings of a codeable concept
combine, follow the HL7 terminology ecosystem (tx.fhir.org).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..index import CodeSystemIndex
from ..memo import Memo, memo_in
from ..model import Coding
from ..registry import Registry
from . import messages as M
from .contracts import Issue, ValidateCodeRequest, ValidateCodeResult
from .displays import Displays, check_display, list_displays
from .membership import Terms, check, version_check, vs_status_check
from .outcome import (
    Found,
    Outcome,
    coding_text,
    header_like,
    header_warning,
    join_path,
    unknown_code_text,
    unknown_system,
    unknown_version,
)
from .valueset import CompiledValueSet
from .versions import resolve


def is_absolute(url: str) -> bool:
    return ":" in url


@dataclass(frozen=True, slots=True)
class CodeSystemFacts:
    """What a validation asks of a code system's metadata, derived once (see ``cs_facts``)."""

    cs: CodeSystemIndex
    header_like: bool  # header_like(cs)
    value_set: dict[str, Any]  # code_system_value_set(cs): read-only, shared


FACTS_MEMO = "vs_validate.code_systems"  # key of the memo in Registry.derived
FACTS_MEMO_MAX = 256


def cs_facts(registry: Registry, cs: CodeSystemIndex) -> CodeSystemFacts:
    """The facts of ``cs``, a code system of ``registry``.

    A code system's metadata does not change after load, so they are derived once per
    registry and code system, in ``registry.derived`` (a per-request registry has its own;
    adding content empties it), instead of on every request. Bounded (emptied when full).
    """
    memo: Memo[int, CodeSystemFacts] = memo_in(registry.derived, FACTS_MEMO, FACTS_MEMO_MAX)
    facts = memo.get(id(cs))
    # the entry holds ``cs`` itself, so its id is not reused while the entry lives
    if facts is None or facts.cs is not cs:
        facts = memo.put(id(cs), CodeSystemFacts(cs, header_like(cs), code_system_value_set(cs)))
    return facts


class Validation(Terms):
    """One validation: what every coding is checked under (``Terms``), the value set
    compiled, the request, and what its codings found, coding by coding.

    A plain class, one object per request: its findings start as class defaults and are
    set as the codings find them (three objects per request cost a few per cent of it)."""

    # the first coding in the value set: system, code, version, display
    psys: str | None = None
    pcode: str | None = None
    pver: str | None = None
    pdisp: str | None = None
    # the coding that speaks for the request (the last in the value set, else the first)
    tsys: str | None = None
    tcode: str | None = None
    tver: str | None = None
    ok: bool | None = False  # True: a coding is in the value set; None: cannot tell
    inactive: Found | None = None  # the finding of the last coding inactive or with a status
    extra_version: str | None = None  # the version the code was found in, outside the value set
    normal_form: str | None = None

    def __init__(
        self,
        registry: Registry,
        req: ValidateCodeRequest,
        vs: CompiledValueSet,
        internal: bool,
        infer: bool,
        langs: tuple[str, ...],
        mode: str,
    ) -> None:
        self.registry, self.rules, self.infer = registry, req.rules, infer
        self.abstract_ok, self.membership_only = req.abstract, req.membership_only
        self.active_only = req.active_only
        self.req, self.vs = req, vs
        self.internal = (
            internal  # the implicit value set of a code system (CodeSystem $validate-code)
        )
        self.langs = langs  # the display languages asked for
        self.mode = mode  # code, coding or codeableConcept
        self.issue_path = (
            "" if mode == "code" else "Coding" if mode == "coding" else "CodeableConcept"
        )
        self.given: list[tuple[str, Coding]] = []  # (system, coding) of each coding checked
        self.seen_unknown: list[str] = []


def validate_codings(v: Validation, codings: tuple[Coding, ...]) -> ValidateCodeResult:
    """Check the codings (one for code and coding, any number for codeableConcept)."""
    out = Outcome()
    vs_status_check(v.vs, v.internal, out)
    for i, c in enumerate(codings):
        _coding(v, i, c, out)
    if v.ok is False and not v.internal:
        _not_in_vs(v, out)
    return _result(v, codings, out)


def _coding(v: Validation, i: int, c: Coding, out: Outcome) -> None:
    """Check the ``i``th coding ``c``."""
    mode, issue_path = v.mode, v.issue_path
    path = f"{issue_path}.coding[{i}]" if mode == "codeableConcept" else issue_path
    found = Found()
    r = check(
        v,
        v.vs,
        v.internal,
        path,
        (c.system or "", c.version or "", c.code or ""),
        found,
        out,
        display=c.display,
    )
    if found.inactive or found.status:
        v.inactive = found
    ws = found.implied_system or c.system or ""
    if not v.tcode or r is True:
        v.tsys, v.tcode, v.tver = c.system, c.code, c.version
    v.given.append((ws, c))
    if r is False and not v.internal and mode == "codeableConcept":
        out.add(
            Issue(
                "information",
                "code-invalid",
                M.NOT_IN_VS.format(codes=f"'{coding_text(ws, c)}'", vs=v.vs.name),
                "this-code-not-in-vs",
                f"{issue_path}.coding[{i}].code",
                "None_of_the_provided_codes_are_in_the_value_set_one",
            )
        )
    if v.ok is not True and r is not False:
        v.ok = r
    if r is True:
        _in_value_set(v, path, c, found, out)
    elif not v.req.membership_only and ws:
        _outside(v, i, path, ws, c, out)


def _in_value_set(v: Validation, path: str, c: Coding, found: Found, out: Outcome) -> None:
    """What is said of a coding in the value set: its display, a header given as a code."""
    cs = found.cs
    if found.content not in (None, "complete") and found.content == "example":
        m = M.NOT_ENOUGH_INFO.format(
            system=c.system, code=c.code, display=c.display, mode=found.content
        )
        out.msg(m)
        out.add(Issue("warning", "not-found", m, "vs-invalid", path or None))
    elif c.display and found.displays.items:
        check_display(v.langs, v.req.lenient_display, found.displays, c, path, out)
    if v.pcode is None:
        v.psys, v.pcode = c.system or found.implied_system, c.code
        v.normal_form = found.normal_form
        v.pver = found.version or None
        v.pdisp = found.displays.preferred(v.langs)
    concept = found.concept  # the concept of c.code in cs
    if (
        concept is not None
        and concept.abstract
        and v.abstract_ok
        and cs is not None
        and cs_facts(v.registry, cs).header_like
    ):
        # a header (not billable) given where a code may be abstract: valid, with a
        # warning; the concept's flag is tested first (most codes are billable)
        m = header_warning(cs, concept)
        out.msg(m)
        out.add(Issue("warning", "business-rule", m, "code-rule", join_path(path, "code")))


def _outside(v: Validation, i: int, path: str, ws: str, c: Coding, out: Outcome) -> None:
    """What is said of a coding not in the value set, read in its own code system ``ws``:
    a relative or unknown system, an unknown code, a wrong display."""
    mode, issue_path, registry = v.mode, v.issue_path, v.registry
    if not is_absolute(ws):
        m = M.RELATIVE_SYSTEM
        sp = (
            f"{issue_path}.system"
            if mode == "coding"
            else f"{issue_path}.coding[{i}].system"
            if mode == "codeableConcept"
            else issue_path or None
        )
        out.msg(m)
        out.add(Issue("error", "invalid", m, "invalid-data", sp, "Terminology_TX_System_Relative"))
    found = resolve(registry, v.rules, ws, c.version or "")
    prov = found.cs
    version_check(found, path, ws, out)
    if prov is None:
        if registry.canonical("ValueSet", ws) is not None:
            m = M.SYSTEM_IS_VS.format(url=ws)
            out.msg(m)
            out.add(
                Issue(
                    "error",
                    "invalid",
                    m,
                    "invalid-data",
                    join_path(path, "system"),
                    "Terminology_TX_System_ValueSet2",
                )
            )
        elif not c.version and not registry.has_system(ws):
            unknown_system(path, ws, out)
        else:
            unknown_version(registry, path, ws, c.version or "", out)
        return
    concept = prov.get(c.code or "")
    if concept is None:
        _unknown_code(v, path, ws, prov, c, out)
        return
    ds = Displays()
    list_displays(ds, prov, concept)
    v.pdisp = ds.preferred(v.langs) or v.pdisp
    if c.display:
        check_display(v.langs, v.req.lenient_display, ds, c, path, out)
    # the version of the code system the code was found in (outside the value set) is
    # reported for a code or coding; a codeable concept has no single coding to speak
    # for, so none is reported for it
    if prov.info.version and mode != "codeableConcept":
        v.extra_version = prov.info.version


def _unknown_code(
    v: Validation, path: str, ws: str, prov: CodeSystemIndex, c: Coding, out: Outcome
) -> None:
    """A code its code system does not have (once per code and per code system)."""
    key = f"{ws}|{prov.info.version}#{c.code}"
    if key in v.seen_unknown or not out.unknown_code(ws):
        return
    v.seen_unknown.append(key)
    where = join_path(path, "code")
    if prov.info.content == "complete":
        m, mid = unknown_code_text(prov, c.code or "")
        out.msg(m)
        out.add(Issue("error", "code-invalid", m, "invalid-code", where, mid))
    else:
        m = M.UNKNOWN_CODE_FRAGMENT.format(code=c.code, system=ws, version=prov.info.version or "")
        out.add(
            Issue("warning", "code-invalid", m, "invalid-code", where, "UNKNOWN_CODE_IN_FRAGMENT")
        )


def _not_in_vs(v: Validation, out: Outcome) -> None:
    """The error of a request none of whose codings is in the value set."""
    if v.mode == "codeableConcept":
        mid, m = "TX_GENERAL_CC_ERROR_MESSAGE", M.CC_NOT_IN_VS.format(vs=v.vs.name)
        p: str | None = None
    else:
        mid = "None_of_the_provided_codes_are_in_the_value_set_one"
        codes = ", ".join(f"'{coding_text(ws, c)}'" for ws, c in v.given)
        m = M.NOT_IN_VS.format(codes=codes, vs=v.vs.name)
        p = join_path(v.issue_path, "code")
    if out.add(Issue("error", "code-invalid", m, "not-in-vs", p, mid)):
        out.msg(m)


def _result(v: Validation, codings: tuple[Coding, ...], out: Outcome) -> ValidateCodeResult:
    """The answer: what the codings found, and the issues."""
    cc = v.mode == "codeableConcept"
    res = ValidateCodeResult(v.ok is True and not out.errors)
    if v.psys:
        res.system = v.psys
    elif v.ok is True and v.inactive is not None and v.inactive.implied_system:
        res.system = v.inactive.implied_system
    elif v.tsys and not cc:
        res.system = v.tsys
    res.unknown_systems = list(out.unknown)
    res.unknown_is_cause = v.ok is not False
    if v.pcode:
        res.code = v.pcode
    elif v.tcode and not cc:
        res.code = v.tcode
    if v.pver:
        res.version = v.pver
    elif v.tver and not cc:
        res.version = v.tver
    elif v.extra_version:
        res.version = v.extra_version
    if v.pdisp and (v.pcode or (v.tcode and not cc)):
        res.display = v.pdisp
    _status_note(v, res, out)
    for iss in out.issues:
        if iss.severity == "error":
            out.msg(iss.text)
    res.normalized_code = v.normal_form
    res.message = "; ".join(sorted(out.messages)) if out.messages else None
    res.issues = out.issues
    if cc:
        res.codeable_concept = codings
        res.text = v.req.text
    return res


def _status_note(v: Validation, res: ValidateCodeResult, out: Outcome) -> None:
    """The warning of a code found inactive or deprecated."""
    f = v.inactive
    note: tuple[str, str | None, str] | None = None  # (message, path, message id)
    if f is not None and f.inactive:
        res.inactive = True
        if f.status and f.status != "inactive":
            res.status = f.status
        st = "inactive" if not f.status or f.status == "inactive" else f"{f.status} and inactive"
        m = M.INACTIVE_FOUND.format(status=st, code=v.tcode)
        note = (m, f.inactive_path or None, "INACTIVE_CONCEPT_FOUND")
    elif f is not None and f.status and f.status.lower() == "deprecated":
        res.status = "deprecated"
        m = M.DEPRECATED_FOUND.format(code=v.tcode)
        note = (m, join_path(f.inactive_path, "code"), "DEPRECATED_CONCEPT_FOUND")
    if note is not None:
        out.msg(note[0])
        out.add(Issue("warning", "business-rule", note[0], "code-comment", note[1], note[2]))


def code_system_value_set(cs: CodeSystemIndex) -> dict[str, Any]:
    """The implicit value set of a whole code system version (CodeSystem $validate-code)."""
    include: dict[str, Any] = {"system": cs.info.url}
    vs: dict[str, Any] = {
        "resourceType": "ValueSet",
        "status": "active",
        "url": cs.info.extra.get("valueSet") or f"{cs.info.url}/vs",
        "compose": {"include": [include]},
    }
    if cs.info.version:
        vs["version"] = include["version"] = cs.info.version
    return vs
