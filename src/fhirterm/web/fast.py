"""The fast path: GET operation requests answered without entering Flask.

Flask's request and response machinery (contexts, URL map, Request and
Response objects) costs more CPU per request than a $lookup itself (measured:
~80 µs for a fixed body through Flask against ~70 µs for a whole ICD-10-CM
$lookup; docs/benchmark.md). This WSGI middleware answers the common case
directly: a GET of an operation in ``endpoints.OPERATIONS`` whose Accept
header negotiates to plain JSON (``negotiation.choose``, memoised per header:
the HL7 Java client's ``application/fhir+json; fhirVersion=4.0`` is served
here too), without ``_format`` or ``_pretty``. It calls the same endpoint
functions, the same error mapping and the same negotiation as the Flask
views, so the answers are the same bytes and headers; everything else (POST,
HEAD, XML, refusals, reads, searches, metadata, unknown paths) goes to Flask
unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson

from ..errors import TerminologyError
from ..operations.limits import begin, end
from ..wire import params as wparams
from .endpoints import BASES, OPERATIONS, Call, State, prepare
from .errors import UNEXPECTED, VARY, error_body
from .negotiation import JSON, Choice, choose

log = logging.getLogger("fhirterm")

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
        if m is None or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        base, rt, id_, op = m.groups()
        r5 = BASES.get(base)
        found = OPERATIONS.get((rt, op))
        query = environ.get("QUERY_STRING", "")
        if r5 is None or found is None or "GET" not in found[1] or "_format" in query:
            return self.app(environ, start_response)
        choice = choose(environ.get("HTTP_ACCEPT", ""), r5)
        if not isinstance(choice, Choice) or choice.fmt != JSON or "_pretty" in query:
            return self.app(environ, start_response)
        budget = begin(self.state.settings)
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
        finally:
            end(budget)
        try:
            data = orjson.dumps(body)
        except TypeError:  # orjson.JSONEncodeError: a body we built wrong, never the client's fault
            log.exception("answer to GET %s cannot be written as JSON", environ.get("PATH_INFO"))
            status, data = 500, orjson.dumps(UNEXPECTED)
        start_response(
            _STATUS[status],
            [("Content-Type", choice.content_type), ("Content-Length", str(len(data))), VARY],
        )
        return [data]
