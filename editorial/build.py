#!/usr/bin/env python3
"""Build the M99 editorial content and the CPT links from facts and templates.

Reads (all under editorial/):
  facts/meta.toml      settings: verified date, canonical URLs, versions
  facts/sources.toml   sources cited by id, plus the per-code VSAC pattern
  facts/lesions.toml   M99 lesion types (4th character) and M99.9
  facts/regions.toml   M99 regions (5th character) with their procedure codes
  facts/cpt.toml       CPT code numbers, our short descriptions, linking rules
  templates.toml       sentence templates (string.Template), per lesion kind
  overrides/*.toml     hand-written concepts; each key given replaces the
                       generated one for that code

Writes (under codesystems/):
  editorial/icd10cm-m99.toml         editorial format fhirterm-editorial/1
  cpt.json                           FHIR R4 CodeSystem, content = fragment
  conceptmap-icd10cm-cpt.json        FHIR R4 ConceptMap ICD-10-CM -> CPT

Usage:
  python editorial/build.py            regenerate the outputs
  python editorial/build.py --check    exit 1 if an output is missing or stale

The output is a pure function of the inputs: no clock, no randomness, stable
ordering, so a rerun is byte-identical. Standard library only. When the CDC
tabular XML is found (installed with simple-icd-10-cm, or --tabular PATH), every
ICD-10-CM code cited in the text must exist in it and every generated code's
title must match it; the outputs themselves never depend on the XML.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import string
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_EDITORIAL = ROOT / "codesystems" / "editorial" / "icd10cm-m99.toml"
OUT_CPT = ROOT / "codesystems" / "cpt.json"
OUT_CONCEPTMAP = ROOT / "codesystems" / "conceptmap-icd10cm-cpt.json"
TABULAR_NAME = "icd10c-tabular-April-1-2026.xml"

SECTIONS = ["definition", "documentation-tip", "coding-pitfall", "clinical-context", "faq"]
TEMPLATE_GROUP = {
    "definition": "definition",
    "documentation-tip": "tip",
    "coding-pitfall": "pitfall",
    "clinical-context": "context",
    "faq": "faq",
}
CONCEPT_KEYS = {"code", "verified", "region", "sources", *SECTIONS}
SECTION_KEYS = {
    "definition": {"provenance", "sources", "text"},
    "documentation-tip": {"provenance", "sources", "items"},
    "coding-pitfall": {"provenance", "sources", "items"},
    "clinical-context": {"provenance", "sources", "text"},
    "faq": {"provenance", "sources", "items"},
}
# Minimum content per code (the same rules as tests/test_editorial_content.py).
MINIMUM = {
    "documentation-tip": 3,
    "coding-pitfall": 2,
    "clinical-context": 2,
    "faq": 3,
    "sources": 2,
}
# Anything shaped like an ICD-10-CM code; each match must exist in the tabular.
CODE_PATTERN = re.compile(r"\b[A-Z][0-9][0-9A-Z](?:\.[0-9A-Za-z]{1,4})?\b")
M99_PATTERN = re.compile(r"\bM99(?:\.[0-9]{1,2})?\b")


class BuildError(Exception):
    """Bad input: the message names the file, code or template at fault."""


# ------------------------------------------------------------------ inputs


def read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{path.relative_to(ROOT)}: {exc}") from exc


def load_inputs() -> dict:
    facts = HERE / "facts"
    inputs = {
        "meta": read_toml(facts / "meta.toml"),
        "sources": read_toml(facts / "sources.toml"),
        "lesions": read_toml(facts / "lesions.toml")["lesion"],
        "regions": read_toml(facts / "regions.toml")["region"],
        "cpt": read_toml(facts / "cpt.toml"),
        "templates": read_toml(HERE / "templates.toml"),
        "overrides": {},
    }
    for path in sorted((HERE / "overrides").glob("*.toml")):
        for concept in read_toml(path).get("concept", []):
            code = concept.get("code")
            unknown = set(concept) - CONCEPT_KEYS
            if unknown:
                raise BuildError(f"{path.name}: {code}: unknown keys {sorted(unknown)}")
            if code in inputs["overrides"]:
                raise BuildError(f"{path.name}: {code} is overridden twice")
            inputs["overrides"][code] = concept
    return inputs


# -------------------------------------------------------------- the grid


def grid(inputs: dict) -> list[dict]:
    """Every billable M99 code: M99.00-M99.89 (lesion x region), then M99.9."""
    lesions, regions = inputs["lesions"], inputs["regions"]
    category = inputs["meta"]["editorial"]["category"]
    rows = []
    for lchar in sorted(lesions):
        lesion = lesions[lchar]
        if lesion["kind"] == "unspecified":
            rows.append(
                {
                    "code": f"{category}.{lchar}",
                    "lchar": lchar,
                    "rchar": None,
                    "title": lesion["title"],
                }
            )
            continue
        for rchar in sorted(regions):
            region = regions[rchar]
            rows.append(
                {
                    "code": f"{category}.{lchar}{rchar}",
                    "lchar": lchar,
                    "rchar": rchar,
                    "title": f"{lesion['title']} of {region['title-phrase']}",
                }
            )
    return rows


def join(items: list[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def lower_display(display: str) -> str:
    """'Manual therapy' -> 'manual therapy'; 'OMT, ...' and 'MRI ...' stay."""
    if len(display) > 1 and display[1].isupper():
        return display
    return display[:1].lower() + display[1:]


def procedure_codes(inputs: dict, row: dict) -> list[tuple[str, str]]:
    """(rule, CPT code) pairs for a code, in the lesion's procedure order."""
    rules = inputs["cpt"]["rules"]
    lesion = inputs["lesions"][row["lchar"]]
    region = inputs["regions"].get(row["rchar"]) if row["rchar"] else None
    pairs = []
    for rule in lesion["procedures"]:
        spec = rules[rule]
        if isinstance(spec, list):
            codes = spec
        elif isinstance(spec, dict):
            codes = spec[region["cmt"]]
        else:
            codes = [region[spec]] if region and spec in region else []
        pairs.extend((rule, code) for code in codes)
    return pairs


