"""Code system version rules of a request: ``system-version``, ``check-system-version``,
``force-system-version`` (https://hl7.org/fhir/R5/valueset-operation-expand.html).

Each is a canonical ``url|version`` and may repeat. ``force`` overrides the version a value
set (or coding) names, ``default`` applies where none is named, ``check`` applies where none
is named and otherwise makes a version that does not match it an error. Shared by $expand and
$validate-code. The rules themselves are request data (``contracts.VersionRules``); this
module says which version they choose.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidRequest, NotFound
from ..registry import Registry, version_matches
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
