"""What changed between two consecutive loaded releases of a code system.

Computed once per pair of releases at load (and cached beside the packed
releases): codes added, deleted (with the codes that took their place), retitled,
that became headers (gained children) or billable (lost them). Only the loaded
releases are compared: a change made and undone between two of them is not seen.

This module knows concepts and indexes only; the FHIR meaning of the changes
(history properties, validation notes, $translate) lives in ``fhirterm.operations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .index import CodeSystemIndex

# ConceptMap (R4 equivalence) of each kind of replacement, read from the old code
EQUIVALENT, NARROWER, WIDER = "equivalent", "narrower", "wider"


@dataclass(slots=True)
class ReleaseDiff:
    """The changes from version ``old`` to version ``new`` of the code system ``url``.

    ``deleted`` maps each deleted code to its title in ``old``; ``replaced_by`` maps it to
    the codes of ``new`` that took its place, each with the R4 equivalence of the new code
    to the old (``equivalent``: the same title; ``narrower``: a subdivision of it;
    ``wider``: the parent that absorbed it), empty when none did. ``retitled`` maps a
    code to its (old, new) title; ``became_header`` a code billable in ``old`` to its
    children in ``new``; ``became_billable`` lists headers of ``old`` that have no
    children in ``new``.
    """

    url: str
    old: str
    new: str
    added: tuple[str, ...]
    deleted: dict[str, str]
    replaced_by: dict[str, tuple[tuple[str, str], ...]]
    retitled: dict[str, tuple[str, str]]
    became_header: dict[str, tuple[str, ...]]
    became_billable: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """How many codes each kind of change touched."""
        return {
            "added": len(self.added),
            "deleted": len(self.deleted),
            "retitled": len(self.retitled),
            "became header": len(self.became_header),
            "became billable": len(self.became_billable),
        }


def _norm(title: str | None) -> str:
    return " ".join((title or "").split()).casefold()


def _raw(code: str) -> str:
    return code.replace(".", "")


def diff(old: CodeSystemIndex, new: CodeSystemIndex) -> ReleaseDiff:
    """The changes from release ``old`` to release ``new`` (the same code system)."""
    old_codes, new_codes = list(old.concepts), list(new.concepts)
    in_old, in_new = set(old_codes), set(new_codes)
    added = tuple(c for c in new_codes if c not in in_old)
    gone = [c for c in old_codes if c not in in_new]
    old_titles = dict(old.rows(old_codes))
    new_titles = dict(new.rows(new_codes))
    retitled: dict[str, tuple[str, str]] = {}
    became_header: dict[str, tuple[str, ...]] = {}
    became_billable: list[str] = []
    for c in old_codes:
        if c not in in_new:
            continue
        a, b = old_titles.get(c) or "", new_titles.get(c) or ""
        if a != b:
            retitled[c] = (a, b)
        was, now = old.is_abstract(c), new.is_abstract(c)
        if not was and now:
            became_header[c] = new.children_of(c)
        elif was and not now:
            became_billable.append(c)
    by_title: dict[str, list[str]] = {}
    for c in new_codes:
        by_title.setdefault(_norm(new_titles.get(c)), []).append(c)
    added_raw = [(c, _raw(c)) for c in added]
    deleted: dict[str, str] = {}
    replaced_by: dict[str, tuple[tuple[str, str], ...]] = {}
    for c in gone:
        title = old_titles.get(c) or ""
        deleted[c] = title
        out: dict[str, str] = {}
        # the same title under another code: the code moved
        for t in by_title.get(_norm(title), ()):
            out.setdefault(t, EQUIVALENT)
        # new subdivisions of the code (a 7th-character code: the same 7th character
        # under the new subdivisions of its stem, as O35.0XX0 -> O35.00X0, O35.01X0...)
        raw = _raw(c)
        if len(raw) == 7:
            stem, seventh = raw[:6].rstrip("X"), raw[6]
            subs = [
                a for a, r in added_raw if len(r) == 7 and r[6] == seventh and r.startswith(stem)
            ]
        else:
            subs = [a for a, r in added_raw if r.startswith(raw) and not new.is_abstract(a)]
        for s in subs:
            out.setdefault(s, NARROWER)
        # else the parent that is billable now: it absorbed the code
        if not out:
            for p in old.parents_of(c):
                if p in in_new and not new.is_abstract(p):
                    out[p] = WIDER
        replaced_by[c] = tuple(out.items())
    return ReleaseDiff(
        url=new.info.url,
        old=old.info.version or "",
        new=new.info.version or "",
        added=added,
        deleted=deleted,
        replaced_by=replaced_by,
        retitled=retitled,
        became_header=became_header,
        became_billable=tuple(became_billable),
    )
