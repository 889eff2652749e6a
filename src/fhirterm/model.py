"""Value types shared by every layer: concepts, designations, properties, code systems.

This module knows nothing of HTTP, JSON shapes or files. Instances are built
once at load time and then only read: nothing in a request mutates them, which
is what lets worker processes share them and requests reuse them without copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# FHIR value[x] suffixes a property value may carry (CodeSystem.concept.property).
PROPERTY_TYPES = frozenset(
    {"code", "Coding", "string", "integer", "boolean", "dateTime", "decimal", "uri"}
)


class Property(NamedTuple):
    """One property value of a concept (a tuple: cheap to build, pickle and share).

    ``type`` is the FHIR value[x] suffix (``code``, ``string``, ``boolean``,
    ``Coding``...); for ``Coding`` the value is a dict with system/code/display.
    ``description`` is the human-readable form of the value ($lookup
    ``property.description``), ``sub`` the subproperties ($lookup
    ``property.subproperty``) for values with parts such as an FAQ entry.
    """

    code: str
    type: str
    value: Any
    description: str | None = None
    sub: tuple[Property, ...] = ()


def code_properties(name: str, rows: Iterable[tuple[str, str | None]]) -> list[Property]:
    """``Property(name, "code", code, display)`` for each (code, display) of ``rows``.

    Built with ``tuple.__new__``: a NamedTuple's own ``__new__`` is a Python
    function (~0.3 µs a call), and a $lookup lists dozens of parents, children
    and siblings.
    """
    new = tuple.__new__
    return [new(Property, (name, "code", code, display, ())) for code, display in rows]


class Designation(NamedTuple):
    """An alternative representation of a concept (CodeSystem.concept.designation).

    ``use`` is a Coding as a dict (system/code/display) or None; ``extensions`` are the
    designation's FHIR extensions as stated (e.g. a SNOMED CT description id); ``source``
    the canonical (url|version) of the supplement it came from, None for the code system's own.
    """

    value: str
    language: str | None = None
    use: dict[str, str] | None = None
    extensions: tuple[dict[str, Any], ...] = ()
    source: str | None = None


@dataclass(slots=True)
class Concept:
    """One concept of a code system, with its place in the hierarchy.

    ``parents``/``children`` hold codes (not objects), so the graph is plain
    data. ``abstract`` is FHIR's notSelectable. ``properties`` hold everything
    else, including the editorial layer once applied. ``extensions`` are the
    concept's FHIR extensions that are not read as properties (e.g. rendering-style).
    """

    code: str
    display: str | None = None
    definition: str | None = None
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    abstract: bool = False
    inactive: bool = False
    status: str | None = None
    extensions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """A property a code system defines (CodeSystem.property)."""

    code: str
    type: str
    uri: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Grouping:
    """A grouping that is not a code, such as an ICD-10-CM chapter or block."""

    kind: str
    code: str
    title: str


@dataclass(slots=True)
class CodeSystemInfo:
    """Metadata of one version of a code system (everything but the concepts)."""

    url: str
    version: str | None
    id: str
    name: str | None = None
    title: str | None = None
    status: str = "active"
    content: str = "complete"
    case_sensitive: bool = True
    hierarchy_meaning: str | None = "is-a"
    publisher: str | None = None
    description: str | None = None
    copyright: str | None = None
    date: str | None = None
    experimental: bool | None = None
    property_defs: tuple[PropertyDef, ...] = ()
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # First and last day (ISO dates, inclusive) this version is in effect for services
    # (R5 CodeSystem.effectivePeriod); None when not known. A date of service picks the
    # version whose period holds it.
    effective: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Coding:
    """A FHIR Coding as the operations see it."""

    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
