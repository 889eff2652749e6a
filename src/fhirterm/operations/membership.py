"""Is one coding in a value set, and what is to be said of it: the $validate-code reading
of a compiled value set (``compose.compile_for_validation``).

The compiled value set names the includes a coding is tried against, in order
(``CompiledValueSet.includes_for``), whether a concept is in an include
(``Include.holds``) and the value sets it imports; ``versions.resolve`` says which
version of a code system an include means for the coding. What is read here is what the
validation reports beside true/false, as HL7's ValueSetValidator does: the include that
matched (its code system version and status, the concept's display, abstract and
inactive status, its deprecation in the value set), or the first include that did not
(an unknown code, an unknown code system or version, a version the coding disagrees
with).
"""

from __future__ import annotations

from ..index import CodeSystemIndex
from ..registry import Registry
from . import messages as M
from .contracts import Issue, VersionRules
from .displays import has_display, list_displays
from .outcome import (
    STANDARDS_STATUS,
    Found,
    Outcome,
    copy_found,
    cs_status,
    ext_value,
    join_path,
    status_issue,
    unknown_code_text,
    unknown_system,
    unknown_version,
    vs_status,
)
from .valueset import CompiledValueSet, Include
from .versions import Resolution, more_detailed, resolve


class Terms:
    """What a validation asks of every coding, beside the coding itself."""

    registry: Registry
    rules: VersionRules
    abstract_ok: bool  # may an abstract (notSelectable) code be valid?
    infer: bool  # a coding without a system takes the one system that has its code
    membership_only: bool
    active_only: bool

    def __init__(
        self,
        registry: Registry,
        rules: VersionRules,
        abstract_ok: bool,
        infer: bool,
        membership_only: bool = False,
        active_only: bool = False,
    ) -> None:
        self.registry, self.rules = registry, rules
        self.abstract_ok, self.infer = abstract_ok, infer
        self.membership_only, self.active_only = membership_only, active_only


def check(
    t: Terms,
    vs: CompiledValueSet,
    internal: bool,
    path: str,
    coding: tuple[str, str, str],
    found: Found,
    out: Outcome,
    display: str | None = None,
) -> bool | None:
    """True (``coding``, (system, version, code), is in ``vs``), False (not), None (cannot
    tell: an unknown code system). ``internal``: ``vs`` is the implicit value set of a code
    system. ``found`` receives what the matching (else the first) include found.

    ``display`` (the coding's) chooses between versions of the system that both have
    the code."""
    system, version, code = coding
    if not system and not t.infer:
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
        system = infer_system(t, vs, code, out)
        if not system:
            return False
        found.implied_system = system
    result = _includes(t, vs, internal, path, (system, version, code), found, out, display)
    if result is True and _excluded(t, vs, path, (system, version, code)):
        return False
    return result


def infer_system(t: Terms, vs: CompiledValueSet, code: str, out: Outcome) -> str:
    """The one code system of ``vs`` that has ``code``; "" (with an issue) when none or
    several do."""
    systems = vs.systems_with(t.registry, t.rules, code)
    if len(systems) == 1:
        return systems[0]
    if len(systems) > 1:
        text = M.INFER_MULTIPLE.format(code=code, vs=vs.name, systems=", ".join(systems))
        mid = "Unable_to_resolve_system__value_set_has_multiple_matches"
    else:
        # name the code systems that were searched, so that the reader sees where the code
        # was looked for
        searched = vs.include_systems()
        text = (
            M.INFER_NONE_IN.format(code=code, vs=vs.name, systems=", ".join(searched))
            if searched
            else M.INFER_NONE.format(code=code, vs=vs.name)
        )
        mid = "UNABLE_TO_INFER_CODESYSTEM"
    out.msg(text)
    out.add(Issue("error", "not-found", text, "cannot-infer", "code", mid))
    return ""


