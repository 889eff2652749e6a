"""Request and result types of the operations (plain data, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..model import Coding, Designation, Property
from .versions import VersionRules


class Issue(NamedTuple):
    """One OperationOutcome issue of a result.

    ``code`` is an http://hl7.org/fhir/issue-type code; ``tx_code`` a code of
    http://hl7.org/fhir/tools/CodeSystem/tx-issue-type (the terminology
    ecosystem's finer classification); ``expression`` the element at fault.

    A NamedTuple rather than a frozen dataclass: a validation adds a few (a header's
    warning, a wrong display), and a tuple is built several times faster.
    """

    severity: str
    code: str
    text: str
    tx_code: str | None = None
    expression: str | None = None
    message_id: str | None = None


@dataclass(slots=True)
class LookupRequest:
    """Read-only by contract; not frozen, which costs ~1.5 µs more to build per request."""

    system: str | None = None
    code: str | None = None
    version: str | None = None
    coding: Coding | None = None
    properties: tuple[str, ...] = ()
    display_language: str | None = None
    use_supplements: tuple[str, ...] = ()  # useSupplement: supplements to apply (canonicals)
    date: str | None = None  # the date of service: picks the version in effect that day


@dataclass(slots=True)
class LookupResult:
    name: str
    system: str
    version: str | None
    code: str
    display: str | None
    definition: str | None
    abstract: bool
    designations: tuple[Designation, ...]
    properties: list[Property]
    used_supplements: tuple[str, ...] = ()  # canonicals (url|version) of those applied


@dataclass(slots=True)
class ValidateCodeRequest:
    """The parameters of one CodeSystem $validate-code (built by the wire layer).

    Read-only once built, by contract: not a frozen dataclass, because building a
    frozen one of these fifteen fields costs several microseconds per request.
    """

    url: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
    coding: Coding | None = None
    codeable_concept: tuple[Coding, ...] | None = None
    display_language: str | None = None
    system_fixed: bool = False  # instance level: the code system is given by the path
    abstract: bool = True
    lenient_display: bool = False
    active_only: bool = False
    rules: VersionRules = field(default_factory=VersionRules)
    languages: tuple[str, ...] = ()
    use_supplements: tuple[str, ...] = ()  # useSupplement: supplements to apply (canonicals)
    date: str | None = None  # the date of service: picks the version in effect that day


@dataclass(slots=True)
class ValidateCodeResult:
    result: bool
    system: str | None = None
    version: str | None = None
    code: str | None = None
    display: str | None = None
    message: str | None = None
    issues: list[Issue] = field(default_factory=list)
    codeable_concept: tuple[Coding, ...] | None = None
    text: str | None = None  # CodeableConcept.text of the request, echoed
    inactive: bool | None = None
    status: str | None = None
    normalized_code: str | None = None
    # code systems (url or url|version) the server does not know; ``unknown_is_cause``
    # says they only caused the answer (x-caused-by-unknown-system) rather than made it
    unknown_systems: list[str] = field(default_factory=list)
    unknown_is_cause: bool = False
