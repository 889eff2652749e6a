"""The texts of a code's page cut at the codes they cite, so that the page links them:
ICD-10-CM's tabular notes (the codes and ranges a note cites) and the editorial sections
(the codes of the code system their text names; the sources they rest on)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..index import CodeSystemIndex
from ..model import Property

# ICD-10-CM tabular notes (providers/icd10cm.py), in the order the tabular list prints them
NOTE_KINDS = (
    "note",
    "includes",
    "inclusion-term",
    "excludes1",
    "excludes2",
    "code-first",
    "use-additional-code",
    "code-also",
    "seventh-character-note",
)
# A text cut at the codes it cites: (text, code) where ``code`` is the code (or grouping)
# the text names and None for plain text.
Segments = list[tuple[str, str | None]]


@dataclass(slots=True)
class Note:
    """One tabular note. ``segments`` is its text cut at the codes it cites:
    (text, code) where ``code`` is the code (or grouping) the text names, None for plain text."""

    kind: str
    segments: Segments


# a code or a range as ICD-10-CM notes write them: "M43.1-", "P35-P39", "M47.-"
_CITED = re.compile(
    r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?(?:-[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?)?"
)


def tabular_notes(cs: CodeSystemIndex, props: list[Property] | tuple[Property, ...]) -> list[Note]:
    """The tabular notes among ``props``, in the tabular list's order, with the codes
    they cite (subproperties ``reference`` and ``reference-range``) as links."""
    out: list[Note] = []
    for kind in NOTE_KINDS:
        for p in props:
            if p.code != kind:
                continue
            cited = {s.value for s in p.sub if s.code in ("reference", "reference-range")}
            out.append(Note(kind, _segments(cs, str(p.value), cited)))
    return out


def _segments(cs: CodeSystemIndex, text: str, cited: set[Any]) -> list[tuple[str, str | None]]:
    if not cited:
        return [(text, None)]
    out: list[tuple[str, str | None]] = []
    at = 0
    for m in _CITED.finditer(text):
        raw = m.group(0)
        target = _target(cs, raw, cited)
        if target is None and "-" in raw:
            # a range the code system has no grouping for: link its first code
            first = raw.split("-", 1)[0].rstrip(".")
            if first in cited or first in cs.concepts:
                target = _target(cs, first, cited)
                if target is not None:
                    out += [(text[at : m.start()], None), (first, target)]
                    at = m.start() + len(first)
            continue
        if target is None:
            continue
        out += [(text[at : m.start()], None), (raw, target)]
        at = m.end()
    out.append((text[at:], None))
    return [s for s in out if s[0]]


def _target(cs: CodeSystemIndex, raw: str, cited: set[Any]) -> str | None:
    """The code or grouping a cited reference names, when the note cites it and it exists."""
    code = raw.rstrip(".-")
    if raw in cs.groupings:
        return raw
    if code not in cited and raw not in cited:
        return None
    if code in cs.concepts:
        return code
    return None


# a code as editorial text writes it (providers/editorial.py checks each against the content)
_CODE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z.])[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?(?![0-9A-Za-z])"
)


def linked(cs: CodeSystemIndex, text: str) -> Segments:
    """``text`` cut at the codes of ``cs`` it names."""
    out: Segments = []
    at = 0
    for m in _CODE_IN_TEXT.finditer(text):
        if m.group(0) in cs.concepts:
            out += [(text[at : m.start()], None), (m.group(0), m.group(0))]
            at = m.end()
    out.append((text[at:], None))
    return [seg for seg in out if seg[0]]


@dataclass(slots=True)
class Source:
    number: int
    id: str
    title: str
    url: str | None


@dataclass(slots=True)
class Provenance:
    """What one editorial section rests on: a sentence and the numbers of its sources."""

    text: str
    sources: list[int]


@dataclass(slots=True)
class Editorial:
    """The editorial sections of a code: empty fields when the code has none."""

    verified: str | None = None
    region: str | None = None
    # texts as segments (text, code): the codes of the code system they cite become links
    tips: list[Segments] = field(default_factory=list)
    pitfalls: list[Segments] = field(default_factory=list)
    clinical: list[Segments] = field(default_factory=list)  # paragraphs
    faq: list[tuple[str, Segments]] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    provenance: dict[str, Provenance] = field(default_factory=dict)

    @property
    def reviewed(self) -> bool:
        return self.verified is not None


def editorial(cs: CodeSystemIndex, by: dict[str, list[Property]]) -> Editorial:
    ed = Editorial()
    if "verified" in by:
        ed.verified = str(by["verified"][0].value)
    if "region" in by:
        ed.region = str(by["region"][0].value)
    ed.tips = [linked(cs, str(p.value)) for p in by.get("documentation-tip", [])]
    ed.pitfalls = [linked(cs, str(p.value)) for p in by.get("coding-pitfall", [])]
    for p in by.get("clinical-context", []):
        paras = [para.strip() for para in str(p.value).split("\n\n") if para.strip()]
        ed.clinical += [linked(cs, para) for para in paras]
    for p in by.get("faq", []):
        parts = {s.code: str(s.value) for s in p.sub}
        answer = linked(cs, parts.get("answer", ""))
        ed.faq.append((parts.get("question", str(p.value)), answer))
    numbers: dict[str, int] = {}
    for p in by.get("source", []):
        parts = {s.code: str(s.value) for s in p.sub}
        n = numbers[str(p.value)] = len(numbers) + 1
        ed.sources.append(
            Source(n, str(p.value), parts.get("title", p.description or ""), parts.get("url"))
        )
    for p in by.get("provenance", []):
        cites = [numbers[str(s.value)] for s in p.sub if s.code == "source" and s.value in numbers]
        ed.provenance[str(p.value)] = Provenance(p.description or "", cites)
    return ed
