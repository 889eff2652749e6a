"""Displays: which displays a code may be given with, in which languages, and the issue
when the one given is not one of them (the wording of the HL7 terminology ecosystem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..index import CodeSystemIndex
from ..model import Coding, Concept, Designation
from . import messages as M
from .compose import compose_parameter
from .contracts import Issue

if TYPE_CHECKING:
    from .outcome import Outcome

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


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


def vs_languages(vs: dict[str, Any]) -> tuple[str, ...]:
    """The display language a value set asks for when the request names none: its compose's
    displayLanguage expansion parameter, else the value set's own language."""
    compose = vs.get("compose")
    if isinstance(compose, dict):
        value = compose_parameter(compose, "displayLanguage")
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


def cs_language(cs: CodeSystemIndex) -> str | None:
    lang = cs.info.extra.get("language")
    return lang if isinstance(lang, str) else None


def has_display(ds: Displays, display: str) -> bool:
    return any(d.value.casefold() == display.casefold() for d in ds.items)


def check_display(
    langs: tuple[str, ...], lenient: bool, ds: Displays, c: Coding, path: str, out: Outcome
) -> None:
    """An issue in ``out`` when the display of ``c`` is none of ``ds`` (valid in ``langs``):
    an error, or a warning when ``lenient``; a warning for a display no longer to be used."""
    where = f"{path}.display" if path else "display"
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
                    where,
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
    severity = "warning" if lenient else "error"
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
    out.add(Issue(severity, "invalid", m, "invalid-display", where, mid))
