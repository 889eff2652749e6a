"""ValueSet $validate-code: https://hl7.org/fhir/R5/valueset-operation-validate-code.html

A code, coding or codeable concept is checked against the value set's compose
(include by include, without expanding), and each coding against its code
system: unknown code, display, version, status. The issues, their codes
(issue-type and the terminology ecosystem's tx-issue-type), the elements they
point at (``code``, ``Coding.code``, ``CodeableConcept.coding[0].code``) and
their wording follow the HL7 terminology ecosystem (tx.fhir.org), so that
clients see the same answer from any server.

CodeSystem $validate-code is the same check against the implicit value set of
the whole code system (``internal``): it reports no value set membership.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ..errors import (
    CircularValueSet,
    InvalidRequest,
    InvalidValueSet,
    NotFound,
    TerminologyError,
    TooCostly,
)
from ..index import CodeSystemIndex
from ..memo import Memo, memo_in
from ..model import Coding, Concept, Designation
from ..registry import Registry, _version_key
from . import changes, dates, limits, supplements
from . import messages as M
from .contracts import NOTHING_TO_VALIDATE, Issue, ValidateCodeRequest, ValidateCodeResult
from .valueset import filter_op, registry_filter, registry_implicit
from .versions import more_detailed, present_versions, version_for, violated_check

HEADER_EXAMPLES = 5


class PrepareError(Exception):
    """The value set cannot be evaluated (an import is unknown): a result, not an HTTP error."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.text)
        self.issue = issue


def _path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def vurl(vs: dict[str, Any]) -> str:
    url = vs.get("url")
    if not url:
        return "(unidentified)"
    return f"{url}|{vs['version']}" if vs.get("version") else str(url)


def is_absolute(url: str) -> bool:
    return ":" in url


def header_like(cs: CodeSystemIndex) -> bool:
    """Code systems with a billable notion (ICD-10-CM): headers warn, variants get suggestions."""
    return any(d.code == "billable" for d in cs.info.property_defs)


def cs_language(cs: CodeSystemIndex) -> str | None:
    lang = cs.info.extra.get("language")
    return lang if isinstance(lang, str) else None


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


# Displays


class Display(NamedTuple):
    """One display (or designation) a code may be given with.

    A NamedTuple rather than a frozen dataclass: a few are built per validation, and a
    tuple is built several times faster."""

    value: str
    language: str | None
    # a display proper (the concept's display, or a designation whose use is a display):
    # any designation matches a given display, but only these are offered as the valid ones
    is_display: bool = True
    # a designation no longer to be used (standards-status deprecated or withdrawn): it
    # matches with a warning, and is not offered
    status: str | None = None


# designation uses that make a designation a display
DISPLAY_USES = {
    ("http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra", "preferredForLanguage"),
    ("http://terminology.hl7.org/CodeSystem/designation-usage", "display"),
    ("http://snomed.info/sct", "900000000000548007"),
}


def language_list(value: str | None) -> tuple[str, ...]:
    """The tags of a displayLanguage, which may list several (``de,it``), weighted as in
    Accept-Language; those weighted 0 are left out."""
    if not value:
        return ()
    out: list[str] = []
    for part in value.split(","):
        tag, _, weight = part.partition(";")
        w = weight.strip().removeprefix("q").strip().removeprefix("=").strip()
        if tag.strip() and not (w and w.strip("0.") == ""):
            out.append(tag.strip())
    return tuple(out)


EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def vs_languages(vs: dict[str, Any]) -> tuple[str, ...]:
    """The display language a value set asks for when the request names none: its compose's
    displayLanguage expansion parameter, else the value set's own language."""
    compose = vs.get("compose")
    for ext in (compose.get("extension", []) if isinstance(compose, dict) else []) or []:
        if not isinstance(ext, dict) or ext.get("url") != EXPANSION_PARAMETER:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", []) if isinstance(e, dict)}
        if (parts.get("name") or {}).get("valueCode") == "displayLanguage":
            value = next(
                (v for k, v in (parts.get("value") or {}).items() if k.startswith("value")), None
            )
            if isinstance(value, str):
                return language_list(value)
    lang = vs.get("language")
    return (lang,) if isinstance(lang, str) and lang else ()


def _lang_ok(lang: str | None, wanted: tuple[str, ...]) -> bool:
    if not wanted or lang is None:
        return True
    base = lang.split("-")[0].lower()
    return any(w == "*" or w.split("-")[0].lower() == base for w in wanted)


@dataclass(slots=True)
class Displays:
    items: list[Display] = field(default_factory=list)

    def add(
        self,
        value: str | None,
        language: str | None,
        is_display: bool = True,
        status: str | None = None,
    ) -> None:
        if not value:
            return
        for d in self.items:
            if d.value == value and d.language == language:
                return
        self.items.append(Display(value, language, is_display, status))

    def valid(self, langs: tuple[str, ...]) -> list[Display]:
        return [d for d in self.items if _lang_ok(d.language, langs)]

    def preferred(self, langs: tuple[str, ...]) -> str | None:
        if langs:
            for want in langs:
                for d in self.items:
                    if d.language and want != "*" and _lang_ok(d.language, (want,)):
                        return d.value
        return self.items[0].value if self.items else None


def _norm_ws(s: str) -> str:
    return " ".join(s.split())


def _present(ds: list[Display]) -> str:
    parts = [f"'{d.value}'" + (f" ({d.language})" if d.language else "") for d in ds]
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} or {parts[-1]}"


# The check


