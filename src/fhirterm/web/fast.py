"""The fast path: GET operation requests answered without entering Flask.

Flask's request and response machinery (contexts, URL map, Request and
Response objects) costs more CPU per request than a $lookup itself (measured:
~80 µs for a fixed body through Flask against ~70 µs for a whole ICD-10-CM
$lookup; docs/benchmark.md). This WSGI middleware answers the common case
directly: a GET of an operation in ``endpoints.OPERATIONS``, with an Accept
header that needs no negotiation and no ``_format``. It calls the same
endpoint functions and the same error mapping as the Flask views, so the
answers are the same bytes; everything else (POST, HEAD, other Accept
headers, reads, searches, metadata, unknown paths) goes to Flask unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson

from ..errors import TerminologyError
from ..wire import params as wparams
from .endpoints import BASES, OPERATIONS, Call, State, prepare
from .errors import FHIR_JSON, UNEXPECTED, error_body

log = logging.getLogger("fhirterm")

# Accept headers that need no parsing: the common JSON-accepting ones (Flask's
# negotiation lets these through unchanged too).
PLAIN_ACCEPT = frozenset(
    {
        "",
        "*/*",
        "application/fhir+json",
        "application/json",
        "application/json+fhir",
        "application/fhir+json, */*",
        "application/json, */*",
    }
)

_PATH = re.compile(r"^/([a-z0-9]+)/(CodeSystem|ValueSet|ConceptMap)(?:/([^/]+))?/\$([a-z-]+)$")
_STATUS = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FastReads:
    """WSGI middleware in front of the Flask app: see the module docstring.

    ``state`` is the same State the Flask app holds (settings and registry).
    """

    def __init__(self, app: WSGIApp, state: State) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        m = _PATH.match(environ.get("PATH_INFO", ""))
        if (
            m is None
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT
        ):
            return self.app(environ, start_response)
        base, rt, id_, op = m.groups()
        r5 = BASES.get(base)
        found = OPERATIONS.get((rt, op))
        query = environ.get("QUERY_STRING", "")
        if r5 is None or found is None or "GET" not in found[1] or "_format" in query:
            return self.app(environ, start_response)
        try:
            p = wparams.from_query(wparams.parse_query(query))
            p, reg = prepare(p, self.state.content(r5), environ.get("PATH_INFO", ""))
            call = Call(p, reg, self.state.settings, id_, environ.get("HTTP_ACCEPT_LANGUAGE"), r5)
            status, body = 200, found[0](call)
        except TerminologyError as e:
            status, body = error_body(e)
        except Exception:
            log.exception("unhandled error on GET %s", environ.get("PATH_INFO"))
            status, body = 500, UNEXPECTED
        data = orjson.dumps(body)
        start_response(
            _STATUS[status], [("Content-Type", FHIR_JSON), ("Content-Length", str(len(data)))]
        )
        return [data]