def _includes(
    t: Terms,
    vs: CompiledValueSet,
    internal: bool,
    path: str,
    coding: tuple[str, str, str],
    found: Found,
    outer: Outcome,
    display: str | None,
) -> bool | None:
    """The includes of ``vs`` tried in order, up to the first that has the coding."""
    system, version, _code = coding
    incs = vs.includes_for(system, version)
    # several versions of the system in the value set, and a display to check: the code
    # is the version's whose display it is (else the first version that has the code)
    several = (
        display is not None
        and len(incs) > 1
        and sum(1 for i in incs if i.system == system and i.stated_version) > 1
    )
    # Each include's findings are kept apart, to report only the first miss (or to drop
    # them: membership only). With one include there is nothing to choose between: it
    # writes to ``outer`` directly, which gives the same outcome without a merge.
    apart = len(incs) > 1 or t.membership_only
    # the first include that missed, and (several versions of the system, a display to
    # choose by) the first that matched without the display: (its outcome, its findings)
    first_miss: tuple[Outcome, Found] | None = None
    fallback: tuple[Outcome, Found] | None = None
    result: bool | None = False
    for inc in incs:
        out = outer
        f = Found(implied_system=found.implied_system) if several else found
        if not inc.system:
            result = True
        elif inc.system == system:
            if apart:
                out = Outcome(unknown=list(outer.unknown), unknown_codes=list(outer.unknown_codes))
            result = _own(t, vs, internal, inc, path, coding, f, out)
            if result is None:
                if t.membership_only:
                    return False
                if out is not outer:
                    outer.merge(out)
                return None
        else:
            result = False
        for sub in inc.value_sets:
            if result is True:
                result = check(t, sub, False, path, coding, f, out)
        if out is not outer:
            if (
                result is True
                and several
                and inc.system == system
                and not has_display(f.displays, display or "")
            ):
                if fallback is None:
                    fallback = (out, f)
                continue
            if result is True:
                outer.merge(out)
            elif first_miss is None:
                first_miss = (out, f)
        if result is True:
            if f is not found:
                copy_found(f, found)
            return True
    # nothing matched: the first match without the display, else the first miss speaks
    chosen = fallback or first_miss
    if chosen is not None:
        outer.merge(chosen[0])
        if chosen[1] is not found:
            copy_found(chosen[1], found)
    return True if fallback is not None else result


def _own(
    t: Terms,
    vs: CompiledValueSet,
    internal: bool,
    inc: Include,
    path: str,
    coding: tuple[str, str, str],
    found: Found,
    out: Outcome,
) -> bool | None:
    """Is the coding in the code system part of ``inc`` (a part of ``inc.system``, the
    coding's system)? None when the version of the code system it means is not known."""
    system, version, code = coding
    # without a version in the coding or rules, the version found is the same each time
    remember = not version and not t.rules
    known = inc.memo.get(internal) if remember else None
    if known is not None:
        cs, status = known
    else:
        found_version = resolve_for(t, path, system, inc.stated_version or "", version, out)
        cs = found_version.cs
        if cs is None:
            if not t.membership_only:
                if not found_version.version:
                    unknown_system(path, system, out)
                else:
                    unknown_version(t.registry, path, system, found_version.version, out)
            return None
        status = cs_status(cs, vs.resource, internal)
        if remember:
            inc.memo[internal] = (cs, status)
    if status is not None:  # None: nothing to say (the common case)
        info = cs.info
        status_issue(
            "CodeSystem", f"{info.url}|{info.version}" if info.version else info.url, status, out
        )
    found.version = cs.info.version or ""
    found.content = cs.info.content
    found.cs = cs
    found.concept = cs.get(code)
    return concept_in_include(t, vs, path, cs, inc, code, found, out)


def resolve_for(
    t: Terms, path: str, system: str, stated: str, coding: str, out: Outcome
) -> Resolution:
    """``versions.resolve`` for a coding of ``system|coding`` in an include naming
    ``stated``, with the issues it gives: a coding version the include's disagrees with,
    a version a check-system-version rule does not allow."""
    found = resolve(t.registry, t.rules, system, stated, coding)
    if coding:
        _version_mismatch(t, path, system, stated, coding, found, out)
    version_check(found, path, system, out)
    return found


def version_check(found: Resolution, path: str, system: str, out: Outcome) -> None:
    """The error of a code system version that a check-system-version rule does not allow."""
    cs = found.cs
    if cs is not None and found.violated is not None:
        out.add(
            Issue(
                "error",
                "exception",
                M.VERSION_CHECK.format(
                    system=system, version=cs.info.version, check=found.violated
                ),
                "version-error",
                join_path(path, "version"),
                "VALUESET_VERSION_CHECK",
            )
        )