@dataclass(slots=True)
class Outcome:
    """What one validation collects: issues (deduplicated), messages, unknown systems."""

    issues: list[Issue] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)
    errors: bool = False  # an issue of severity error or fatal was added

    def add(self, issue: Issue) -> bool:
        key = (issue.severity, issue.code, issue.text, issue.expression)
        if any((i.severity, i.code, i.text, i.expression) == key for i in self.issues):
            return False
        self.issues.append(issue)
        if issue.severity in ("error", "fatal"):
            self.errors = True
        return True

    def msg(self, text: str) -> None:
        if text and text not in self.messages:
            self.messages.append(text)

    def unknown_system(self, s: str) -> bool:
        if s in self.unknown:
            return False
        self.unknown.append(s)
        return True

    def merge(self, other: Outcome) -> None:
        for i in other.issues:
            self.add(i)
        for m in other.messages:
            self.msg(m)
        for u in other.unknown:
            self.unknown_system(u)
        for c in other.unknown_codes:
            self.unknown_code(c)

    def unknown_code(self, system: str) -> bool:
        """True the first time an unknown code is reported for ``system``."""
        if system in self.unknown_codes:
            return False
        self.unknown_codes.append(system)
        return True


@dataclass(slots=True)
class Found:
    """What the check of one coding found, beside true/false."""

    version: str = ""
    content: str | None = None
    inactive: bool = False
    inactive_path: str = ""
    status: str | None = None
    normal_form: str | None = None
    implied_system: str = ""
    displays: Displays = field(default_factory=Displays)
    cs: CodeSystemIndex | None = None
    # the concept of the code in ``cs`` (``cs.get(code)``, None when it has none): set
    # with ``cs``, so that what follows the check does not look the code up again
    concept: Concept | None = None


def _ext(el: dict[str, Any], url: str) -> Any:
    for e in el.get("extension", []) or []:
        if isinstance(e, dict) and e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), True)
    return None


STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


class Plan:
    """What a validation needs of one value set alone (not of the request, nor of the code
    systems), each part derived on first use: see ``plan_of``."""

    __slots__ = (
        "_includes",
        "_languages",
        "_status",
        "checked",
        "compose",
        "name",
        "systems",
        "vs",
    )

    def __init__(self, vs: dict[str, Any]) -> None:
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            raise InvalidRequest(
                f"The value set '{vurl(vs)}' has no compose to evaluate", expression="compose"
            )
        self.vs = vs
        self.compose = compose
        self.name = vurl(vs)
        # the compose imports no value set and passed Checker.prepare: nothing to prepare
        self.checked = False
        self._languages: tuple[str, ...] | None = None
        self._includes: list[dict[str, Any]] | None = None
        self._status: tuple[str | None] | None = None
        # (system, version the include names, internal) -> the code system version found
        # for it, and its status issue's status (Checker.status_of), when neither the coding
        # nor a version rule names a version: the registry's content does not change
        self.systems: dict[tuple[str, str, bool], tuple[CodeSystemIndex, str | None]] = {}

    def languages(self) -> tuple[str, ...]:
        """``vs_languages(vs)``."""
        if self._languages is None:
            self._languages = vs_languages(self.vs)
        return self._languages

    def includes(self) -> list[dict[str, Any]]:
        """The includes in the order they are tried: compose order, except that includes of
        several versions of one code system are tried newest first (a code in both is the
        newer version's)."""
        if self._includes is None:
            self._includes = _ordered_includes(self.compose)
        return self._includes

    def status(self) -> str | None:
        """The value set's own status when it is withdrawn, deprecated or retired."""
        if self._status is None:
            std = _ext(self.vs, STANDARDS_STATUS)
            status = std if std in ("deprecated", "withdrawn") else None
            if status is None and self.vs.get("status") == "retired":
                status = "retired"
            self._status = (status,)
        return self._status[0]


PLAN_MEMO = "vs_validate.plans"  # key of the memo in Registry.derived
# As many as the implicit value sets kept (valueset.IMPLICIT_MEMO_MAX): a plan is kept by
# the identity of its value set, so a plan memo smaller than the value sets' would lose
# the plans of value sets still kept. A plan is about 0.6 KB.
PLAN_MEMO_MAX = 2048


def plan_of(registry: Registry, vs: dict[str, Any], remember: bool = True) -> Plan:
    """The plan of ``vs``; InvalidRequest when it has no compose.

    With ``remember`` (a value set that outlives the request: the registry's, an implicit
    one), the plan is kept in ``registry.derived`` (a per-request registry has its own;
    adding content empties it) and used again, by identity of the resource: resources are
    read-only. Bounded (emptied when full). A value set sent in the request is not kept.
    """
    if not remember:
        return Plan(vs)
    memo: Memo[int, Plan] = memo_in(registry.derived, PLAN_MEMO, PLAN_MEMO_MAX)
    plan = memo.get(id(vs))
    # the entry holds ``vs`` itself, so its id is not reused while the entry lives
    if plan is None or plan.vs is not vs:
        plan = memo.put(id(vs), Plan(vs))
    return plan


