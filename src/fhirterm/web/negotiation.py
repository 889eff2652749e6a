"""Content negotiation: which format and Content-Type a FHIR request gets.

As FHIR's http page and versioning page say: the ``_format`` parameter
(``json``, ``xml`` or a MIME type) overrides the Accept header; Accept is
read with q-values and the MIME type parameters ``charset`` (only UTF-8 is
served) and ``fhirVersion`` (the major.minor release the client wants, e.g.
``application/fhir+json; fhirVersion=4.0``, as the HL7 Java tooling client
sends on every request). A ``fhirVersion`` an endpoint does not serve is a
406 that names the one it does. When the client named the version, the
response's Content-Type echoes it; every FHIR Content-Type carries
``charset=utf-8`` (R4 http.html: SHALL).

Pure functions of the header text, memoised: the few Accept headers real
clients send are parsed once per process, so negotiation costs the hot path
one dictionary lookup (the fast path calls ``choose`` too).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

JSON = "json"
XML = "xml"

# MIME types (lower case, without parameters) -> format. The +fhir forms are
# the DSTU2 names that HAPI's generic client still offers at q=0.9.
JSON_TYPES = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir", "text/json"}
)
XML_TYPES = frozenset(
    {"application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml"}
)
_FORMAT_CODES = {"json": JSON, "xml": XML}
_MIME = {JSON: "application/fhir+json", XML: "application/fhir+xml"}

# The formats this server writes, in order of preference when a client accepts
# several equally (JSON first: it is the fast path).
SERVED: tuple[str, ...] = (JSON, XML)

_ECHO_LIMIT = 120  # characters of a client's header quoted back in an error


@dataclass(frozen=True, slots=True)
class Choice:
    """The negotiated answer: format (``json`` or ``xml``), the full Content-Type, indenting,
    and whether the endpoint is R5 (the XML serialiser writes that release's model)."""

    fmt: str
    content_type: str
    pretty: bool = False
    r5: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why nothing acceptable can be written: the HTTP status (406, 415) and a message."""

    status: int
    message: str


def release(r5: bool) -> str:
    """The FHIR release an endpoint serves, as the fhirVersion parameter writes it."""
    return "5.0" if r5 else "4.0"


def content_type(fmt: str, version: str | None = None) -> str:
    """The Content-Type of a FHIR body in ``fmt``, echoing ``version`` when the client named it."""
    if version is None:
        return f"{_MIME[fmt]}; charset=utf-8"
    return f"{_MIME[fmt]}; fhirVersion={version}; charset=utf-8"


FHIR_JSON = content_type(JSON)
DEFAULT = Choice(JSON, FHIR_JSON)


def _quote(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."


def _other_base(r5: bool) -> str:
    return "/fhir or /r4 serve 4.0" if r5 else "/r5 serves 5.0"


@dataclass(frozen=True, slots=True)
class _Range:
    media: str  # lower case, parameters stripped
    q: float
    version: str | None  # the fhirVersion parameter, if any
    charset: str | None


def _parse_range(text: str) -> _Range | None:
    """One media range of an Accept header (or a _format value); None when malformed."""
    media, *params = text.split(";")
    media = media.strip().lower()
    if "/" not in media:
        return None
    q, version, charset = 1.0, None, None
    for p in params:
        key, _, value = p.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"')
        if key == "q":
            try:
                q = float(value)
            except ValueError:
                return None
            if not 0.0 <= q <= 1.0:
                return None
        elif key == "fhirversion":
            version = value
        elif key == "charset":
            charset = value.lower()
    return _Range(media, q, version, charset)


def _version_served(version: str, r5: bool) -> bool:
    """Whether ``version`` (major.minor, or a full version like 4.0.1) is the endpoint's release."""
    return version.split(".")[:2] == release(r5).split(".")


def _charset_ok(charset: str | None) -> bool:
    return charset is None or charset in ("utf-8", "utf8")


def _specificity(media: str, fmt: str) -> int:
    """How specifically ``media`` names ``fmt``: 3 exactly, 2 ``application/*``, 1 ``*/*``, 0 not."""
    if media in (JSON_TYPES if fmt == JSON else XML_TYPES):
        return 3
    if media == "application/*":
        return 2
    if media == "*/*":
        return 1
    return 0


def choose(accept: str, r5: bool) -> Choice | Refusal:
    """The answer to an Accept header (no ``_format``) at an R5 or R4 endpoint (see ``_choose``).

    Memoised for headers of ordinary length, so a client sending ever new
    long headers cannot fill memory.
    """
    return _chosen(accept, r5) if len(accept) <= 256 else _choose(accept, r5)


def _choose(accept: str, r5: bool) -> Choice | Refusal:
    """The answer to an Accept header (no ``_format``) at an R5 or R4 endpoint.

    Per format the most specific matching range decides its q (RFC 9110
    12.5.1); the served format with the highest q > 0 wins, JSON on a tie. A
    range whose ``fhirVersion`` is not this endpoint's release, or whose
    ``charset`` is not UTF-8, matches nothing.
    """
    if not accept.strip():
        return Choice(JSON, FHIR_JSON, r5=r5)
    ranges = [r for part in accept.split(",") if (r := _parse_range(part)) is not None]
    best: tuple[float, str, str | None] | None = None  # q, fmt, version
    wrong_version: set[str] = set()
    for fmt in SERVED:  # in order of preference: a tie keeps the first
        spec, q, version = 0, 0.0, None
        for r in ranges:
            s = _specificity(r.media, fmt)
            if s == 0:
                continue
            if r.version is not None and not _version_served(r.version, r5):
                wrong_version.add(r.version)
                continue
            if not _charset_ok(r.charset):
                continue
            if s > spec or (s == spec and r.q > q):
                spec, q, version = s, r.q, r.version
        if q > 0 and (best is None or q > best[0]):
            best = (q, fmt, version)
    if best is not None:
        _, fmt, version = best
        return Choice(fmt, content_type(fmt, release(r5) if version is not None else None), r5=r5)
    if wrong_version:
        asked = ", ".join(sorted(wrong_version))
        return Refusal(
            406,
            f"This endpoint serves FHIR {release(r5)} (fhirVersion={release(r5)}); "
            f"the Accept header asks for fhirVersion={_quote(asked)} ({_other_base(r5)})",
        )
    return Refusal(
        406,
        f"Cannot answer with '{_quote(accept)}'; this server answers "
        f"{' or '.join(_MIME[f] for f in SERVED)} (charset utf-8), "
        f"or use _format={'|'.join(SERVED)}",
    )


_chosen = lru_cache(maxsize=1024)(_choose)


def from_format(value: str, r5: bool) -> Choice | Refusal:
    """The answer to a ``_format`` value (``json``, ``xml`` or a MIME type with parameters)."""
    return _formatted(value, r5) if len(value) <= 256 else _from_format(value, r5)


def _from_format(value: str, r5: bool) -> Choice | Refusal:
    text = value.strip()
    fmt = _FORMAT_CODES.get(text.lower())
    version = None
    if fmt is None:
        r = _parse_range(text)
        if r is not None and _charset_ok(r.charset):
            fmt = JSON if r.media in JSON_TYPES else XML if r.media in XML_TYPES else None
            version = r.version
    if fmt is None or fmt not in SERVED:
        return Refusal(
            406,
            f"_format '{_quote(value)}' is not served; use "
            f"{', '.join(SERVED)} or {', '.join(_MIME[f] for f in SERVED)}",
        )
    if version is not None and not _version_served(version, r5):
        return Refusal(
            406,
            f"This endpoint serves FHIR {release(r5)} (fhirVersion={release(r5)}); "
            f"_format asks for fhirVersion={_quote(version)} ({_other_base(r5)})",
        )
    return Choice(fmt, content_type(fmt, release(r5) if version is not None else None), r5=r5)


_formatted = lru_cache(maxsize=256)(_from_format)


def body_type(value: str, r5: bool) -> str | Refusal:
    """The format of a request body from its Content-Type; a 415 Refusal when not readable."""
    r = _parse_range(value) if value else None
    fmt = None
    if r is not None:
        fmt = JSON if r.media in JSON_TYPES else XML if r.media in XML_TYPES else None
    if r is None or fmt is None or fmt not in SERVED:
        return Refusal(
            415,
            f"Content-Type '{_quote(value or '(none)')}' is not accepted; send "
            f"{' or '.join(_MIME[f] for f in SERVED)}",
        )
    if not _charset_ok(r.charset):
        return Refusal(
            415, f"Content-Type charset '{_quote(r.charset or '')}' is not accepted; send UTF-8"
        )
    if r.version is not None and not _version_served(r.version, r5):
        return Refusal(
            415,
            f"This endpoint reads FHIR {release(r5)} (fhirVersion={release(r5)}); the body is "
            f"fhirVersion={_quote(r.version)} ({_other_base(r5)})",
        )
    return fmt


def pretty(value: str | None) -> bool:
    """``_pretty``: true or false (absent: false). ValueError names what is expected."""
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise ValueError(f"_pretty '{_quote(value)}' is not valid; use true or false")
