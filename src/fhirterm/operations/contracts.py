"""The contracts of the operations: every request and result type, as plain data.

The wire layer builds requests from FHIR parameters and renders results into
FHIR JSON; this module is all it knows of the operations (tests/test_architecture.py
holds it to that), and it knows nothing of them in turn: no registry, no code
system, no behaviour. The one logic here is the syntax of the ``url|version``
canonicals a request carries (``VersionRules.parse``, ``canonical_versions``), so
that the wire layer and the operations read them alike.

Requests are read-only once built, by contract. Those built per request on the hot
path are not frozen dataclasses: building a frozen one costs microseconds more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import InvalidRequest
from ..model import Coding, Designation, Property

# the text a validation without code, coding or codeableConcept is refused with (the
# wording of the HL7 terminology ecosystem; sic: it has no closing parenthesis)
NOTHING_TO_VALIDATE = (
    "Unable to find code to validate (looked for coding | codeableConcept | code+system | "
    "code+inferSystem in parameters"
)


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


# Code system versions


def _canonical(value: str, name: str) -> tuple[str, str]:
    """(url, version) of ``url|version``; InvalidRequest naming parameter ``name`` when
    ``value`` is not a canonical with a version."""
    url, sep, version = value.partition("|")
    if not sep or not url or not version:
        raise InvalidRequest(
            f"Parameter '{name}' must be a canonical url|version, found '{value}'",
            expression=name,
        )
    return url, version


def canonical_versions(values: tuple[str, ...], name: str) -> dict[str, str]:
    """url -> version of ``url|version`` canonicals (the last wins); InvalidRequest naming
    parameter ``name`` for one that is not a canonical with a version."""
    return dict(_canonical(v, name) for v in values)


@dataclass(frozen=True, slots=True)
class VersionRules:
    """The code system version rules of a request: url -> versions, per mode.

    ``default`` (system-version) applies where no version is stated, ``check``
    (check-system-version) where none is stated and otherwise must match, ``force``
    (force-system-version) always. What they choose is ``operations.versions``'.
    """

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
                url, version = _canonical(v, name)
                out.setdefault(url, []).append(version)
            return {k: tuple(v) for k, v in out.items()}

        return cls(
            split(default, "system-version"),
            split(check, "check-system-version"),
            split(force, "force-system-version"),
        )

    def __bool__(self) -> bool:
        return bool(self.default or self.check or self.force or self.dated)


# CodeSystem $lookup


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


# CodeSystem and ValueSet $validate-code (and $batch-validate-code)


@dataclass(slots=True)
class ValidateCodeRequest:
    """The parameters of one $validate-code, of a CodeSystem or of a ValueSet.

    What to validate is one of ``code`` (of ``system`` at ``system_version``),
    ``coding`` or ``codeable_concept``. CodeSystem $validate-code validates it against
    the code system ``system`` (its ``url`` and ``version`` parameters); ValueSet
    $validate-code against the value set part (``value_set_url`` at
    ``value_set_version``, or ``value_set`` itself), which CodeSystem $validate-code
    leaves at its defaults, as it does ``infer_system``, ``membership_only`` and ``text``.

    Read-only once built, by contract: not a frozen dataclass, because building a frozen
    one of these fields costs about 5 µs, a tenth of a whole validation.
    """

    code: str | None = None
    system: str | None = None
    system_version: str | None = None
    display: str | None = None
    coding: Coding | None = None
    codeable_concept: tuple[Coding, ...] | None = None
    text: str | None = None  # CodeableConcept.text, echoed (ValueSet $validate-code)
    display_language: str | None = None
    languages: tuple[str, ...] = ()  # from Accept-Language, when displayLanguage is absent
    abstract: bool = True  # may an abstract (notSelectable) code be valid?
    lenient_display: bool = False  # a wrong display is a warning, not an error
    active_only: bool = False
    infer_system: bool = False
    membership_only: bool = False
    rules: VersionRules = field(default_factory=VersionRules)
    use_supplements: tuple[str, ...] = ()  # useSupplement: supplements to apply (canonicals)
    date: str | None = None  # the date of service: picks the version in effect that day
    # CodeSystem $validate-code at instance level: the path names the code system, so a
    # coding of another system is an error
    system_fixed: bool = False
    # the value set (ValueSet $validate-code)
    value_set_url: str | None = None
    value_set: dict[str, Any] | None = None
    value_set_version: str | None = None
    # url -> version for value set references stated without a version (default-valueset-version)
    vs_defaults: dict[str, str] = field(default_factory=dict)


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


# CodeSystem $subsumes (its result is the relation's code)


@dataclass(slots=True)
class SubsumesRequest:
    """Read-only by contract; not frozen, which costs ~1.5 µs more to build per request."""

    code_a: str | None = None
    code_b: str | None = None
    system: str | None = None
    version: str | None = None
    coding_a: Coding | None = None
    coding_b: Coding | None = None


# ValueSet $expand


@dataclass(frozen=True, slots=True)
class ExpandRequest:
    """$expand inputs. ``None`` means "not sent" (the expansion echoes what was sent)."""

    url: str | None = None
    value_set: dict[str, Any] | None = None
    value_set_version: str | None = None
    filter: str | None = None
    offset: int | None = None
    count: int | None = None
    active_only: bool | None = None
    include_designations: bool | None = None
    include_definition: bool | None = None
    exclude_nested: bool | None = None
    display_language: str | None = None
    designations: tuple[
        str, ...
    ] = ()  # designation filters: [system|]code, e.g. urn:ietf:bcp:47|es
    properties: tuple[str, ...] = ()
    system_versions: tuple[str, ...] = ()  # system-version: url|version where none is stated
    check_system_versions: tuple[str, ...] = ()  # check-system-version: url|version (pattern)
    force_system_versions: tuple[str, ...] = ()  # force-system-version: url|version always
    default_valueset_versions: tuple[str, ...] = ()  # url|version of imports stated without one
    use_supplements: tuple[str, ...] = ()  # useSupplement: supplements to apply (canonicals)
    versions_match: bool | None = None  # versionsMatch: versions of a code system are one
    date: str | None = None  # the date of service: picks the version in effect that day
    limit: int = 1000  # the largest unpaged expansion (Settings.expansion_limit)


@dataclass(slots=True)
class ExpansionItem:
    system: str
    version: str | None
    code: str
    display: str | None
    abstract: bool
    inactive: bool
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()
    children: list[ExpansionItem] = field(default_factory=list)
    extensions: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class ExpandResult:
    value_set: dict[str, Any]  # the resource expanded (metadata; compose if includeDefinition)
    total: int
    offset: int | None  # None when the client sent no offset
    items: list[ExpansionItem]
    parameters: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, FHIR type, value)
    properties: list[tuple[str, str | None]] = field(default_factory=list)  # (code, uri) declared
    # why the expansion may be incomplete (drawn on code systems that are fragments); empty
    # when it is complete
    unclosed: list[str] = field(default_factory=list)


# ConceptMap $translate


@dataclass(frozen=True, slots=True)
class TranslateRequest:
    url: str | None = None
    concept_map: dict[str, Any] | None = None
    concept_map_version: str | None = None
    system: str | None = None
    code: str | None = None
    version: str | None = None
    coding: Coding | None = None
    codeable_concept: tuple[Coding, ...] | None = None
    source: str | None = None
    target: str | None = None
    target_system: str | None = None
    reverse: bool = False
    # the request named its parameters as R5 does (sourceCode, targetCode...): the answer
    # takes R5's match shape, whatever the FHIR version of the endpoint
    r5_names: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """One link of a map. ``concept`` and ``equivalence`` are seen from the side asked about:
    in reverse, ``concept`` is the link's source and the equivalence is inverted, and
    ``link_target`` is the link's target (the code translated) and ``link_equivalence``
    the equivalence as the map states it (source to target)."""

    equivalence: str
    concept: Coding
    source: str  # the map's url
    comment: str | None = None
    link_source: str | None = None
    map_version: str | None = None
    link_target: Coding | None = None
    link_equivalence: str | None = None


@dataclass(slots=True)
class TranslateResult:
    result: bool
    message: str | None
    matches: list[Match] = field(default_factory=list)
    r5_names: bool = False  # as in the request


# Search of the canonical resources

# search parameter -> the record field it reads
FIELDS = {
    "_id": "id",
    "url": "url",
    "version": "version",
    "name": "name",
    "title": "title",
    "status": "status",
}
MODIFIERS = {"name": ("exact", "contains"), "title": ("exact", "contains")}
# _sort keys -> record field; ``id`` is accepted beside ``_id``, ``date`` is sortable
# though not a search parameter here
SORT_FIELDS = {**FIELDS, "id": "id", "date": "date"}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One search parameter as sent: ``name[:modifier]=v1,v2`` (any of the values matches)."""

    name: str
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What to match, in which order, and the page: ``count`` records from ``offset``.

    ``count`` 0 asks for the number of matches only (no records).
    """

    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchPage:
    """The records of the requested page and the number of all matches."""

    records: list[Any]
    total: int