class Checker:
    """One value set prepared for validation (its imports prepared too).

    ``remember``: the value set outlives the request (see ``plan_of``).
    """

    def __init__(
        self,
        registry: Registry,
        vs: dict[str, Any],
        req: ValidateCodeRequest,
        internal: bool = False,
        stack: tuple[str, ...] = (),
        remember: bool = False,
    ) -> None:
        self.registry = registry
        self.vs = vs
        self.req = req
        self.internal = internal
        self.remember = remember
        self.plan = plan = plan_of(registry, vs, remember)
        self.stack = (*stack, plan.name)
        self.others: dict[str, Checker] = {}
        self.compose = plan.compose
        self.langs = language_list(req.display_language) or req.languages or plan.languages()

    # preparation

    def prepare(self) -> None:
        """Prepare the imported value sets; InvalidRequest for a malformed compose,
        InvalidValueSet for a filter without a value, PrepareError for an unknown import."""
        if self.plan.checked:
            return
        imports = False
        for kind in ("include", "exclude"):
            parts = self.compose.get(kind)
            if not parts:
                continue
            for i, inc in enumerate(parts):
                if not isinstance(inc, dict):
                    raise InvalidRequest(
                        f"compose.{kind}[{i}] must be an object", expression=f"compose.{kind}"
                    )
                refs = inc.get("valueSet")
                if refs:
                    imports = True
                    for ref in refs:
                        self._prepare_import(ref)
                filters = inc.get("filter")
                if not filters:
                    continue
                for j, f in enumerate(filters):
                    if f.get("value") in (None, ""):
                        raise InvalidValueSet(
                            M.FILTER_NO_VALUE.format(
                                system=inc.get("system"), prop=f.get("property"), op=filter_op(f)
                            ),
                            expression=f"ValueSet.compose.{kind}[{i}].filter[{j}]",
                        )
        # without imports, what was checked is the compose alone: the same the next time
        self.plan.checked = not imports

    def _prepare_import(self, ref: str) -> None:
        if ref in self.others:
            return
        target = self._find_vs(ref)
        if target is None:
            default = self.req.vs_defaults.get(ref)
            raise PrepareError(
                Issue(
                    "error",
                    "not-found",
                    M.UNKNOWN_VS.format(url=f"{ref}|{default}" if default else ref),
                    "not-found",
                    None,
                    "Unable_to_resolve_value_Set_",
                )
            )
        if vurl(target) in self.stack:
            raise CircularValueSet(
                M.VS_CIRCULAR.format(url=vurl(target), path=", ".join(self.stack))
            )
        checker = Checker(self.registry, target, self.req, stack=self.stack, remember=self.remember)
        checker.prepare()
        self.others[ref] = checker

    def _find_vs(self, ref: str) -> dict[str, Any] | None:
        if ref.startswith("#"):
            for c in self.vs.get("contained", []) or []:
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    return c
            return None
        url, _, version = ref.partition("|")
        version = version or self.req.vs_defaults.get(url, "")
        return registry_implicit(self.registry, url) or self.registry.canonical(
            "ValueSet", url, version or None
        )

    # code systems and versions

    def find_cs(
        self, url: str, version: str, out: Outcome | None, path: str, apply_rules: bool = True
    ) -> CodeSystemIndex | None:
        v = version_for(self.req.rules, url, version) if apply_rules else version
        cs = self.registry.find_code_system(url, v or None)
        if cs is not None and out is not None:
            bad = violated_check(self.req.rules, url, cs.info.version or "")
            if bad is not None:
                out.add(
                    Issue(
                        "error",
                        "exception",
                        M.VERSION_CHECK.format(system=url, version=cs.info.version, check=bad),
                        "version-error",
                        _path(path, "version"),
                        "VALUESET_VERSION_CHECK",
                    )
                )
        return cs

    def determine_version(
        self, path: str, system: str, version_vs: str, version_coding: str, out: Outcome
    ) -> str:
        result = version_for(self.req.rules, system, version_vs)
        if not version_coding:
            return result
        if result and version_coding != result and more_detailed(result, version_coding):
            result = version_coding
        if not result and any(
            v == version_coding or more_detailed(version_coding, v)
            for v in self.registry.code_systems.get(system, {})
        ):
            result = version_coding
        cs = self.find_cs(system, result, None, path)
        cs_v = (cs.info.version or "") if cs is not None else ""
        if cs is not None and cs_v != version_coding and not more_detailed(version_coding, cs_v):
            severity = "error"
            if not result:
                severity = "warning"
                mid, text = (
                    "VALUESET_VALUE_MISMATCH_DEFAULT",
                    M.MISMATCH_DEFAULT.format(system=system, version=cs_v, coding=version_coding),
                )
            elif result != version_vs:
                mid, text = (
                    "VALUESET_VALUE_MISMATCH_CHANGED",
                    M.MISMATCH_CHANGED.format(
                        system=system, version=result, vs=version_vs or "", coding=version_coding
                    ),
                )
            else:
                mid, text = (
                    "VALUESET_VALUE_MISMATCH",
                    M.MISMATCH.format(system=system, version=version_vs, coding=version_coding),
                )
            out.add(Issue(severity, "invalid", text, "vs-invalid", _path(path, "version"), mid))
            if severity == "error":
                out.msg(text)
            if self.registry.find_code_system(system, version_coding) is None:
                self._unknown_version(path, system, version_coding, out)
        elif cs is None and result != version_coding:
            text = M.MISMATCH.format(system=system, version=result, coding=version_coding)
            out.add(
                Issue(
                    "error",
                    "invalid",
                    text,
                    "vs-invalid",
                    _path(path, "version"),
                    "VALUESET_VALUE_MISMATCH",
                )
            )
            out.msg(text)
        return result

    def _unknown_version(self, path: str, system: str, version: str, out: Outcome) -> None:
        known = present_versions(self.registry, system)
        if known:
            mid, text, key = (
                "UNKNOWN_CODESYSTEM_VERSION",
                M.UNKNOWN_CS_VERSION.format(system=system, version=version, known=known),
                f"{system}|{version}",
            )
        else:
            mid, text, key = (
                "UNKNOWN_CODESYSTEM_VERSION_NONE",
                M.UNKNOWN_CS_VERSION_NONE.format(system=system, version=version),
                system,
            )
        out.msg(text)
        if out.unknown_system(key):
            out.add(Issue("error", "not-found", text, "not-found", _path(path, "system"), mid))

    def _unknown_system(self, path: str, system: str, out: Outcome) -> None:
        text = M.UNKNOWN_CS.format(system=system)
        out.msg(text)
        if out.unknown_system(system):
            out.add(
                Issue(
                    "error",
                    "not-found",
                    text,
                    "not-found",
                    _path(path, "system"),
                    "UNKNOWN_CODESYSTEM",
                )
            )

    def status_of(self, cs: CodeSystemIndex) -> str | None:
        """The status to report the code system under (``status_check``), if any."""
        info = cs.info
        std = _ext(info.extra, STANDARDS_STATUS)
        if std in ("deprecated", "withdrawn"):
            return str(std)
        if info.status == "retired":
            return "retired"
        if info.experimental and not self.vs.get("experimental") and not self.internal:
            return "experimental"
        if (
            (info.status == "draft" or std == "draft")
            and not (self.vs.get("status") == "draft" or _ext(self.vs, STANDARDS_STATUS) == "draft")
            and not self.internal
        ):
            return "draft"
        return None

    def status_check(self, cs: CodeSystemIndex, out: Outcome, status: str | None = "") -> None:
        """An information issue when the code system is deprecated, withdrawn, retired,
        or (for a value set that is not) experimental or draft; ``status``: ``status_of(cs)``
        when the caller has it."""
        if status == "":
            status = self.status_of(cs)
        if status is None:
            return  # the common case: nothing to say
        info = cs.info
        name = f"{info.url}|{info.version}" if info.version else info.url
        text = M.STATUS_REF.format(status=status, type="CodeSystem", url=name)
        out.add(
            Issue(
                "information", "business-rule", text, "status-check", None, f"MSG_{status.upper()}"
            )
        )

    def vs_status_check(self, out: Outcome) -> None:
        """Information issues for this value set, and those it imports, when withdrawn,
        deprecated or retired."""
        if self.internal:
            return
        status = self.plan.status()
        if status is not None:
            out.add(
                Issue(
                    "information",
                    "business-rule",
                    M.STATUS_REF.format(status=status, type="ValueSet", url=self.plan.name),
                    "status-check",
                    None,
                    f"MSG_{status.upper()}",
                )
            )
        for other in self.others.values():
            other.vs_status_check(out)

    # membership

    def determine_system(self, code: str) -> tuple[str, list[str]]:
        """The one system of the value set that has ``code`` ("" when none or several)."""
        systems: list[str] = []
        for inc in self.compose.get("include", []) or []:
            if inc.get("valueSet") or not inc.get("system"):
                for ch in self.others.values():
                    _s, found = ch.determine_system(code)
                    systems.extend(x for x in found if x not in systems)
                continue
            cs = self.find_cs(inc["system"], inc.get("version") or "", None, "")
            if cs is None:
                continue
            if self._in_include(cs, inc, code) is not None and inc["system"] not in systems:
                systems.append(inc["system"])
        return (systems[0] if len(systems) == 1 else ""), systems

    def include_systems(self) -> list[str]:
        """The code systems the value set draws on (its includes and its imports'), in order."""
        out: list[str] = []
        for inc in self.compose.get("include", []) or []:
            if isinstance(inc, dict) and inc.get("system") and inc["system"] not in out:
                out.append(inc["system"])
        for ch in self.others.values():
            out.extend(s for s in ch.include_systems() if s not in out)
        return out

    def _in_include(
        self, cs: CodeSystemIndex, inc: dict[str, Any], code: str, c: Concept | None = None
    ) -> Concept | None:
        """The concept when ``code`` is in the include (or exclude) ``inc`` of ``cs``, else
        None; ``c`` is the concept of ``code`` when the caller has it already.

        A filter that cannot be compiled or evaluated (an unknown code in an is-a) admits
        nothing; one that is too costly (a regex over the request's budget) raises
        TooCostly: the answer is not known."""
        if c is None:
            c = cs.get(code)
            if c is None:
                return None
        if "concept" in inc and not any(x.get("code") == c.code for x in inc["concept"]):
            return None
        for f in inc.get("filter", []) or []:
            compiled = registry_filter(self.registry, cs, f)
            if compiled is None:
                return None
            try:
                if not compiled.test(c):
                    return None
            except TooCostly:
                raise
            except TerminologyError:
                return None
        return c

    def check(
        self,
        path: str,
        system: str,
        version: str,
        code: str,
        abstract_ok: bool,
        infer: bool,
        found: Found,
        out: Outcome,
        display: str | None = None,
    ) -> bool | None:
        """True (in the value set), False (not), None (cannot tell: an unknown code system).

        ``display`` (the coding's) chooses between versions of the system that both have
        the code."""
        if not system and not infer:
            text = M.NO_SYSTEM
            out.msg(text)
            out.add(
                Issue(
                    "warning",
                    "invalid",
                    text,
                    "invalid-data",
                    path or None,
                    "Coding_has_no_system__cannot_validate",
                )
            )
            return False
        if not system:
            system, systems = self.determine_system(code)
            if not system:
                if len(systems) > 1:
                    text = M.INFER_MULTIPLE.format(
                        code=code, vs=vurl(self.vs), systems=", ".join(systems)
                    )
                    mid = "Unable_to_resolve_system__value_set_has_multiple_matches"
                else:
                    # name the code systems that were searched, so that the reader sees
                    # where the code was looked for
                    searched = self.include_systems()
                    text = (
                        M.INFER_NONE_IN.format(
                            code=code, vs=vurl(self.vs), systems=", ".join(searched)
                        )
                        if searched
                        else M.INFER_NONE.format(code=code, vs=vurl(self.vs))
                    )
                    mid = "UNABLE_TO_INFER_CODESYSTEM"
                out.msg(text)
                out.add(Issue("error", "not-found", text, "cannot-infer", "code", mid))
                return False
            found.implied_system = system
        result: bool | None = False
        first_miss: Outcome | None = None  # what the first include of the system said
        outer = out
        incs = self._includes_for(system, version)
        # several versions of the system in the value set, and a display to check: the code
        # is the version's whose display it is (else the first version that has the code)
        several = (
            display is not None
            and len(incs) > 1
            and sum(1 for i in incs if i.get("system") == system and i.get("version")) > 1
        )
        # Each include's findings are kept apart, to report only the first miss (or to drop
        # them: membership only). With one include there is nothing to choose between: it
        # writes to ``out`` directly, which gives the same outcome without a merge.
        apart = len(incs) > 1 or self.req.membership_only
        fallback: tuple[Outcome, Found] | None = None
        miss_found: Found | None = None
        for inc in incs:
            inc_system = inc.get("system")
            out = outer
            f = Found(implied_system=found.implied_system) if several else found
            if not inc_system:
                result = True
            elif inc_system == system:
                if apart:
                    out = Outcome(
                        unknown=list(outer.unknown), unknown_codes=list(outer.unknown_codes)
                    )
                inc_version = inc.get("version") or ""
                cs: CodeSystemIndex | None
                # without a version in the coding or rules, the search says the same each time
                remember = not version and not self.req.rules
                known = (
                    self.plan.systems.get((system, inc_version, self.internal))
                    if remember
                    else None
                )
                if known is not None:
                    # found before: determine_version and find_cs would find it again, and
                    # say nothing (no version in the coding, no rules)
                    cs, cs_status = known
                else:
                    v = self.determine_version(path, system, inc_version, version, out)
                    cs = self.find_cs(system, v, out, path)
                    cs_status = ""
                    if cs is not None and remember:
                        cs_status = self.status_of(cs)
                        self.plan.systems[(system, inc_version, self.internal)] = (cs, cs_status)
                if cs is None:
                    if self.req.membership_only:
                        return False
                    if not v:
                        self._unknown_system(path, system, out)
                    else:
                        self._unknown_version(path, system, v, out)
                    if out is not outer:
                        outer.merge(out)
                    return None
                if cs_status is not None:  # None: nothing to say (the common case)
                    self.status_check(cs, out, cs_status)
                f.version = cs.info.version or ""
                f.content = cs.info.content
                f.cs = cs
                f.concept = cs.get(code)
                result = self.check_concept_set(path, cs, inc, code, abstract_ok, f, out)
            else:
                result = False
            for ref in inc.get("valueSet", []) or []:
                if result is True:
                    result = self.others[ref].check(
                        path, system, version, code, abstract_ok, infer, f, out
                    )
            if out is not outer:
                if (
                    result is True
                    and several
                    and inc_system == system
                    and not _has_display(f.displays, display or "")
                ):
                    if fallback is None:
                        fallback = (out, f)
                    result = False
                    continue
                if result is True:
                    outer.merge(out)
                elif first_miss is None:
                    first_miss, miss_found = out, f
            if result is True:
                if f is not found:
                    _copy_found(f, found)
                break
        out = outer
        if result is not True and fallback is not None:
            result = True
            out.merge(fallback[0])
            _copy_found(fallback[1], found)
        elif result is not True and first_miss is not None:
            out.merge(first_miss)
            if miss_found is not None and miss_found is not found:
                _copy_found(miss_found, found)
        if result is True:
            for ex in self.compose.get("exclude", []) or []:
                excluded = True
                ex_system = ex.get("system")
                if ex_system:
                    excluded = False
                    if ex_system == system:
                        cs = self.find_cs(ex_system, ex.get("version") or "", None, path)
                        excluded = cs is not None and self._in_include(cs, ex, code) is not None
                for ref in ex.get("valueSet", []) or []:
                    excluded = excluded and (
                        self.others[ref].check(
                            path, system, version, code, abstract_ok, infer, Found(), Outcome()
                        )
                        is True
                    )
                if excluded:
                    return False
        return result

    def _includes_for(self, system: str, version: str) -> list[dict[str, Any]]:
        """The includes to try for a coding of ``system``: with a version in the coding,
        only the include(s) of that version of the system when the value set has one."""
        incs = self.plan.includes()
        if not version:
            return incs
        pinned = [
            i
            for i in incs
            if i.get("system") == system
            and i.get("version")
            and (i["version"] == version or more_detailed(str(i["version"]), version))
        ]
        if not pinned:
            return incs
        return [i for i in incs if i.get("system") != system or not i.get("version") or i in pinned]

    def _exclude_inactive(self) -> bool:
        return self.compose.get("inactive") is False

    def check_concept_set(
        self,
        path: str,
        cs: CodeSystemIndex,
        inc: dict[str, Any],
        code: str,
        abstract_ok: bool,
        found: Found,
        out: Outcome,
    ) -> bool:
        """Is ``code`` in the include ``inc`` of ``cs``? ``found.concept`` is its concept."""
        c = found.concept
        whole = "concept" not in inc and not inc.get("filter")
        where = f"{path}.code" if path else "code"  # _path(path, "code"), without a call
        if c is None:
            if whole and not self.req.membership_only:
                if cs.info.content != "complete":
                    out.add(
                        Issue(
                            "warning",
                            "code-invalid",
                            M.UNKNOWN_CODE_FRAGMENT.format(
                                code=code, system=cs.info.url, version=cs.info.version or ""
                            ),
                            "invalid-code",
                            where,
                            "UNKNOWN_CODE_IN_FRAGMENT",
                        )
                    )
                    return True
                if out.unknown_code(cs.info.url):
                    text, mid = unknown_code_text(cs, code)
                    out.add(Issue("error", "code-invalid", text, "invalid-code", where, mid))
            return False
        if "concept" in inc:
            listed = next((x for x in inc["concept"] if x.get("code") == c.code), None)
            if listed is None:
                return False
        else:
            listed = None
        if inc.get("filter") and self._in_include(cs, inc, code, c) is None:
            return False
        list_displays(found.displays, cs, c)
        if listed is not None and listed.get("display"):
            found.displays.add(listed["display"].strip(), self.vs.get("language"))
        if c.abstract and not abstract_ok:
            if not self.req.membership_only:
                out.add(
                    Issue(
                        "error",
                        "business-rule",
                        M.ABSTRACT.format(system=cs.info.url, code=code),
                        "code-rule",
                        where,
                        "ABSTRACT_CODE_NOT_ALLOWED",
                    )
                )
            return False
        if c.inactive and (self._exclude_inactive() or self.req.active_only):
            text = M.NOT_ACTIVE.format(code=code)
            out.add(
                Issue(
                    "error", "business-rule", text, "code-rule", where, "STATUS_CODE_WARNING_CODE"
                )
            )
            out.msg(text)
            if not self.req.membership_only:
                found.inactive, found.inactive_path, found.status = True, path, c.status
            return False
        if c.code != code:
            name = f"{cs.info.url}|{cs.info.version}" if cs.info.version else cs.info.url
            out.add(
                Issue(
                    "information",
                    "business-rule",
                    M.CASE_DIFFERENCE.format(code=code, real=c.code, system=name),
                    "code-rule",
                    where,
                    "CODE_CASE_DIFFERENCE",
                )
            )
            found.normal_form = c.code
        if listed is not None:
            sstatus = _ext(listed, STANDARDS_STATUS)
            if sstatus in ("withdrawn", "deprecated") or _ext(
                listed, "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
            ):
                out.add(
                    Issue(
                        "warning",
                        "business-rule",
                        M.DEPRECATED_IN_VS.format(
                            code=code,
                            system=cs.info.url,
                            status=sstatus or "deprecated",
                            vs=vurl(self.vs),
                        ),
                        "code-comment",
                        where,
                        "CONCEPT_DEPRECATED_IN_VALUESET",
                    )
                )
        found.inactive, found.inactive_path, found.status = c.inactive, path, c.status
        return True


