"""ConceptMaps from one release of a code system to the next, made from their diff.

The changes themselves are computed in ``fhirterm.history``; this module writes them as
FHIR content (R4 ConceptMap JSON), which the registry serves and $translate reads.
"""

from __future__ import annotations

from typing import Any

from ..history import EQUIVALENT, NARROWER, ReleaseDiff


def concept_map(d: ReleaseDiff, map_url: str, map_id: str, date: str | None) -> dict[str, Any]:
    """The changes of ``d`` as a ConceptMap (R4 form) from version ``old`` to ``new``.

    Codes that did not change map to themselves (``unmapped`` mode ``provided``); a
    deleted code maps to the codes that took its place, or to nothing (``unmatched``).
    """
    elements: list[dict[str, Any]] = []
    for code, title in d.deleted.items():
        targets: list[dict[str, Any]] = [
            {"code": t, "equivalence": eq, "comment": f"'{code}' was deleted in version {d.new}"}
            for t, eq in d.replaced_by.get(code, ())
        ]
        if not targets:
            targets = [
                {
                    "equivalence": "unmatched",
                    "comment": f"'{code}' was deleted in version {d.new}; no code took its place",
                }
            ]
        elements.append({"code": code, "display": title, "target": targets})
    for code, kids in d.became_header.items():
        elements.append(
            {
                "code": code,
                "target": [
                    {
                        "code": k,
                        "equivalence": NARROWER,
                        "comment": f"'{code}' became a header in version {d.new}",
                    }
                    for k in kids
                ],
            }
        )
    for code, (was, now) in d.retitled.items():
        if code in d.became_header:
            continue
        elements.append(
            {
                "code": code,
                "display": was,
                "target": [
                    {
                        "code": code,
                        "display": now,
                        "equivalence": EQUIVALENT,
                        "comment": f"retitled in version {d.new}, from '{was}'",
                    }
                ],
            }
        )
    for code in d.became_billable:
        if code in d.retitled:
            continue
        elements.append(
            {
                "code": code,
                "target": [
                    {
                        "code": code,
                        "equivalence": EQUIVALENT,
                        "comment": f"'{code}' became billable in version {d.new} (its subdivisions were deleted)",
                    }
                ],
            }
        )
    out: dict[str, Any] = {
        "resourceType": "ConceptMap",
        "id": map_id,
        "url": map_url,
        "version": d.new,
        "name": f"ICD10CM_{d.old}_to_{d.new}".replace("-", "_"),
        "title": f"ICD-10-CM version {d.old} to version {d.new}",
        "status": "active",
        "description": (
            f"The changes from version {d.old} to version {d.new} of {d.url}, computed from "
            "the two loaded releases: deleted codes map to the codes that took their place "
            "(or to none), codes that became headers to their subdivisions, retitled and "
            "newly billable codes to themselves; every other code maps to itself. Changes "
            "made and undone between the two releases are not seen."
        ),
        "group": [
            {
                "source": d.url,
                "sourceVersion": d.old,
                "target": d.url,
                "targetVersion": d.new,
                "element": elements,
                "unmapped": {"mode": "provided"},
            }
        ],
    }
    if date:
        out["date"] = date
    return out
