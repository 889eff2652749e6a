"""Code history across the loaded releases of a code system, for $lookup and $validate-code.

The registry holds, per code system, the changes between consecutive loaded releases
(``fhirterm.history.ReleaseDiff``, oldest first). From them: when a code was first and
last seen, its earlier titles, and for a code a release does not hold, whether it was
deleted before (by which release, and what took its place) or added after (from when).
Only the loaded releases count: a change made and undone between two of them is not seen.
"""

from __future__ import annotations

from ..index import CodeSystemIndex
from ..model import Property
from ..registry import Registry
from .contracts import Issue, ValidateCodeResult


class _Chain:
    """The diffs of one code system and its releases in their order (oldest first), with
    what every $lookup of a code held by all of them says (made once per registry)."""

    __slots__ = ("all_held", "diffs", "periods", "releases", "retitled")

    def __init__(self, registry: Registry, url: str) -> None:
        self.diffs = registry.changes.get(url, ())
        by_version = registry.code_systems.get(url, {})
        names = [self.diffs[0].old, *(d.new for d in self.diffs)] if self.diffs else []
        self.releases = [by_version[v] for v in names if v in by_version]
        self.periods = [_period(cs) for cs in self.releases]
        self.retitled = frozenset(c for d in self.diffs for c in d.retitled)
        self.all_held: list[Property] = (
            [
                Property("first-release", "string", self.releases[0].info.version, self.periods[0]),
                Property(
                    "last-release", "string", self.releases[-1].info.version, self.periods[-1]
                ),
            ]
            if self.releases
            else []
        )


def _chain(registry: Registry, url: str) -> _Chain:
    key = f"changes|{url}"
    found: _Chain | None = registry.derived.get(key)
    if found is None:
        found = registry.derived[key] = _Chain(registry, url)
    return found


def _period(cs: CodeSystemIndex) -> str | None:
    e = cs.info.effective
    return f"in effect {e[0]} to {e[1]}" if e else None


def properties(registry: Registry, url: str, code: str) -> list[Property]:
    """``first-release``, ``last-release`` and ``earlier-title`` properties of ``code``
    (nothing for a code system without loaded history)."""
    ch = _chain(registry, url)
    releases = ch.releases
    if not releases:
        return []
    held = [i for i, cs in enumerate(releases) if code in cs.concepts]
    if not held:
        return []
    if len(held) == len(releases):
        out = list(ch.all_held)
    else:
        first, last = held[0], held[-1]
        out = [
            Property("first-release", "string", releases[first].info.version, ch.periods[first]),
            Property("last-release", "string", releases[last].info.version, ch.periods[last]),
        ]
    if code in ch.retitled:
        for d in ch.diffs:
            t = d.retitled.get(code)
            if t is not None:
                out.append(
                    Property(
                        "earlier-title",
                        "string",
                        t[0],
                        f"until version {d.old}, retitled in {d.new}",
                    )
                )
    return out


def note(registry: Registry, url: str, version: str | None, code: str) -> str | None:
    """Why ``code`` is not in ``version`` of ``url`` when another loaded release holds it:
    deleted before (naming the release and the codes that took its place) or added after
    (naming the release from which it is valid). None when no loaded release holds it."""
    ch = _chain(registry, url)
    diffs, releases = ch.diffs, ch.releases
    if not releases or version is None:
        return None
    names = [cs.info.version for cs in releases]
    if version not in names:
        return None
    at = names.index(version)
    later = next((cs for cs in releases[at + 1 :] if code in cs.concepts), None)
    earlier = next((cs for cs in reversed(releases[:at]) if code in cs.concepts), None)
    parts: list[str] = []
    if earlier is not None:
        # the first release after ``earlier`` that does not hold it deleted it
        for d in diffs:
            if d.old == earlier.info.version and code in d.deleted:
                took = d.replaced_by.get(code, ())
                removed = releases[names.index(d.new)]
                when = f" ({_period(removed)})" if _period(removed) else ""
                place = (
                    "; replaced by " + ", ".join(f"{t} ({eq})" for t, eq in took)
                    if took
                    else "; no code took its place"
                )
                parts.append(
                    f"'{code}' was in version {earlier.info.version} and was deleted in version "
                    f"{d.new}{when}{place}"
                )
    if later is not None:
        start = later.info.effective[0] if later.info.effective else None
        since = f", in effect from {start}" if start else ""
        parts.append(f"'{code}' is valid from version {later.info.version}{since}")
    return "; ".join(parts) or None


def explain(
    registry: Registry, res: ValidateCodeResult, cs: CodeSystemIndex, codes: list[str | None]
) -> None:
    """Add to a failed validation against ``cs`` what the loaded releases say of each code
    that ``cs`` does not hold (deleted before it, or valid only from a later release)."""
    for code in codes:
        if code is None or code in cs.concepts:
            continue
        said = note(registry, cs.info.url, cs.info.version, code)
        if said is not None:
            res.issues.append(Issue("information", "informational", said, expression="code"))