def _ordered_includes(compose: dict[str, Any]) -> list[dict[str, Any]]:
    """The includes in compose order, except that includes of several versions of one
    code system are tried newest first (a code in both is the newer version's)."""
    incs = [i for i in compose.get("include", []) or [] if isinstance(i, dict)]
    if len(incs) < 2:
        return incs  # nothing to reorder (the implicit value sets: one include)
    out = list(incs)
    by_system: dict[str, list[int]] = {}
    for n, inc in enumerate(incs):
        if inc.get("system") and inc.get("version"):
            by_system.setdefault(inc["system"], []).append(n)
    for positions in by_system.values():
        if len(positions) > 1:
            ordered = sorted(
                (incs[n] for n in positions),
                key=lambda i: _version_key(str(i["version"])),
                reverse=True,
            )
            for n, inc in zip(positions, ordered, strict=True):
                out[n] = inc
    return out


def _has_display(ds: Displays, display: str) -> bool:
    return any(d.value.casefold() == display.casefold() for d in ds.items)


def _copy_found(src: Found, dst: Found) -> None:
    for name in Found.__slots__:
        setattr(dst, name, getattr(src, name))


def list_displays(displays: Displays, cs: CodeSystemIndex, c: Concept) -> None:
    lang = cs_language(cs)
    displays.add(c.display, lang)
    for d in c.designations:
        use = d.use or {}
        displays.add(
            d.value,
            d.language or lang,
            not use or (use.get("system"), use.get("code")) in DISPLAY_USES,
            _designation_status(d),
        )


