"""Errors of the terminology engine, each carrying a FHIR issue type.

Domain errors know no HTTP: the web layer maps each class to a status in one
place (``fhirterm.web.errors``). A wrong display or an unknown code in a
$validate-code is not an error but a result with issues; these exceptions are
for requests that cannot be answered at all.

A message may quote what a client sent: ``clip`` and ``clip_message`` keep it short,
in every layer that writes or sends one.
"""

from __future__ import annotations

import re


class TerminologyError(Exception):
    """Base class. ``issue_type`` is a code of http://hl7.org/fhir/issue-type.

    ``expression`` names the request element at fault (FHIRPath-like, e.g.
    ``code`` or ``coding.system``) when known.
    """

    issue_type = "exception"
    # code of http://hl7.org/fhir/tools/CodeSystem/tx-issue-type for the issue's details
    tx_code: str | None = None

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression


class InvalidRequest(TerminologyError):
    """The request is malformed: a missing, repeated or unknown parameter."""

    issue_type = "invalid"


class InvalidValueSet(InvalidRequest):
    """A value set that cannot be evaluated: a filter without a value, a circular import."""

    issue_type = "invalid"
    tx_code = "vs-invalid"


class CircularValueSet(InvalidValueSet):
    """A value set that imports itself, directly or through others."""

    issue_type = "processing"


class InvalidLanguage(InvalidRequest):
    """A language parameter (displayLanguage) that is not a language tag."""

    issue_type = "processing"
    tx_code = "invalid-display"


class NotFound(TerminologyError):
    """A code system, version, value set, concept map or resource is not known."""

    issue_type = "not-found"
    tx_code = "not-found"


class CodeNotFound(NotFound):
    """A code is not in the code system ($lookup, $subsumes)."""

    issue_type = "not-found"


class NotSupported(TerminologyError):
    """The request asks for something the server does not do."""

    issue_type = "not-supported"


class VersionMismatch(TerminologyError):
    """A code system version is not the one a check-system-version parameter requires."""

    issue_type = "exception"
    tx_code = "version-error"


class TooCostly(TerminologyError):
    """The answer would be too large to produce (e.g. an unpaged expansion)."""

    issue_type = "too-costly"


class ContentError(Exception):
    """Invalid content at load time; the message names the file and the field."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.source = source
        self.field = field
        self.message = message


def clip(value: str, keep: int = 200) -> str:
    """``value`` as a message may quote it: whole when short, else its start and its length.

    Messages never echo megabytes a client sent.
    """
    if len(value) <= keep:
        return value
    return f"{value[:keep]}... ({len(value):,} characters, truncated)"


MESSAGE_MAX = 2_000  # characters of a message, at most (its long words clipped first)
_LONG_WORD = re.compile(r"[^\s']{201,}")


def clip_message(text: str) -> str:
    """A message as it is sent: each word (a run of characters without spaces or quotes)
    longer than 200 characters clipped as ``clip`` does, and the whole at most
    ``MESSAGE_MAX`` characters. A message quoting what a client sent never echoes
    megabytes of it; an ordinary message is unchanged."""
    if len(text) <= MESSAGE_MAX // 2:
        return text
    text = _LONG_WORD.sub(lambda m: clip(m.group()), text)
    if len(text) > MESSAGE_MAX:
        text = f"{text[:MESSAGE_MAX]}... ({len(text):,} characters, truncated)"
    return text