def _version_mismatch(
    t: Terms,
    path: str,
    system: str,
    stated: str,
    coding: str,
    found: Resolution,
    out: Outcome,
) -> None:
    """The issues of a coding whose version is not the one the include means."""
    result, cs = found.version, found.cs
    cs_v = (cs.info.version or "") if cs is not None else ""
    where = join_path(path, "version")
    if cs is not None and cs_v != coding and not more_detailed(coding, cs_v):
        severity = "error"
        if not result:
            severity = "warning"
            mid = "VALUESET_VALUE_MISMATCH_DEFAULT"
            text = M.MISMATCH_DEFAULT.format(system=system, version=cs_v, coding=coding)
        elif result != stated:
            mid = "VALUESET_VALUE_MISMATCH_CHANGED"
            text = M.MISMATCH_CHANGED.format(
                system=system, version=result, vs=stated or "", coding=coding
            )
        else:
            mid = "VALUESET_VALUE_MISMATCH"
            text = M.MISMATCH.format(system=system, version=stated, coding=coding)
        out.add(Issue(severity, "invalid", text, "vs-invalid", where, mid))
        if severity == "error":
            out.msg(text)
        if t.registry.find_code_system(system, coding) is None:
            unknown_version(t.registry, path, system, coding, out)
    elif cs is None and result != coding:
        text = M.MISMATCH.format(system=system, version=result, coding=coding)
        out.add(Issue("error", "invalid", text, "vs-invalid", where, "VALUESET_VALUE_MISMATCH"))
        out.msg(text)


def concept_in_include(
    t: Terms,
    vs: CompiledValueSet,
    path: str,
    cs: CodeSystemIndex,
    inc: Include,
    code: str,
    found: Found,
    out: Outcome,
) -> bool:
    """Is ``code`` in the include ``inc`` of ``cs``? ``found.concept`` is its concept."""
    c = found.concept
    where = f"{path}.code" if path else "code"  # join_path(path, "code"), without a call
    if c is None:
        return _unknown_code(t, cs, inc, code, where, out)
    listed = inc.entries.get(c.code) if inc.entries is not None else None
    if inc.entries is not None and listed is None:
        return False
    if inc.filter_defs and not inc.holds(t.registry, cs, c):
        return False
    list_displays(found.displays, cs, c)
    if listed is not None and listed.get("display"):
        found.displays.add(listed["display"].strip(), vs.resource.get("language"))
    if c.abstract and not t.abstract_ok:
        if not t.membership_only:
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
    if c.inactive and (vs.inactive is False or t.active_only):
        text = M.NOT_ACTIVE.format(code=code)
        out.add(
            Issue("error", "business-rule", text, "code-rule", where, "STATUS_CODE_WARNING_CODE")
        )
        out.msg(text)
        if not t.membership_only:
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
        _deprecated_in_vs(vs, cs, listed, code, where, out)
    found.inactive, found.inactive_path, found.status = c.inactive, path, c.status
    return True


def _unknown_code(
    t: Terms, cs: CodeSystemIndex, inc: Include, code: str, where: str, out: Outcome
) -> bool:
    """A code ``cs`` does not have: not in the include, with an issue when the include takes
    the code system whole; in it (with a warning) when ``cs`` is a fragment."""
    if inc.whole() and not t.membership_only:
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


def _deprecated_in_vs(
    vs: CompiledValueSet,
    cs: CodeSystemIndex,
    listed: dict[str, object],
    code: str,
    where: str,
    out: Outcome,
) -> None:
    """A warning when the value set's entry for the code says it is deprecated there."""
    sstatus = ext_value(listed, STANDARDS_STATUS)
    if sstatus in ("withdrawn", "deprecated") or ext_value(
        listed, "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
    ):
        out.add(
            Issue(
                "warning",
                "business-rule",
                M.DEPRECATED_IN_VS.format(
                    code=code, system=cs.info.url, status=sstatus or "deprecated", vs=vs.name
                ),
                "code-comment",
                where,
                "CONCEPT_DEPRECATED_IN_VALUESET",
            )
        )


def _excluded(t: Terms, vs: CompiledValueSet, path: str, coding: tuple[str, str, str]) -> bool:
    """An exclude of ``vs`` removes the coding: an exclude of its system that has the code
    (in whatever version), and every value set the exclude imports has it too."""
    system, _version, code = coding
    for ex in vs.excludes:
        excluded = True
        if ex.system:
            excluded = False
            if ex.system == system:
                cs = resolve(t.registry, t.rules, ex.system, ex.stated_version).cs
                c = cs.get(code) if cs is not None else None
                excluded = cs is not None and c is not None and ex.holds(t.registry, cs, c)
        for sub in ex.value_sets:
            excluded = excluded and check(t, sub, False, path, coding, Found(), Outcome()) is True
        if excluded:
            return True
    return False


def vs_status_check(vs: CompiledValueSet, internal: bool, out: Outcome) -> None:
    """Information issues for ``vs``, and the value sets it imports, when withdrawn,
    deprecated or retired (none for the implicit value set of a code system)."""
    if internal:
        return
    status = vs.memo.get("status", False)
    if status is False:
        status = vs.memo["status"] = vs_status(vs.resource)
    if status is not None:
        status_issue("ValueSet", vs.name, status, out)
    for other in vs.imports():
        vs_status_check(other, False, out)