def _designation_status(d: Designation) -> str | None:
    """ "deprecated" for a designation whose standards-status says it is no longer to be used."""
    for e in d.extensions:
        if e.get("url") == STANDARDS_STATUS and e.get("valueCode") in ("deprecated", "withdrawn"):
            return "deprecated"
    return None


def unknown_code_text(cs: CodeSystemIndex, code: str) -> tuple[str, str]:
    """The unknown-code message; for ICD-10-CM-like systems with a suggestion or what it is."""
    if cs.info.version:
        text = M.UNKNOWN_CODE_V.format(code=code, system=cs.info.url, version=cs.info.version)
        mid = "Unknown_Code_in_Version"
    else:
        text = M.UNKNOWN_CODE.format(code=code, system=cs.info.url)
        mid = "Unknown_Code_in"
    if header_like(cs):
        if (s := cs.suggest(code)) is not None:
            text += (
                f"; did you mean '{s}'? Codes are case-sensitive and written exactly as published"
            )
        elif code in cs.groupings:
            g = cs.groupings[code]
            text += f"; '{code}' is a {g.kind} ({g.title}), a grouping that is not a code"
    return text, mid


def _header_warning(cs: CodeSystemIndex, c: Concept) -> str:
    leaves = cs.selectable_descendants(c.code)
    shown = ", ".join(leaves[:HEADER_EXAMPLES])
    more = f" and {len(leaves) - HEADER_EXAMPLES} more" if len(leaves) > HEADER_EXAMPLES else ""
    return (
        f"'{c.code}' is a header, not selectable (not billable); use one of its "
        f"{len(leaves)} billable descendants: {shown}{more}"
    )


