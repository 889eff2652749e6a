"""What one validation collects (issues, messages, unknown systems) and the issues it
shares between the code system and the value set checks.

The issues' codes (issue-type and the terminology ecosystem's tx-issue-type), the
elements they point at and their wording follow the HL7 terminology ecosystem
(tx.fhir.org), so that clients see the same answer from any server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..index import CodeSystemIndex
from ..model import Coding, Concept
from ..registry import Registry
from . import messages as M
from .contracts import Issue
from .displays import Displays
from .versions import present_versions

HEADER_EXAMPLES = 5
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


def join_path(path: str, name: str) -> str:
    """``path.name``, or ``name`` at the top."""
    return f"{path}.{name}" if path else name


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


def copy_found(src: Found, dst: Found) -> None:
    for name in Found.__slots__:
        setattr(dst, name, getattr(src, name))


def ext_value(el: dict[str, Any], url: str) -> Any:
    """The value of the extension ``url`` of ``el`` (True when it has none), else None."""
    for e in el.get("extension", []) or []:
        if isinstance(e, dict) and e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), True)
    return None


def unknown_system(path: str, system: str, out: Outcome) -> None:
    """The code system is not known."""
    text = M.UNKNOWN_CS.format(system=system)
    out.msg(text)
    if out.unknown_system(system):
        out.add(
            Issue(
                "error",
                "not-found",
                text,
                "not-found",
                join_path(path, "system"),
                "UNKNOWN_CODESYSTEM",
            )
        )


def unknown_version(registry: Registry, path: str, system: str, version: str, out: Outcome) -> None:
    """The code system is known, but not in ``version`` (or not at all)."""
    known = present_versions(registry, system)
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
        out.add(Issue("error", "not-found", text, "not-found", join_path(path, "system"), mid))


def status_issue(kind: str, url: str, status: str, out: Outcome) -> None:
    """An information issue: the code system or value set ``url`` is deprecated, withdrawn,
    retired, experimental or draft."""
    out.add(
        Issue(
            "information",
            "business-rule",
            M.STATUS_REF.format(status=status, type=kind, url=url),
            "status-check",
            None,
            f"MSG_{status.upper()}",
        )
    )


def vs_status(vs: dict[str, Any]) -> str | None:
    """A value set's own status when it is withdrawn, deprecated or retired."""
    std = ext_value(vs, STANDARDS_STATUS)
    status = std if std in ("deprecated", "withdrawn") else None
    if status is None and vs.get("status") == "retired":
        status = "retired"
    return status


def cs_status(cs: CodeSystemIndex, vs: dict[str, Any], internal: bool) -> str | None:
    """The status to report the code system ``cs`` under, found through the value set
    ``vs`` (``internal``: the implicit value set of the code system itself), if any."""
    info = cs.info
    std = ext_value(info.extra, STANDARDS_STATUS)
    if std in ("deprecated", "withdrawn"):
        return str(std)
    if info.status == "retired":
        return "retired"
    if info.experimental and not vs.get("experimental") and not internal:
        return "experimental"
    if (
        (info.status == "draft" or std == "draft")
        and not (vs.get("status") == "draft" or ext_value(vs, STANDARDS_STATUS) == "draft")
        and not internal
    ):
        return "draft"
    return None


def header_like(cs: CodeSystemIndex) -> bool:
    """Code systems with a billable notion (ICD-10-CM): headers warn, variants get suggestions."""
    return any(d.code == "billable" for d in cs.info.property_defs)


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


def header_warning(cs: CodeSystemIndex, c: Concept) -> str:
    leaves = cs.selectable_descendants(c.code)
    shown = ", ".join(leaves[:HEADER_EXAMPLES])
    more = f" and {len(leaves) - HEADER_EXAMPLES} more" if len(leaves) > HEADER_EXAMPLES else ""
    return (
        f"'{c.code}' is a header, not selectable (not billable); use one of its "
        f"{len(leaves)} billable descendants: {shown}{more}"
    )


def coding_text(system: str, c: Coding) -> str:
    """A coding as messages quote it: ``system|version#code ('display')``."""
    text = f"{system}|{c.version}#{c.code}" if c.version else f"{system}#{c.code}"
    return text + f" ('{c.display}')" if c.display else text
