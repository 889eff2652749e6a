"""Write the shipped ICD-10-CM ValueSets into codesystems/valuesets/ (rerun after a new release).

One ValueSet of all billable codes, and one per chapter (every code of the
chapter, headers included), defined intensionally by property filters so they
follow the loaded release. Usage: python scripts/make_icd10cm_valuesets.py
"""

from __future__ import annotations

import json
from pathlib import Path

from fhirterm.providers import icd10cm

OUT = Path(__file__).resolve().parent.parent / "codesystems" / "valuesets"
BASE = "http://fhirterm.org/fhir/ValueSet"


def value_set(
    id_: str, name: str, title: str, description: str, filters: list[dict[str, str]]
) -> dict:
    return {
        "resourceType": "ValueSet",
        "id": id_,
        "url": f"{BASE}/{id_}",
        "version": "2026",
        "name": name,
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": "fhirterm",
        "description": description,
        "compose": {"include": [{"system": icd10cm.SYSTEM, "filter": filters}]},
    }


def main() -> None:
    ix = icd10cm.load()
    OUT.mkdir(parents=True, exist_ok=True)
    sets = [
        value_set(
            "icd10cm-billable",
            "ICD10CMBillable",
            "ICD-10-CM billable codes",
            "Every ICD-10-CM code valid on a claim (codes without children).",
            [{"property": "billable", "op": "=", "value": "true"}],
        )
    ]
    for g in ix.groupings.values():
        if g.kind != "chapter":
            continue
        n = int(g.code)
        sets.append(
            value_set(
                f"icd10cm-chapter-{n:02d}",
                f"ICD10CMChapter{n:02d}",
                f"ICD-10-CM chapter {n}: {g.title}",
                f"Every ICD-10-CM code of chapter {n}, {g.title}, headers included.",
                [{"property": "chapter", "op": "=", "value": g.code}],
            )
        )
    for vs in sets:
        (OUT / f"{vs['id']}.json").write_text(json.dumps(vs, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(sets)} value sets to {OUT}")


if __name__ == "__main__":
    main()
