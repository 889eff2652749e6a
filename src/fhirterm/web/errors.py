"""The one error path: every failure becomes an OperationOutcome with the right status."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from ..errors import (
    CodeNotFound,
    InvalidRequest,
    NotFound,
    NotSupported,
    TerminologyError,
    TooCostly,
)
from ..operations.types import Issue
from ..wire.render import operation_outcome

FHIR_JSON = "application/fhir+json"
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


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype=FHIR_JSON)


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
    from flask import request

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