def context_for(inputs: dict, row: dict) -> tuple[dict, set]:
    """Template placeholders and condition flags for one code."""
    lesions, regions, cpt = inputs["lesions"], inputs["regions"], inputs["cpt"]["code"]
    category = inputs["meta"]["editorial"]["category"]
    lchar, rchar = row["lchar"], row["rchar"]
    lesion = lesions[lchar]
    procedures = procedure_codes(inputs, row)
    ctx = {
        "code": row["code"],
        "title": row["title"],
        "label": lesion["label"],
        "Label": cap(lesion["label"]),
        "procedures": join(
            [f"{c} ({lower_display(cpt[c]['display'])})" for _, c in procedures], "and"
        ),
    }
    flags = {f"kind-{lesion['kind']}", f"lesion-{lchar}"}
    if rchar is None:
        ctx.update(parent=category, parent_title=inputs["meta"]["editorial"]["category-title"])
        return ctx, flags

    region = regions[rchar]

    def code(lc: str, r: str = rchar) -> str:
        return f"{category}.{lc}{r}"

    def with_label(lc: str, r: str = rchar) -> str:
        return f"{code(lc, r)} ({lesions[lc]['label']})"

    same, counter = lesion["same-site"], lesion["counterpart"]
    elsewhere = [region.get("elsewhere", {}).get(k) for k in lesion["elsewhere"]]
    elsewhere = [e for e in elsewhere if e]
    spinal = [r for r in sorted(regions) if regions[r]["vertebral"]]
    ctx.update(
        parent=f"{category}.{lchar}",
        parent_title=lesion["title"],
        parent_lc=lesion["title"][:1].lower() + lesion["title"][1:],
        region=region["name"],
        region_char=rchar,
        region_title=region["title-phrase"],
        region_phrase=region["phrase"],
        Region_phrase=cap(region["phrase"]),
        body_region=region["body-region"],
        cause=lesion.get("cause", ""),
        cause_short=lesion.get("cause-short", ""),
        chart_terms=lesion.get("chart-terms", ""),
        same_site=join([with_label(lc) for lc in same], "and"),
        same_site_codes=join([code(lc) for lc in same], "or"),
        same_site_code=code(same[0]) if same else "",
        same_site_cause=lesions[same[0]].get("cause-short", "") if same else "",
        counterpart=join([with_label(lc) for lc in counter], "or"),
        counterpart_code=code(counter[0]) if counter else "",
        counterpart_cause=lesions[counter[0]].get("cause-short", "") if counter else "",
        canal_causes=join(
            [
                f"{code(lc)} for {lesions[lc]['cause-short']}"
                for lc in sorted(lesions)
                if lesions[lc]["kind"] == "canal"
            ],
            "and",
        ),
        dys_code=code("0"),
        sub_code=code("1"),
        sub_canal=code("2"),
        sub_foramina=code("6"),
        neighbour_codes=join(
            [f"{code(lchar, n)} ({regions[n]['title-phrase']})" for n in region["neighbours"]], "or"
        ),
        vertebral_codes=join(
            [f"{code(lchar, r)} ({regions[r]['title-phrase']})" for r in spinal], "or"
        ),
        elsewhere=join(elsewhere, "or"),
        omt_region=region["omt-region"],
        cmt_region=region["cmt-region"],
        cmt_kind=region["cmt"],
        cmt_codes="98940 to 98942" if region["cmt"] == "spinal" else "98943",
        level_example=region.get("level-example", ""),
    )
    flags |= {f"region-{region['name'].replace(' ', '-')}", f"cmt-{region['cmt']}"}
    if region["vertebral"]:
        flags.add("vertebral")
    if elsewhere:
        flags.add("elsewhere")
    for key in ("mri", "interlaminar", "transforaminal", "laminectomy", "foraminotomy"):
        if key in region:
            flags.add(f"has-{key}")
    return ctx, flags