def _coding_text(system: str, c: Coding) -> str:
    """A coding as messages quote it: ``system|version#code ('display')``."""
    text = f"{system}|{c.version}#{c.code}" if c.version else f"{system}#{c.code}"
    return text + f" ('{c.display}')" if c.display else text


def validate_codings(
    checker: Checker, codings: tuple[Coding, ...], mode: str, abstract_ok: bool, infer: bool
) -> ValidateCodeResult:
    """Check the codings (one for code and coding, any number for codeableConcept)."""
    req = checker.req
    issue_path = "" if mode == "code" else "Coding" if mode == "coding" else "CodeableConcept"
    out = Outcome()
    checker.vs_status_check(out)
    langs = checker.langs
    ok: bool | None = False
    psys = pcode = pver = pdisp = None
    tsys = tcode = tver = None
    inactive: Found | None = None  # the finding of the last coding inactive or with a status
    given: list[tuple[str, Coding]] = []  # (system, coding) of each coding checked
    seen_unknown: list[str] = []
    extra_version: str | None = None
    normal_form: str | None = None
    for i, c in enumerate(codings):
        path = f"{issue_path}.coding[{i}]" if mode == "codeableConcept" else issue_path
        found = Found()
        v = checker.check(
            path,
            c.system or "",
            c.version or "",
            c.code or "",
            abstract_ok,
            infer,
            found,
            out,
            display=c.display,
        )
        if found.inactive or found.status:
            inactive = found
        ws = found.implied_system or c.system or ""
        if not tcode or v is True:
            tsys, tcode, tver = c.system, c.code, c.version
        given.append((ws, c))
        if v is False and not checker.internal and mode == "codeableConcept":
            out.add(
                Issue(
                    "information",
                    "code-invalid",
                    M.NOT_IN_VS.format(codes=f"'{_coding_text(ws, c)}'", vs=vurl(checker.vs)),
                    "this-code-not-in-vs",
                    f"{issue_path}.coding[{i}].code",
                    "None_of_the_provided_codes_are_in_the_value_set_one",
                )
            )
        if ok is not True and v is not False:
            ok = v
        if v is True:
            cs = found.cs
            if found.content not in (None, "complete") and found.content == "example":
                m = M.NOT_ENOUGH_INFO.format(
                    system=c.system, code=c.code, display=c.display, mode=found.content
                )
                out.msg(m)
                out.add(Issue("warning", "not-found", m, "vs-invalid", path or None))
            elif c.display and found.displays.items:
                check_display(checker, found.displays, c, path, out)
            if pcode is None:
                psys, pcode = c.system or found.implied_system, c.code
                normal_form = found.normal_form
                pver = found.version or None
                pdisp = found.displays.preferred(langs)
            concept = found.concept  # the concept of c.code in cs
            if (
                concept is not None
                and concept.abstract
                and abstract_ok
                and cs is not None
                and cs_facts(checker.registry, cs).header_like
            ):
                # a header (not billable) given where a code may be abstract: valid, with a
                # warning; the concept's flag is tested first (most codes are billable)
                m = _header_warning(cs, concept)
                out.msg(m)
                out.add(Issue("warning", "business-rule", m, "code-rule", _path(path, "code")))
        elif not req.membership_only and ws:
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
                out.add(
                    Issue(
                        "error", "invalid", m, "invalid-data", sp, "Terminology_TX_System_Relative"
                    )
                )
            prov = checker.find_cs(ws, c.version or "", out, path)
            if prov is None:
                if checker.registry.canonical("ValueSet", ws) is not None:
                    m = M.SYSTEM_IS_VS.format(url=ws)
                    out.msg(m)
                    out.add(
                        Issue(
                            "error",
                            "invalid",
                            m,
                            "invalid-data",
                            _path(path, "system"),
                            "Terminology_TX_System_ValueSet2",
                        )
                    )
                elif not c.version and not checker.registry.has_system(ws):
                    checker._unknown_system(path, ws, out)
                else:
                    checker._unknown_version(path, ws, c.version or "", out)
            else:
                concept = prov.get(c.code or "")
                if concept is None:
                    key = f"{ws}|{prov.info.version}#{c.code}"
                    if key not in seen_unknown and out.unknown_code(ws):
                        seen_unknown.append(key)
                        if prov.info.content == "complete":
                            m, mid = unknown_code_text(prov, c.code or "")
                            out.msg(m)
                            out.add(
                                Issue(
                                    "error",
                                    "code-invalid",
                                    m,
                                    "invalid-code",
                                    _path(path, "code"),
                                    mid,
                                )
                            )
                        else:
                            m = M.UNKNOWN_CODE_FRAGMENT.format(
                                code=c.code, system=ws, version=prov.info.version or ""
                            )
                            out.add(
                                Issue(
                                    "warning",
                                    "code-invalid",
                                    m,
                                    "invalid-code",
                                    _path(path, "code"),
                                    "UNKNOWN_CODE_IN_FRAGMENT",
                                )
                            )
                else:
                    ds = Displays()
                    list_displays(ds, prov, concept)
                    pdisp = ds.preferred(langs) or pdisp
                    if c.display:
                        check_display(checker, ds, c, path, out, simple=True)
                    # the version of the code system the code was found in (outside the
                    # value set) is reported for a code or coding; a codeable concept has no
                    # single coding to speak for, so none is reported for it
                    if prov.info.version and mode != "codeableConcept":
                        extra_version = prov.info.version
    if ok is False and not checker.internal:
        if mode == "codeableConcept":
            mid, m = "TX_GENERAL_CC_ERROR_MESSAGE", M.CC_NOT_IN_VS.format(vs=vurl(checker.vs))
            p: str | None = None
        else:
            mid = "None_of_the_provided_codes_are_in_the_value_set_one"
            codes = ", ".join(f"'{_coding_text(ws, c)}'" for ws, c in given)
            m = M.NOT_IN_VS.format(codes=codes, vs=vurl(checker.vs))
            p = _path(issue_path, "code")
        if out.add(Issue("error", "code-invalid", m, "not-in-vs", p, mid)):
            out.msg(m)
    res = ValidateCodeResult(ok is True and not out.errors)
    if psys:
        res.system = psys
    elif ok is True and inactive is not None and inactive.implied_system:
        res.system = inactive.implied_system
    elif tsys and mode != "codeableConcept":
        res.system = tsys
    res.unknown_systems = list(out.unknown)
    res.unknown_is_cause = ok is not False
    if pcode:
        res.code = pcode
    elif tcode and mode != "codeableConcept":
        res.code = tcode
    if pver:
        res.version = pver
    elif tver and mode != "codeableConcept":
        res.version = tver
    elif extra_version:
        res.version = extra_version
    if pdisp and (pcode or (tcode and mode != "codeableConcept")):
        res.display = pdisp
    f = inactive
    note: tuple[str, str | None, str] | None = None  # (message, path, message id)
    if f is not None and f.inactive:
        res.inactive = True
        if f.status and f.status != "inactive":
            res.status = f.status
        st = "inactive" if not f.status or f.status == "inactive" else f"{f.status} and inactive"
        m = M.INACTIVE_FOUND.format(status=st, code=tcode)
        note = (m, f.inactive_path or None, "INACTIVE_CONCEPT_FOUND")
    elif f is not None and f.status and f.status.lower() == "deprecated":
        res.status = "deprecated"
        m = M.DEPRECATED_FOUND.format(code=tcode)
        note = (m, _path(f.inactive_path, "code"), "DEPRECATED_CONCEPT_FOUND")
    if note is not None:
        out.msg(note[0])
        out.add(Issue("warning", "business-rule", note[0], "code-comment", note[1], note[2]))
    for iss in out.issues:
        if iss.severity == "error":
            out.msg(iss.text)
    res.normalized_code = normal_form
    res.message = "; ".join(sorted(out.messages)) if out.messages else None
    res.issues = out.issues
    if mode == "codeableConcept":
        res.codeable_concept = codings
        res.text = req.text
    return res


