"""The date of service: which version of a code system was in effect on a date.

The ``date`` parameter of $lookup, $validate-code and $expand names the day a code is
used (a date of service). For a code system whose versions state the period they are in
effect (``CodeSystemInfo.effective``, R5's ``effectivePeriod``), the date picks the
version in effect that day; a version stated beside the date must be that one. Code
systems without periods are not chosen by date (the date leaves them as they are).
"""

from __future__ import annotations

import calendar
import re

from ..errors import InvalidRequest
from ..index import CodeSystemIndex
from ..registry import Registry
from .contracts import VersionRules
from .versions import version_for

# FHIR dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or a date with a time (the time is not needed
# to pick a release: releases change at the start of a day)
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?$")


def day_range(date: str) -> tuple[str, str]:
    """The first and last day (ISO) that the FHIR dateTime ``date`` names.

    Raises InvalidRequest when ``date`` is not a FHIR date or dateTime.
    """
    m = _DATE.match(date)
    month_ok = m is not None and (m.group(2) is None or 1 <= int(m.group(2)) <= 12)
    if m is None or not month_ok:
        raise InvalidRequest(
            f"date '{date}' is not a date: expected YYYY-MM-DD (or YYYY, YYYY-MM, or a dateTime)",
            expression="date",
        )
    y, mo, d = m.group(1), m.group(2), m.group(3)
    if mo is None:
        return f"{y}-01-01", f"{y}-12-31"
    last = calendar.monthrange(int(y), int(mo))[1]
    if d is None:
        return f"{y}-{mo}-01", f"{y}-{mo}-{last:02d}"
    if not 1 <= int(d) <= last:
        raise InvalidRequest(f"date '{date}' is not a day of the calendar", expression="date")
    return f"{y}-{mo}-{d}", f"{y}-{mo}-{d}"


def dated_versions(registry: Registry, url: str) -> list[CodeSystemIndex]:
    """The versions of ``url`` that state when they are in effect, earliest first."""
    found = [cs for cs in registry.code_systems.get(url, {}).values() if cs.info.effective]
    return sorted(found, key=lambda cs: cs.info.effective or ("", ""))


def covered(versions: list[CodeSystemIndex]) -> str:
    """The periods ``versions`` cover, as prose: ``2021-01-01 to 2021-03-31 (version 2021), ...``."""
    return ", ".join(
        f"{cs.info.effective[0]} to {cs.info.effective[1]} (version {cs.info.version})"
        for cs in versions
        if cs.info.effective
    )


def version_on(registry: Registry, url: str, version: str | None, date: str | None) -> str | None:
    """The version of ``url`` to use for a request stating ``version`` (maybe None) and ``date``.

    Without a date, ``version``. With one, the version in effect that day (NotFound when
    none is); a stated version that is another one is an InvalidRequest naming both.
    """
    if not date:
        return version
    rules = rules_on(registry, VersionRules(), date, (url,))
    return version_for(rules, url, version) or None


def rules_on(
    registry: Registry,
    rules: VersionRules,
    date: str | None,
    urls: tuple[str, ...] | None = None,
) -> VersionRules:
    """``rules`` with the date of service: for every code system (of ``urls``, or every one
    loaded) whose versions state periods, the version in effect on ``date`` (see
    ``VersionRules.dated``). Resolving such a code system then gives that version, raises
    NotFound naming the periods covered when no version was in effect, and InvalidRequest
    when a request or value set states another version.
    """
    if not date:
        return rules
    first, last = day_range(date)
    dated: dict[str, tuple[str | None, str]] = {}
    for url in urls if urls is not None else tuple(registry.code_systems):
        versions = dated_versions(registry, url)
        if not versions:
            continue
        hit = next(
            (
                cs
                for cs in versions
                if cs.info.effective
                and cs.info.effective[0] <= first
                and last <= cs.info.effective[1]
            ),
            None,
        )
        if hit is None or not hit.info.effective:
            dated[url] = (
                None,
                f"No version of the CodeSystem '{url}' loaded here was in effect on {date}: "
                f"the loaded versions cover {covered(versions)}",
            )
        else:
            start, end = hit.info.effective
            dated[url] = (
                hit.info.version or "",
                f"on {date} version '{hit.info.version}' was in effect ({start} to {end})",
            )
    return VersionRules(rules.default, rules.check, rules.force, dated)
