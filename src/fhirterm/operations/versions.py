"""Which version of a code system is meant: the one resolver of the operations.

``resolve`` answers it for an include of a value set, a coding, or a request, under the
request's version rules: ``system-version``, ``check-system-version``,
``force-system-version`` (https://hl7.org/fhir/R5/valueset-operation-expand.html) and the
date of service (``operations.dates``). Each rule is a canonical ``url|version`` and may
repeat. ``force`` overrides the version a value set (or coding) names, ``default`` applies
where none is named, ``check`` applies where none is named and otherwise makes a version that
does not match it an error. The rules themselves are request data
(``contracts.VersionRules``); this module says which version they choose. $lookup, both
$validate-code and $expand resolve through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from ..errors import InvalidRequest, NotFound
from ..index import CodeSystemIndex
from ..registry import Registry, _version_key, version_matches
from .contracts import VersionRules


def version_for(rules: VersionRules, url: str, version: str | None) -> str:
    """The version ``rules`` give ``url`` when ``version`` (maybe empty) is asked for.

    Raises InvalidRequest when two different versions are forced or defaulted.
    """
    if not (rules.force or rules.default or rules.check or rules.dated):
        return version or ""  # no rules (most requests): the version asked for
    on_date = rules.dated.get(url)
    if on_date is not None:
        return _on_date(rules, url, version, on_date)
    forced = _single(rules.force.get(url, ()), url, "force-system-version")
    if forced:
        return forced
    if version:
        return version
    defaulted = _single(rules.default.get(url, ()), url, "system-version")
    if defaulted:
        return defaulted
    checks = rules.check.get(url, ())
    return checks[0] if checks else ""


def _on_date(
    rules: VersionRules, url: str, version: str | None, on_date: tuple[str | None, str]
) -> str:
    """The version in effect on the request's date; NotFound when there is none, and
    InvalidRequest when the request or the value set states another."""
    in_effect, said = on_date
    if in_effect is None:
        raise NotFound(said, expression="date")
    forced = _single(rules.force.get(url, ()), url, "force-system-version")
    for stated in (forced, version):
        if stated and stated != in_effect:
            raise InvalidRequest(
                f"version '{stated}' of '{url}' disagrees with the date of service: {said}; "
                "send the version or the date, or both in agreement",
                expression="date",
            )
    return in_effect


def violated_check(rules: VersionRules, url: str, version: str) -> str | None:
    """The check-system-version pattern of ``rules`` that ``version`` does not match, if any."""
    for pattern in rules.check.get(url, ()):
        if not version_matches(pattern, version):
            return pattern
    return None


NO_RULES = VersionRules()  # read-only, shared


class Resolution(NamedTuple):
    """The code system version a value set's include, a coding or a request means.

    A NamedTuple rather than a frozen dataclass: one is built per resolution, on the
    hot path, and a tuple is built several times faster."""

    version: str  # the version wanted, after the rules and the coding ("": the newest)
    cs: CodeSystemIndex | None  # that version (newest match of a wildcard); None: not loaded
    violated: str | None = None  # the check-system-version pattern cs's version fails


def resolve(
    registry: Registry,
    rules: VersionRules,
    system: str,
    stated: str | None = None,
    coding: str | None = None,
) -> Resolution:
    """The version of ``system`` meant where ``stated`` is named (by an include of a value
    set, or by the request) and a coding of it names ``coding``, under ``rules``.

    The rules choose first (``version_for``). A coding's version then wins where it
    is a more detailed form of the chosen wildcard (``1.x`` -> ``1.2``), or where nothing
    is chosen and the registry holds it (or versions it matches). Raises what
    ``version_for`` raises (several forced versions, a date of service that
    disagrees).
    """
    version = version_for(rules, system, stated)
    if coding:
        if version and coding != version and more_detailed(version, coding):
            version = coding
        if not version and any(
            v == coding or more_detailed(coding, v) for v in registry.code_systems.get(system, {})
        ):
            version = coding
        cs = registry.find_code_system(system, version_for(rules, system, version) or None)
    else:
        # version_for(version_for(v)) is version_for(v): no second pass needed
        cs = registry.find_code_system(system, version or None)
    violated = (
        violated_check(rules, system, cs.info.version or "")
        if cs is not None and rules.check
        else None
    )
    return Resolution(version, cs, violated)


T = TypeVar("T")


def newest_first(
    items: list[T], system: Callable[[T], str | None], version: Callable[[T], str | None]
) -> list[T]:
    """``items`` in their order, except that the items of one system (those with a system and
    a version) take the places of that system's items newest version first."""
    out = list(items)
    places: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        url = system(item)
        if url and version(item):
            places.setdefault(url, []).append(n)
    for positions in places.values():
        if len(positions) < 2:
            continue
        ordered = sorted(
            (items[n] for n in positions),
            key=lambda item: _version_key(version(item) or ""),
            reverse=True,
        )
        for n, item in zip(positions, ordered, strict=True):
            out[n] = item
    return out


def more_detailed(pattern: str, version: str) -> bool:
    """``version`` is a more detailed form of the wildcard ``pattern`` (``1.0.x`` -> ``1.0.0``)."""
    return bool(pattern) and pattern != version and version_matches(pattern, version)


def present_versions(registry: Registry, url: str) -> str:
    """The known versions as prose: ``a``, ``a or b``, ``a, b and c``."""
    vs = sorted(v for v in registry.code_systems.get(url, {}) if v)
    if len(vs) <= 1:
        return "".join(vs)
    if len(vs) == 2:
        return f"{vs[0]} or {vs[1]}"
    return f"{', '.join(vs[:-1])} and {vs[-1]}"


def _single(values: Sequence[str], url: str, parameter: str) -> str | None:
    """The one version ``parameter`` gives ``url`` (None if none); InvalidRequest for several."""
    if not values:
        return None
    if len(set(values)) > 1:
        raise InvalidRequest(
            f"Multiple {parameter} values for '{url}': {', '.join(values)}", expression=parameter
        )
    return values[0]
