"""Code system version rules of a request: ``system-version``, ``check-system-version``,
``force-system-version`` (https://hl7.org/fhir/R5/valueset-operation-expand.html).

Each is a canonical ``url|version`` and may repeat. ``force`` overrides the version a value
set (or coding) names, ``default`` applies where none is named, ``check`` applies where none
is named and otherwise makes a version that does not match it an error. Shared by $expand and
$validate-code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InvalidRequest, NotFound
from ..registry import Registry, version_matches


@dataclass(frozen=True, slots=True)
class VersionRules:
    """url -> versions, per mode."""

    default: dict[str, tuple[str, ...]] = field(default_factory=dict)
    check: dict[str, tuple[str, ...]] = field(default_factory=dict)
    force: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # A date of service (operations.dates.rules_on): url -> (the version in effect that
    # day, or None when none is, and the sentence that says so). A dated url takes that
    # version where none is stated; a stated or forced other version is an error.
    dated: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, default: tuple[str, ...], check: tuple[str, ...], force: tuple[str, ...]
    ) -> VersionRules:
        """From the canonicals of the three parameters; InvalidRequest for one without ``|``."""

        def split(values: tuple[str, ...], name: str) -> dict[str, tuple[str, ...]]:
            out: dict[str, list[str]] = {}
            for v in values:
                url, sep, version = v.partition("|")
                if not sep or not url or not version:
                    raise InvalidRequest(
                        f"Parameter '{name}' must be a canonical url|version, found '{v}'",
                        expression=name,
                    )
                out.setdefault(url, []).append(version)
            return {k: tuple(v) for k, v in out.items()}

        return cls(
            split(default, "system-version"),
            split(check, "check-system-version"),
            split(force, "force-system-version"),
        )

    def __bool__(self) -> bool:
        return bool(self.default or self.check or self.force or self.dated)

    def base(self, url: str, version: str | None) -> str:
        """The version to use for ``url`` when ``version`` (maybe empty) is asked for.

        Raises InvalidRequest when two different versions are forced or defaulted.
        """
        if not (self.force or self.default or self.check or self.dated):
            return version or ""  # no rules (most requests): the version asked for
        on_date = self.dated.get(url)
        if on_date is not None:
            return self._on_date(url, version, on_date)
        forced = _single(self.force.get(url, ()), url, "force-system-version")
        if forced:
            return forced
        if version:
            return version
        defaulted = _single(self.default.get(url, ()), url, "system-version")
        if defaulted:
            return defaulted
        checks = self.check.get(url, ())
        return checks[0] if checks else ""

    def _on_date(self, url: str, version: str | None, on_date: tuple[str | None, str]) -> str:
        """The version in effect on the request's date; NotFound when there is none, and
        InvalidRequest when the request or the value set states another."""
        in_effect, said = on_date
        if in_effect is None:
            raise NotFound(said, expression="date")
        forced = _single(self.force.get(url, ()), url, "force-system-version")
        for stated in (forced, version):
            if stated and stated != in_effect:
                raise InvalidRequest(
                    f"version '{stated}' of '{url}' disagrees with the date of service: {said}; "
                    "send the version or the date, or both in agreement",
                    expression="date",
                )
        return in_effect

    def violated_check(self, url: str, version: str) -> str | None:
        """The check-system-version pattern that ``version`` does not match, if any."""
        for pattern in self.check.get(url, ()):
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


def canonical_versions(values: tuple[str, ...], name: str) -> dict[str, str]:
    """url -> version of ``url|version`` canonicals (the last wins); InvalidRequest naming
    parameter ``name`` for one that is not a canonical with a version."""
    out: dict[str, str] = {}
    for v in values:
        url, sep, version = v.partition("|")
        if not sep or not url or not version:
            raise InvalidRequest(
                f"Parameter '{name}' must be a canonical url|version, found '{v}'", expression=name
            )
        out[url] = version
    return out
