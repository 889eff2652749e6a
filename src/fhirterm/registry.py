"""Canonical url|version -> content: code systems, value sets and concept maps.

The registry resolves versions and answers "which resource is meant"; it
knows no concrete provider (content arrives already parsed) and no FHIR
operation semantics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import NotFound
from .history import ReleaseDiff
from .index import CodeSystemIndex


def _version_key(v: str) -> tuple[Any, ...]:
    """Natural order of versions: 2026 > 2025, 1.10.0 > 1.9.0, dated releases by date."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", v))


WILDCARDS = ("x", "X", "*")


def is_version_pattern(v: str) -> bool:
    """A version with wildcard parts (``1.x``, ``1.0.*``): it names a range of versions."""
    return any(p in WILDCARDS for p in v.split("."))


def version_matches(pattern: str, version: str) -> bool:
    """``version`` is ``pattern`` or matches it part by part (``x``/``X``/``*`` match any part).

    A shorter pattern does not match a longer version (``1`` is not ``1.0.0``), unless its
    last part is a wildcard (``1.x`` matches ``1.0.0``).
    """
    if pattern == version:
        return True
    pp, vp = pattern.split("."), version.split(".")
    if len(pp) > len(vp) or (len(pp) < len(vp) and pp[-1] not in WILDCARDS):
        return False
    return all(a in WILDCARDS or a == b for a, b in zip(pp, vp, strict=False))


@dataclass(slots=True)
class Registry:
    """All content the server holds.

    ``code_systems`` maps url -> version -> index (a code system without a
    version is stored under ""). ``resources`` maps (resourceType, id) to the
    FHIR JSON of value sets and concept maps as loaded.
    """

    code_systems: dict[str, dict[str, CodeSystemIndex]] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Indexes the operations derive from the content on first use (e.g. map links
    # by source code); emptied whenever content is added.
    derived: dict[str, Any] = field(default_factory=dict)
    # Content of one FHIR release only ("r4", "r5"): FHIR's own code systems and value
    # sets, versioned with FHIR (administrative-gender|4.0.1, |5.0.0). See ``edition``.
    releases: dict[str, tuple[list[CodeSystemIndex], list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    # url -> the changes between its consecutive loaded releases, oldest first
    # (fhirterm.history): code history for $lookup and $validate-code.
    changes: dict[str, tuple[ReleaseDiff, ...]] = field(default_factory=dict)

    def add_code_system(self, cs: CodeSystemIndex) -> None:
        """Register one code system version (a later one with the same url|version wins)."""
        self.code_systems.setdefault(cs.info.url, {})[cs.info.version or ""] = cs
        self.derived.clear()

    def add_resource(self, resource: dict[str, Any]) -> None:
        """Register a ValueSet, ConceptMap or other canonical resource by type and id."""
        self.resources[(resource["resourceType"], resource["id"])] = resource
        self.derived.clear()

    def add_release_content(
        self,
        release: str,
        cs: CodeSystemIndex | None = None,
        resource: dict[str, Any] | None = None,
    ) -> None:
        """Register a code system or resource that FHIR ``release`` ("r4", "r5") alone serves."""
        code_systems, resources = self.releases.setdefault(release, ([], []))
        if cs is not None:
            code_systems.append(cs)
        if resource is not None:
            resources.append(resource)
        self.derived.clear()

    def edition(self, release: str) -> Registry:
        """The content an endpoint of FHIR ``release`` ("r4", "r5") serves: that release's own
        content over the shared content (this registry itself when the release has none).

        Made once per release and content (an overlay: the code systems are shared).
        """
        key = f"edition|{release}"
        reg: Registry | None = self.derived.get(key)
        if reg is None:
            code_systems, resources = self.releases.get(release, ([], []))
            reg = self.overlay(code_systems, resources) if code_systems or resources else self
            self.derived[key] = reg
        return reg

    def overlay(
        self, code_systems: list[CodeSystemIndex], resources: list[dict[str, Any]]
    ) -> Registry:
        """A throwaway registry: this one's content with ``code_systems`` and ``resources`` on top.

        Only the small url and id maps are copied; the code systems themselves
        are shared, so nothing added here leaks into this registry or into
        another request.
        """
        out = Registry({url: dict(v) for url, v in self.code_systems.items()}, dict(self.resources))
        out.changes = self.changes
        for cs in code_systems:
            out.add_code_system(cs)
        for r in resources:
            out.add_resource(r)
        return out

    def versions(self, url: str) -> list[str]:
        """Known versions of a code system, newest first."""
        # Asked on every request: sorted once per content change.
        key = f"versions|{url}"
        known: list[str] | None = self.derived.get(key)
        if known is None:
            known = sorted(self.code_systems.get(url, {}), key=_version_key, reverse=True)
            self.derived[key] = known
        return known

    def has_system(self, url: str) -> bool:
        return url in self.code_systems

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex:
        """The code system ``url`` at ``version`` (the newest when None).

        Raises NotFound naming the system, or the version and the versions known.
        """
        by_version = self.code_systems.get(url)
        if not by_version:
            raise NotFound(
                f"A definition for CodeSystem '{url}' could not be found, so the code cannot be looked up",
                expression="system",
            )
        if version is None or version == "":
            return by_version[self.versions(url)[0]]
        cs = by_version.get(version)
        if cs is None:
            known = ", ".join(repr(v) for v in self.versions(url))
            raise NotFound(
                f"A definition for CodeSystem '{url}' version '{version}' could not be found "
                f"(known versions: {known})",
                expression="version",
            )
        return cs

    def find_code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        """The code system ``url`` at ``version`` (newest when None; newest match for a
        wildcard version such as ``1.0.x``), or None when there is none."""
        by_version = self.code_systems.get(url)
        if not by_version:
            return None
        if not version:
            return by_version[self.versions(url)[0]]
        if version in by_version:
            return by_version[version]
        if is_version_pattern(version):
            for v in self.versions(url):
                if version_matches(version, v):
                    return by_version[v]
        return None

    def code_system_by_id(self, id_: str) -> CodeSystemIndex | None:
        for by_version in self.code_systems.values():
            for cs in by_version.values():
                if cs.info.id == id_:
                    return cs
        return None

    def all_code_systems(self) -> list[CodeSystemIndex]:
        return [
            cs
            for url in sorted(self.code_systems)
            for v in self.versions(url)
            for cs in [self.code_systems[url][v]]
        ]

    def resources_of(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for (t, _), r in sorted(self.resources.items()) if t == resource_type]

    def canonical(
        self, resource_type: str, url: str, version: str | None = None
    ) -> dict[str, Any] | None:
        """The ValueSet or ConceptMap with ``url`` (and ``version``; the newest when None).

        ``url|version`` in ``url`` is accepted too (canonical references).
        """
        if version is None and "|" in url:
            url, version = url.split("|", 1)
        hits = [
            r for (t, _), r in self.resources.items() if t == resource_type and r.get("url") == url
        ]
        if version:
            hits = [r for r in hits if r.get("version") == version]
        if not hits:
            return None
        return max(hits, key=lambda r: _version_key(str(r.get("version") or "")))
