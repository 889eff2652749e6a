"""The one error path: every failure becomes an OperationOutcome with the right status."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, has_request_context, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    CodeNotFound,
    InvalidRequest,
    NotFound,
    NotSupported,
    TerminologyError,
    TooCostly,
)
from ..operations.contracts import Issue
from ..wire import xml as wxml
from ..wire.render import operation_outcome
from .endpoints import BASES
from .negotiation import DEFAULT, JSON, Choice, choose, from_format

# the WSGI environ key under which the blueprint's negotiation leaves its Choice
CHOICE = "fhirterm.choice"
# every FHIR body depends on the Accept header (and _format, which is in the URL)
VARY = ("Vary", "Accept")
log = logging.getLogger("fhirterm")

STATUS: dict[type[TerminologyError], int] = {
    InvalidRequest: 400,
    CodeNotFound: 404,
    NotFound: 404,
    NotSupported: 400,
    TooCostly: 422,
}

# Werkzeug status -> FHIR issue type
_HTTP_ISSUE = {
    400: "invalid",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-long",
    415: "not-supported",
}

_HTTP_TEXT = {
    404: "No such endpoint: {path}. The FHIR base serves /metadata, /CodeSystem, "
    "/CodeSystem/$lookup and /CodeSystem/$validate-code",
    405: "Method {method} is not allowed on {path}",
    413: "The request body is larger than the server accepts ({limit} bytes)",
}


def chosen() -> Choice:
    """The format negotiated for the current request.

    The blueprint's negotiation leaves it in the environ. A request that never
    reached it (an unknown route or method under a FHIR base) is negotiated
    here, so its OperationOutcome comes in the format asked for; anything
    else, and anything not acceptable, gets JSON.
    """
    if not has_request_context():
        return DEFAULT
    env = request.environ
    c: Choice | None = env.get(CHOICE)
    if c is not None:
        return c
    parts = env.get("PATH_INFO", "").split("/", 2)
    r5 = BASES.get(parts[1]) if len(parts) > 1 else None
    if r5 is None:
        return DEFAULT
    fmt = request.args.get("_format")
    got = choose(env.get("HTTP_ACCEPT", ""), r5) if fmt is None else from_format(fmt, r5)
    return got if isinstance(got, Choice) else DEFAULT


def serialise(body: dict[str, Any], choice: Choice) -> bytes:
    """``body`` in the negotiated format (the fast path writes plain JSON the same way).

    XmlShapeError when an XML answer is not valid for the release's model.
    """
    if choice.fmt == JSON:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 if choice.pretty else 0)
    return wxml.dumps(body, choice.r5, choice.pretty)


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    """A FHIR response in the negotiated format, with its Content-Type and ``Vary: Accept``.

    An answer that cannot be written as XML (not valid for the release's
    model: a server fault) is logged and answered with a 500 OperationOutcome
    saying what failed and that JSON is served.
    """
    choice = chosen()
    try:
        data = serialise(body, choice)
    except wxml.XmlShapeError as e:
        log.error(
            "%s %s: the answer (%s) cannot be written as XML: %s",
            request.method,
            request.path,
            status,
            e,
        )
        status = 500
        data = serialise(
            operation_outcome(
                [
                    Issue(
                        "error",
                        "exception",
                        f"The answer could not be written as FHIR XML ({e}); "
                        "it is served as JSON (_format=json)",
                        None,
                        None,
                    )
                ]
            ),
            choice,
        )
    resp = Response(data, status=status, content_type=choice.content_type)
    resp.headers["Vary"] = VARY[1]
    return resp


def outcome(
    status: int,
    severity: str,
    code: str,
    text: str,
    expression: str | None = None,
    tx_code: str | None = None,
) -> Response:
    return fhir_response(
        operation_outcome([Issue(severity, code, text, tx_code, expression)]), status
    )


def error_body(e: TerminologyError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OperationOutcome for a terminology error (both paths use it)."""
    status = next((s for cls, s in STATUS.items() if isinstance(e, cls)), 400)
    issue = Issue("error", e.issue_type, e.message, e.tx_code, e.expression)
    return status, operation_outcome([issue])


UNEXPECTED = operation_outcome(
    [
        Issue(
            "fatal",
            "exception",
            "The server failed to process this request; the error has been logged",
            None,
            None,
        )
    ]
)


def register(app: Flask) -> None:
    """Install the handlers on ``app`` (not on a blueprint, so unknown routes are covered)."""

    @app.errorhandler(TerminologyError)
    def _terminology(e: TerminologyError) -> Response:
        status, body = error_body(e)
        return fhir_response(body, status)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        code = e.code or 500
        template = _HTTP_TEXT.get(code)
        text = (
            template.format(
                path=request.path, method=request.method, limit=app.config.get("MAX_CONTENT_LENGTH")
            )
            if template
            else (e.description or e.name)
        )
        resp = outcome(code, "error", _HTTP_ISSUE.get(code, "processing"), text)
        if code == 405 and hasattr(e, "valid_methods") and e.valid_methods:
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return fhir_response(UNEXPECTED, 500)