def applies(item: dict, kind: str, flags: set) -> bool:
    if "kinds" in item and kind not in item["kinds"]:
        return False
    for cond in item.get("when", []):
        negate = cond.startswith("!")
        options = cond.lstrip("!").split("|")
        if any(o in flags for o in options) == negate:
            return False
    return True


def fill(template: str, ctx: dict, where: str) -> str:
    try:
        return string.Template(template).substitute(ctx)
    except (KeyError, ValueError) as exc:
        raise BuildError(f"templates.toml: {where}: bad or unknown placeholder {exc}") from exc


# --------------------------------------------------------------- sources


def vsac_source(inputs: dict, code: str) -> tuple[str, dict]:
    pattern = inputs["sources"]["pattern"]["vsac"]
    slug = code.lower().replace(".", "-")
    return (
        pattern["id"].format(code=code, slug=slug),
        {
            "title": pattern["title"].format(code=code, slug=slug),
            "url": pattern["url"].format(code=code, slug=slug),
        },
    )


def source_table(inputs: dict, codes: list[str]) -> dict:
    """Every declarable source id -> {title, url}, in declaration order."""
    table = dict(inputs["sources"]["source"])
    for code in codes:
        sid, entry = vsac_source(inputs, code)
        table[sid] = entry
    return table


def resolve_sources(ids: list[str], code: str, inputs: dict) -> list[str]:
    return [vsac_source(inputs, code)[0] if s == "vsac" else s for s in ids]


def ordered(ids: set, table: dict) -> list[str]:
    order = {sid: i for i, sid in enumerate(table)}
    return sorted(ids, key=lambda s: order.get(s, len(order)))


def provenance(inputs: dict, section: str, n: int) -> str:
    template = inputs["templates"]["provenance"][section]
    return fill(
        template,
        {"n": n, "references": "reference" if n == 1 else "references"},
        f"provenance.{section}",
    )


