"""The editorial layer: TOML files (``fhirterm-editorial/1``) applied over code systems.

Format: docs/editorial-format.md. ``read`` parses and validates one file's
shape; ``apply`` checks every code and citation against the loaded code
systems and adds the editorial properties and definitions to the concepts.
Any problem raises ContentError naming the file and the field, which stops
the load.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ContentError
from ..index import CodeSystemIndex
from ..model import Property, PropertyDef

FORMAT = "fhirterm-editorial/1"
PROPS = "http://fhirterm.org/fhir/CodeSystem/editorial-property"

LIST_SECTIONS = ("documentation-tip", "coding-pitfall")
SECTIONS = ("definition", *LIST_SECTIONS, "clinical-context", "faq")

PROPERTY_DEFS: tuple[PropertyDef, ...] = (
    PropertyDef("region", "string", f"{PROPS}#region", "Body region"),
    PropertyDef(
        "documentation-tip",
        "string",
        f"{PROPS}#documentation-tip",
        "What the record should show to support the code",
    ),
    PropertyDef(
        "coding-pitfall",
        "string",
        f"{PROPS}#coding-pitfall",
        "A recurring mistake with this code or its neighbours",
    ),
    PropertyDef("clinical-context", "string", f"{PROPS}#clinical-context", "Clinical context"),
    PropertyDef(
        "faq",
        "string",
        f"{PROPS}#faq",
        "A frequently asked question; subproperties question and answer",
    ),
    PropertyDef(
        "source", "code", f"{PROPS}#source", "A cited source; subproperties id, title and url"
    ),
    PropertyDef(
        "verified", "dateTime", f"{PROPS}#verified", "When the editorial content was last verified"
    ),
    PropertyDef(
        "provenance",
        "code",
        f"{PROPS}#provenance",
        "What one editorial section rests on; subproperties section, text and source",
    ),
    PropertyDef(
        "sibling",
        "code",
        f"{PROPS}#sibling",
        "Another selectable code under the same parent (derived)",
    ),
)

# Codes cited in editorial text; checked against the code system. Dotted codes
# and three-character categories, the way ICD-10-CM text writes them.
ICD_CITATION = re.compile(
    r"(?<![0-9A-Za-z.])([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?![0-9A-Za-z])"
)
CITATION_PATTERNS: dict[str, re.Pattern[str]] = {"http://hl7.org/fhir/sid/icd-10-cm": ICD_CITATION}


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str


@dataclass(slots=True)
class EditorialFile:
    path: str
    system: str
    version: str | None
    sources: dict[str, Source]
    concepts: list[dict[str, Any]]


def _iso_date(value: Any, where: str, path: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ContentError(path, where, f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)")


def _str(d: dict[str, Any], key: str, where: str, path: str, required: bool = True) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            raise ContentError(path, f"{where}.{key}", "is required")
        return None
    if not isinstance(v, str) or not v.strip():
        raise ContentError(path, f"{where}.{key}", "must be a non-empty string")
    return v.strip()


def _keys(d: dict[str, Any], allowed: set[str], where: str, path: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ContentError(
            path,
            f"{where}.{unknown[0]}",
            f"unknown key; expected one of {', '.join(sorted(allowed))}",
        )


def read(path: Path) -> EditorialFile:
    """Parse and check the shape of one editorial file (codes are checked in ``apply``)."""
    p = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ContentError(p, "toml", f"not valid TOML: {e}") from None
    _keys(data, {"format", "system", "version", "sources", "concept"}, "", p)
    if data.get("format") != FORMAT:
        raise ContentError(p, "format", f"must be {FORMAT!r}, found {data.get('format')!r}")
    system = _str(data, "system", "", p)
    assert system is not None
    version = _str(data, "version", "", p, required=False)
    sources: dict[str, Source] = {}
    for sid, s in (data.get("sources") or {}).items():
        where = f"sources.{sid}"
        if not isinstance(s, dict):
            raise ContentError(p, where, "must be a table with title and url")
        _keys(s, {"title", "url"}, where, p)
        title = _str(s, "title", where, p)
        url = _str(s, "url", where, p)
        assert title and url
        if not re.match(r"^https?://\S+$", url):
            raise ContentError(p, f"{where}.url", f"{url!r} is not an absolute http(s) address")
        sources[sid] = Source(sid, title, url)
    concepts = data.get("concept") or []
    if not isinstance(concepts, list):
        raise ContentError(p, "concept", "must be an array of tables ([[concept]])")
    for i, c in enumerate(concepts):
        _check_concept(c, f"concept[{i}]", p)
    return EditorialFile(p, system, version, sources, concepts)


def _check_concept(c: dict[str, Any], where: str, p: str) -> None:
    code = _str(c, "code", where, p)
    where = f"concept[{code}]"
    _keys(c, {"code", "verified", "region", "sources", *SECTIONS}, where, p)
    if "verified" not in c:
        raise ContentError(p, f"{where}.verified", "is required")
    c["verified"] = _iso_date(c["verified"], f"{where}.verified", p)
    _str(c, "region", where, p, required=False)
    _source_list(c, where, p)
    for sec in SECTIONS:
        s = c.get(sec)
        if s is None:
            continue
        sw = f"{where}.{sec}"
        if not isinstance(s, dict):
            raise ContentError(p, sw, "must be a table")
        body = "text" if sec in ("definition", "clinical-context") else "items"
        _keys(s, {"provenance", "sources", body}, sw, p)
        _str(s, "provenance", sw, p)
        _source_list(s, sw, p)
        if body == "text":
            _str(s, "text", sw, p)
            continue
        items = s.get("items")
        if not isinstance(items, list) or not items:
            raise ContentError(p, f"{sw}.items", "must be a non-empty array")
        for j, it in enumerate(items):
            if sec == "faq":
                if not isinstance(it, dict):
                    raise ContentError(
                        p, f"{sw}.items[{j}]", "must be a table with question and answer"
                    )
                _keys(it, {"question", "answer"}, f"{sw}.items[{j}]", p)
                _str(it, "question", f"{sw}.items[{j}]", p)
                _str(it, "answer", f"{sw}.items[{j}]", p)
            elif not isinstance(it, str) or not it.strip():
                raise ContentError(p, f"{sw}.items[{j}]", "must be a non-empty string")


def _source_list(d: dict[str, Any], where: str, p: str) -> None:
    s = d.get("sources")
    if not isinstance(s, list) or not s or not all(isinstance(x, str) for x in s):
        raise ContentError(p, f"{where}.sources", "must be a non-empty array of source ids")


def _texts(c: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for sec in SECTIONS:
        s = c.get(sec)
        if not s:
            continue
        if "text" in s:
            out.append((sec, s["text"]))
        for j, it in enumerate(s.get("items", [])):
            if isinstance(it, dict):
                out += [
                    (f"{sec}.items[{j}].question", it["question"]),
                    (f"{sec}.items[{j}].answer", it["answer"]),
                ]
            else:
                out.append((f"{sec}.items[{j}]", it))
    return out


def apply(files: list[EditorialFile], targets: dict[str, list[CodeSystemIndex]]) -> int:
    """Validate ``files`` against the loaded code systems and apply them.

    ``targets`` maps a system url to its loaded versions. Returns the number
    of concepts that received editorial content. Raises ContentError for an
    unknown system, version or code, an undeclared or conflicting source, or
    text citing a code that the code system does not have.
    """
    sources: dict[str, dict[str, Source]] = {}
    for f in files:
        known = sources.setdefault(f.system, {})
        for sid, s in f.sources.items():
            if sid in known and known[sid] != s:
                raise ContentError(
                    f.path, f"sources.{sid}", "declared again with different title or url"
                )
            known[sid] = s
    count = 0
    for f in files:
        versions = targets.get(f.system)
        if not versions:
            raise ContentError(f.path, "system", f"no code system {f.system!r} is loaded")
        if f.version is not None:
            versions = [cs for cs in versions if cs.info.version == f.version]
            if not versions:
                raise ContentError(
                    f.path, "version", f"{f.system!r} version {f.version!r} is not loaded"
                )
        known = sources[f.system]
        pattern = CITATION_PATTERNS.get(f.system)
        for c in f.concepts:
            code = c["code"]
            where = f"concept[{code}]"
            hits = [cs for cs in versions if code in cs.concepts]
            if not hits:
                raise ContentError(f.path, f"{where}.code", f"{code!r} is not a code of {f.system}")
            for sw, ids in [(where, c["sources"])] + [
                (f"{where}.{s}", c[s]["sources"]) for s in SECTIONS if s in c
            ]:
                for sid in ids:
                    if sid not in known:
                        raise ContentError(
                            f.path,
                            f"{sw}.sources",
                            f"source {sid!r} is not declared under [sources]",
                        )
            if pattern is not None:
                for sw, text in _texts(c):
                    for cited in pattern.findall(text):
                        if not any(cited in cs.concepts for cs in hits):
                            raise ContentError(
                                f.path,
                                f"{where}.{sw}",
                                f"cites {cited!r}, which is not a code of {f.system}",
                            )
            props = _properties(c, known)
            for cs in hits:
                # Assigned back, not changed in place: a packed code system
                # decodes a fresh object on every access.
                concept = cs.concepts[code]
                cs.concepts[code] = replace(
                    concept,
                    properties=concept.properties + props,
                    definition=c["definition"]["text"].strip()
                    if "definition" in c
                    else concept.definition,
                )
                count += 1
    for versions in targets.values():
        for cs in versions:
            have = {d.code for d in cs.info.property_defs}
            cs.info.property_defs = cs.info.property_defs + tuple(
                d for d in PROPERTY_DEFS if d.code not in have
            )
    return count


def _properties(c: dict[str, Any], sources: dict[str, Source]) -> tuple[Property, ...]:
    out: list[Property] = []
    if c.get("region"):
        out.append(Property("region", "string", c["region"].strip()))
    for sec in LIST_SECTIONS:
        for it in c.get(sec, {}).get("items", []):
            out.append(Property(sec, "string", it.strip()))
    if "clinical-context" in c:
        out.append(Property("clinical-context", "string", c["clinical-context"]["text"].strip()))
    for it in c.get("faq", {}).get("items", []):
        q, a = it["question"].strip(), it["answer"].strip()
        out.append(
            Property(
                "faq",
                "string",
                q,
                sub=(Property("question", "string", q), Property("answer", "string", a)),
            )
        )
    for sid in c["sources"]:
        s = sources[sid]
        out.append(
            Property(
                "source",
                "code",
                s.id,
                description=s.title,
                sub=(
                    Property("id", "code", s.id),
                    Property("title", "string", s.title),
                    Property("url", "uri", s.url),
                ),
            )
        )
    out.append(Property("verified", "dateTime", c["verified"]))
    for sec in SECTIONS:
        if sec in c:
            s = c[sec]
            out.append(
                Property(
                    "provenance",
                    "code",
                    sec,
                    description=s["provenance"].strip(),
                    sub=(
                        Property("section", "code", sec),
                        Property("text", "string", s["provenance"].strip()),
                        *(Property("source", "code", sid) for sid in s["sources"]),
                    ),
                )
            )
    return tuple(out)