def check_display(
    checker: Checker, ds: Displays, c: Coding, path: str, out: Outcome, simple: bool = False
) -> None:
    langs = checker.langs
    display = c.display or ""
    # the common case, a right display given exactly: a current one, valid in the languages
    for d in ds.items:
        if d.value == display and not d.status and (not langs or _lang_ok(d.language, langs)):
            return
    valid = ds.valid(langs)
    matched = [d for d in valid if d.value.casefold() == display.casefold()]
    if matched:
        if all(d.status for d in matched):
            current = sorted({d.value for d in valid if not d.status})
            m = M.INACTIVE_DISPLAY.format(
                display=display,
                code=c.code,
                status=matched[0].status,
                valid=",".join(f'"{v}"' if " " in v or "," in v else v for v in current),
            )
            out.add(
                Issue(
                    "warning",
                    "invalid",
                    m,
                    "display-comment",
                    _path(path, "display"),
                    "INACTIVE_DISPLAY_FOUND",
                )
            )
        return
    ws = any(_norm_ws(d.value).casefold() == _norm_ws(display).casefold() for d in valid)
    mid = (
        "Display_Name_WS_for__should_be_one_of__instead_of"
        if ws
        else "Display_Name_for__should_be_one_of__instead_of"
    )
    lead = M.WRONG_DISPLAY_WS if ws else M.WRONG_DISPLAY
    severity = "warning" if checker.req.lenient_display else "error"
    lang_summary = ",".join(langs) if langs else "--"
    target = f"{c.system}#{c.code}"
    if not valid:
        default = ds.items[0].value if ds.items else None
        if default is None:
            return
        if any(d.value.casefold() == display.casefold() for d in ds.items):
            severity, mid = "information", "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK"
            m = M.NONE_FOR_LANG_OK.format(target=target, langs=lang_summary, display=display)
        else:
            mid = "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR"
            m = M.NONE_FOR_LANG_ERR.format(
                display=display, target=target, langs=lang_summary, default=default
            )
    else:
        offered = [d for d in valid if d.is_display] or valid
        if len(offered) == 1:
            m = lead.format(display=display, target=target) + M.VALID_ONE.format(
                present=_present(offered), langs=lang_summary
            )
        else:
            m = lead.format(display=display, target=target) + M.VALID_MANY.format(
                n=len(offered), present=_present(offered), langs=lang_summary
            )
    out.msg(m)
    out.add(Issue(severity, "invalid", m, "invalid-display", _path(path, "display"), mid))


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
    # a value set sent in the request lives as long as the request: its plan is not kept
    checker = Checker(registry, vs, req, internal, remember=vs is not req.value_set)
    try:
        checker.prepare()
    except PrepareError as e:
        first = codings[0]
        res = ValidateCodeResult(False, message=e.issue.text, issues=[e.issue])
        if mode != "codeableConcept":
            res.system, res.code = first.system, first.code
        else:
            res.codeable_concept = codings
            res.text = req.text
        return res
    return validate_codings(checker, codings, mode, req.abstract, infer)


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
    version = version_for(req.rules, system, req.system_version or (c.version if c else None))
    cs = registry.find_code_system(system, version or None)
    if cs is not None:
        changes.explain(registry, res, cs, [code])


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