# -------------------------------------------------------------- concepts


def generate_concept(inputs: dict, row: dict, table: dict) -> dict:
    ctx, flags = context_for(inputs, row)
    lesion = inputs["lesions"][row["lchar"]]
    kind = lesion["kind"]
    region = inputs["regions"][row["rchar"]]["body-region"] if row["rchar"] else "Unspecified"
    concept = {
        "code": row["code"],
        "verified": inputs["meta"]["editorial"]["verified"],
        "region": region,
    }
    all_sources: set = set()
    for section in SECTIONS:
        group = TEMPLATE_GROUP[section]
        items = [t for t in inputs["templates"][group] if applies(t, kind, flags)]
        cited: set = set()
        texts = []
        for index, item in enumerate(items):
            where = f"{group} #{index} for {row['code']}"
            if section == "faq":
                texts.append(
                    {
                        "question": fill(item["question"], ctx, where),
                        "answer": fill(item["answer"], ctx, where),
                    }
                )
            else:
                texts.append(fill(item["text"], ctx, where))
            cited |= set(resolve_sources(item["sources"], row["code"], inputs))
        if not texts:
            raise BuildError(f"templates.toml: no {group} template applies to {row['code']}")
        sources = ordered(cited, table)
        body: dict = {"provenance": provenance(inputs, section, len(sources)), "sources": sources}
        if section == "definition":
            if len(texts) != 1:
                raise BuildError(f"templates.toml: {len(texts)} definitions apply to {row['code']}")
            body["text"] = texts[0]
        elif section == "clinical-context":
            body["text"] = "\n\n".join(texts)
        else:
            body["items"] = texts
        concept[section] = body
        all_sources |= cited
    concept["sources"] = ordered(all_sources, table)
    return concept


def apply_override(concept: dict, override: dict) -> dict:
    merged = dict(concept)
    for key, value in override.items():
        if key in SECTIONS and "text" in value:
            value = dict(value, text=value["text"].strip())
        merged[key] = value
    return merged


def concepts(inputs: dict) -> tuple[list[dict], dict]:
    rows = grid(inputs)
    codes = [r["code"] for r in rows]
    table = source_table(inputs, codes)
    unknown = set(inputs["overrides"]) - set(codes)
    if unknown:
        raise BuildError(f"overrides: codes not in the M99 grid: {sorted(unknown)}")
    result = []
    for row in rows:
        concept = generate_concept(inputs, row, table)
        if row["code"] in inputs["overrides"]:
            concept = apply_override(concept, inputs["overrides"][row["code"]])
        result.append(concept)
    return result, table


# ------------------------------------------------------------ validation


def texts_of(concept: dict) -> list[str]:
    out = []
    for section in SECTIONS:
        body = concept.get(section, {})
        out.append(body.get("provenance", ""))
        out.append(body.get("text", ""))
        for item in body.get("items", []):
            out.extend(item.values() if isinstance(item, dict) else [item])
    return out


def validate(concept_list: list[dict], table: dict, rows: list[dict], tabular: dict | None) -> None:
    problems = []
    titles = {r["code"]: r["title"] for r in rows}
    for c in concept_list:
        code = c["code"]
        unknown = set(c) - CONCEPT_KEYS
        if unknown:
            problems.append(f"{code}: unknown keys {sorted(unknown)}")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(c.get("verified", ""))):
            problems.append(f"{code}: verified is not an ISO date")
        if not c.get("region"):
            problems.append(f"{code}: no region")
        if len(c.get("sources", [])) < MINIMUM["sources"]:
            problems.append(f"{code}: fewer than {MINIMUM['sources']} sources")
        for section in SECTIONS:
            body = c.get(section)
            if body is None:
                problems.append(f"{code}: missing {section}")
                continue
            extra = set(body) - SECTION_KEYS[section]
            if extra:
                problems.append(f"{code}: {section}: unknown keys {sorted(extra)}")
            if not body.get("provenance") or not body.get("sources"):
                problems.append(f"{code}: {section}: needs provenance and sources")
            for sid in body.get("sources", []):
                if sid not in table:
                    problems.append(f"{code}: {section}: undeclared source {sid}")
                if sid not in c.get("sources", []):
                    problems.append(f"{code}: {section}: cites {sid}, not in the concept's sources")
            if section in MINIMUM:
                n = (
                    len(body.get("text", "").split("\n\n"))
                    if section == "clinical-context"
                    else len(body.get("items", []))
                )
                if n < MINIMUM[section]:
                    problems.append(f"{code}: {section}: {n} < {MINIMUM[section]}")
        for sid in c.get("sources", []):
            if sid not in table:
                problems.append(f"{code}: undeclared source {sid}")
        if len(c["definition"].get("text", "")) <= len(titles[code]):
            problems.append(f"{code}: definition is not longer than the official title")
        neighbours = set()
        for item in c["coding-pitfall"].get("items", []):
            neighbours |= set(M99_PATTERN.findall(item)) - {code}
        if len(neighbours) < 2:
            problems.append(f"{code}: pitfalls name fewer than 2 neighbouring M99 codes")
        if tabular is not None:
            for text in texts_of(c):
                for cited in CODE_PATTERN.findall(text):
                    if cited not in tabular:
                        problems.append(
                            f"{code}: text cites {cited}, not in ICD-10-CM {TABULAR_NAME}"
                        )
    for sid, entry in table.items():
        if not entry.get("title") or not str(entry.get("url", "")).startswith("https://"):
            problems.append(f"source {sid}: needs a title and an https address")
    if tabular is not None:
        for row in rows:
            if row["code"] not in tabular:
                problems.append(f"{row['code']}: not in ICD-10-CM")
            elif tabular[row["code"]]["title"] != row["title"]:
                problems.append(
                    f"{row['code']}: title {row['title']!r} differs from "
                    f"ICD-10-CM {tabular[row['code']]['title']!r}"
                )
            elif not tabular[row["code"]]["billable"]:
                problems.append(f"{row['code']}: not billable in ICD-10-CM")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise BuildError("content problems:\n  " + "\n  ".join(unique))


def find_tabular(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / TABULAR_NAME
        if candidate.is_file():
            return candidate
    return None


def read_tabular(path: Path) -> dict:
    """code -> {title, billable} for every <diag> of the CDC tabular XML."""
    root = ET.parse(path).getroot()
    codes = {}
    for diag in root.iter("diag"):
        name = diag.findtext("name")
        codes[name] = {"title": diag.findtext("desc"), "billable": diag.find("diag") is None}
    for section in root.iter("section"):
        codes.setdefault(section.get("id"), {"title": section.findtext("desc"), "billable": False})
    return codes


# --------------------------------------------------------------- writers


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_multiline(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"""\n' + body + '"""'


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def render_editorial(inputs: dict, concept_list: list[dict], table: dict) -> str:
    meta = inputs["meta"]["editorial"]
    cited = set()
    for c in concept_list:
        cited |= set(c["sources"])
        for section in SECTIONS:
            cited |= set(c[section]["sources"])
    lines = [
        "# GENERATED by editorial/build.py - do not edit by hand.",
        "# Change editorial/facts/*.toml, editorial/templates.toml or",
        "# editorial/overrides/*.toml, then run `python editorial/build.py`.",
        "# Editorial content for the billable ICD-10-CM M99 codes (biomechanical",
        "# lesions, not elsewhere classified); format: docs/editorial-format.md.",
        "",
        f"format = {toml_string(meta['format'])}",
        f"system = {toml_string(meta['system'])}",
        "",
    ]
    for sid in ordered(cited, table):
        lines += [
            f"[sources.{sid}]",
            f"title = {toml_string(table[sid]['title'])}",
            f"url = {toml_string(table[sid]['url'])}",
            "",
        ]
    for c in concept_list:
        lines += [
            "[[concept]]",
            f"code = {toml_string(c['code'])}",
            f"verified = {toml_string(str(c['verified']))}",
            f"region = {toml_string(c['region'])}",
            f"sources = {toml_list(c['sources'])}",
            "",
        ]
        for section in SECTIONS:
            body = c[section]
            lines += [
                f"[concept.{section}]",
                f"provenance = {toml_string(body['provenance'])}",
                f"sources = {toml_list(body['sources'])}",
            ]
            if section == "definition":
                lines.append(f"text = {toml_string(body['text'])}")
            elif section == "clinical-context":
                lines.append(f"text = {toml_multiline(body['text'])}")
            elif section == "faq":
                lines.append("items = [")
                lines += [
                    f"  {{ question = {toml_string(i['question'])}, "
                    f"answer = {toml_string(i['answer'])} }},"
                    for i in body["items"]
                ]
                lines.append("]")
            else:
                lines.append("items = [")
                lines += [f"  {toml_string(i)}," for i in body["items"]]
                lines.append("]")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def links(inputs: dict, rows: list[dict]) -> list[dict]:
    """One ConceptMap element per code: its CPT targets with comment and source."""
    cpt, table = inputs["cpt"]["code"], inputs["sources"]["source"]
    elements = []
    for row in rows:
        ctx, flags = context_for(inputs, row)
        kind = inputs["lesions"][row["lchar"]]["kind"]
        targets = []
        for rule, code in procedure_codes(inputs, row):
            if code not in cpt:
                raise BuildError(f"cpt.toml: CPT {code} (rule {rule}) has no description")
            matches = [
                t
                for t in inputs["templates"]["link"]
                if t["rule"] == rule and applies(t, kind, flags)
            ]
            if len(matches) != 1:
                raise BuildError(
                    f"templates.toml: {len(matches)} link templates for {rule} at {row['code']}"
                )
            link = matches[0]
            text = fill(
                link["text"],
                dict(
                    ctx,
                    cpt=code,
                    display=lower_display(cpt[code]["display"]),
                    count=cpt[code].get("count", ""),
                ),
                f"link {rule} for {row['code']}",
            )
            targets.append(
                {
                    "extension": [
                        {
                            "url": inputs["meta"]["conceptmap"]["link-source-extension"],
                            "valueUri": table[link["source"]]["url"],
                        }
                    ],
                    "code": code,
                    "display": cpt[code]["display"],
                    "equivalence": "relatedto",
                    "comment": text,
                }
            )
        elements.append({"code": row["code"], "display": row["title"], "target": targets})
    return elements


CPT_COPYRIGHT = (
    "CPT (Current Procedural Terminology) is a registered trademark of the American Medical "
    "Association (AMA). CPT codes and their descriptors are copyright the American Medical "
    "Association; all rights reserved. This fragment carries only the code numbers that the "
    "fhirterm ConceptMap icd10cm-to-cpt uses, each with a short description written by the "
    "fhirterm project; it contains none of the AMA's descriptors. Use of CPT is subject to "
    "licence from the AMA; a licensed user can load the official descriptors in place of this "
    "fragment."
)


def render_cpt(inputs: dict, used: list[str]) -> str:
    meta = inputs["meta"]["cpt"]
    cpt = inputs["cpt"]["code"]
    resource = {
        "resourceType": "CodeSystem",
        "id": "cpt",
        "url": meta["url"],
        "version": meta["version"],
        "name": "CPT",
        "title": "Current Procedural Terminology (CPT), fragment used by the fhirterm ConceptMap",
        "status": "active",
        "experimental": False,
        "date": meta["date"],
        "publisher": "fhirterm project (this fragment); CPT is published by the American Medical Association",
        "description": (
            "A fragment of CPT holding only the codes that the ICD-10-CM to CPT "
            "ConceptMap links to. Displays are short descriptions written by the "
            "fhirterm project, not the AMA's descriptors. Generated by "
            "editorial/build.py from editorial/facts/cpt.toml."
        ),
        "copyright": CPT_COPYRIGHT,
        "caseSensitive": True,
        "content": "fragment",
        "concept": [{"code": c, "display": cpt[c]["display"]} for c in sorted(used)],
    }
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def render_conceptmap(inputs: dict, elements: list[dict]) -> str:
    meta, editorial = inputs["meta"]["conceptmap"], inputs["meta"]["editorial"]
    resource = {
        "resourceType": "ConceptMap",
        "id": meta["id"],
        "url": meta["url"],
        "version": meta["version"],
        "name": "ICD10CMToCPT",
        "title": "ICD-10-CM M99 biomechanical lesions to related CPT procedures",
        "status": "active",
        "experimental": False,
        "date": meta["date"],
        "publisher": "fhirterm project",
        "description": (
            "Links each billable ICD-10-CM code of category M99 (biomechanical lesions, not "
            "elsewhere classified) to CPT procedures related to it: osteopathic "
            "manipulative treatment (counted by body region), chiropractic manipulative treatment "
            "(counted by spinal or extraspinal region), and imaging, epidural injection and "
            "decompression done at the code's region. Every link is 'relatedto', carries a "
            "comment saying why, and names its source in the link-source extension. It states "
            "no coverage decision. Generated by editorial/build.py."
        ),
        "copyright": (
            "ICD-10-CM is published by the CDC National Center for Health Statistics. "
            + CPT_COPYRIGHT
        ),
        "sourceUri": f"{editorial['system']}?fhir_vs",
        "targetUri": f"{inputs['meta']['cpt']['url']}?fhir_vs",
        "group": [
            {
                "source": editorial["system"],
                "sourceVersion": editorial["icd10cm-version"],
                "target": inputs["meta"]["cpt"]["url"],
                "targetVersion": inputs["meta"]["cpt"]["version"],
                "element": elements,
            }
        ],
    }
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ main


def build(tabular_path: Path | None) -> dict[Path, str]:
    inputs = load_inputs()
    rows = grid(inputs)
    concept_list, table = concepts(inputs)
    tabular = read_tabular(tabular_path) if tabular_path else None
    validate(concept_list, table, rows, tabular)
    elements = links(inputs, rows)
    used = sorted({t["code"] for e in elements for t in e["target"]})
    editorial = render_editorial(inputs, concept_list, table)
    # The output must read back as TOML and round-trip to the same content.
    parsed = tomllib.loads(editorial)
    if [c["code"] for c in parsed["concept"]] != [c["code"] for c in concept_list]:
        raise BuildError("internal: editorial TOML does not round-trip")
    for a, b in zip(parsed["concept"], concept_list, strict=True):
        if a != {k: b[k] for k in a}:
            raise BuildError(f"internal: {b['code']} does not round-trip")
    return {
        OUT_EDITORIAL: editorial,
        OUT_CPT: render_cpt(inputs, used),
        OUT_CONCEPTMAP: render_conceptmap(inputs, elements),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if an output is missing or differs",
    )
    parser.add_argument(
        "--tabular", help=f"path to {TABULAR_NAME} (default: from simple-icd-10-cm)"
    )
    args = parser.parse_args(argv)
    tabular = find_tabular(args.tabular)
    if tabular is None:
        print(
            "warning: ICD-10-CM tabular XML not found; cited codes are not checked", file=sys.stderr
        )
    elif not tabular.is_file():
        print(f"error: no such file: {tabular}", file=sys.stderr)
        return 2
    try:
        outputs = build(tabular)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = []
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    rel = [str(p.relative_to(ROOT)) for p in stale]
    if args.check:
        if stale:
            print("stale (run `python editorial/build.py`): " + ", ".join(rel), file=sys.stderr)
            return 1
        print("editorial outputs are up to date")
        return 0
    print("wrote " + ", ".join(rel) if rel else "editorial outputs already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
