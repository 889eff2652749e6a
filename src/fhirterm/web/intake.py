"""Request intake: the body read before the app, then one request at a time in the app.

granian calls a WSGI app before the request body has come and hands it the
body as a blocking stream with no read timeout. ``Intake`` is the outermost
WSGI layer: a request with a body has it read in the request's own thread
before anything else, and given to the app from memory. A client that sends
its headers and then stalls holds that one thread until it sends the rest or
closes the connection, or until nothing of the body has come for
``body_timeout`` seconds: then ``web/stalls.py`` answers it 408 and closes
the connection, which ends the read. ``fhirterm serve`` runs 64 threads per
worker, so it takes many such clients to fill a worker, and they never hold
the app.

Then the request takes the app slot: one request at a time runs the app in a
process. The app is CPU-bound under one GIL, so two requests running at once
only share the GIL in 5 ms turns (a p99 of 12-30 ms at 10 connections against
3-9 ms with one thread, docs/benchmark.md). A request that has waited
``PATIENCE`` seconds for the slot runs anyway, beside the one holding it: a
slow request (a large expansion, a costly filter) then no longer holds back
the requests its worker has already accepted, which share the GIL with it
instead of waiting for its end. ``/healthz`` and ``/readyz`` never wait.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ..operations.contracts import Issue
from ..wire.render import operation_outcome
from .headers import NO_STORE, SECURITY
from .negotiation import FHIR_JSON
from .stalls import Stalls, http_head

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Seconds a request waits for the app slot before it runs beside the holder.
# Requests of the common kind take well under a millisecond, so a queue of a
# few dozen clears within it; only a slow request makes others wait this long.
PATIENCE = 0.05
NEVER_WAIT = frozenset({"/healthz", "/readyz"})


def _outcome(status: str, code: str, text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = orjson.dumps(operation_outcome([Issue("error", code, text, None, None)]))
    headers = [
        ("Content-Type", FHIR_JSON),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return status, headers, body


class Intake:
    """WSGI middleware: see the module docstring.

    ``max_body`` is the largest body read (a chunked body beyond it is
    answered 413 here; a declared Content-Length beyond it is left to the
    app, which answers 413 without reading). ``body_timeout``: seconds a
    body may stall (nothing of it arriving) before its connection is
    answered 408 and closed (``web/stalls.py``); 0 waits without end.
    """

    def __init__(self, app: WSGIApp, max_body: int, body_timeout: int = 0) -> None:
        self.app = app
        self.max_body = max_body
        self._slot = threading.Lock()
        status, headers, body = _outcome(
            "408 Request Timeout",
            "timeout",
            f"Nothing of the request body arrived for {body_timeout} s (FHIRTERM_BODY_TIMEOUT), "
            "so the connection is closed: send the whole body without pausing",
        )
        self.stalls = Stalls(body_timeout, http_head(status, [*headers, *SECURITY, NO_STORE]), body)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if (length and length != "0") or chunked:
            early = self._read_body(environ, length, chunked)
            if early is not None:
                status, headers, body = early
                start_response(status, headers)
                return [body]
        if environ.get("PATH_INFO") in NEVER_WAIT:
            return self.app(environ, start_response)
        held = self._slot.acquire(timeout=PATIENCE)
        try:
            return self.app(environ, start_response)
        finally:
            if held:
                self._slot.release()

    def _read_body(
        self, environ: dict[str, Any], length: str | None, chunked: bool
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """Read the body into ``wsgi.input``; an answer to send instead, or None."""
        declared: int | None = None
        if not chunked and length is not None:
            try:
                declared = int(length)
            except ValueError:
                return None  # the app answers a malformed Content-Length
            if declared > self.max_body or declared < 0:
                return None  # the app answers 413 without reading
        stream = environ["wsgi.input"]
        # A declared length is framed by the server; a chunked body is read to
        # one byte past the limit, to tell "at the limit" from "over it".
        size = declared if declared is not None else self.max_body + 1
        watched = self.stalls.reading(environ)
        try:
            data: bytes = stream.read(size)
        finally:
            self.stalls.done(watched)
        if declared is not None and len(data) < declared:
            return _outcome(
                "400 Bad Request",
                "incomplete",
                f"The request body ended after {len(data)} of the {declared} bytes its "
                "Content-Length announced",
            )
        if len(data) > self.max_body:
            return _outcome(
                "413 Content Too Large",
                "too-long",
                f"The request body is larger than the server accepts ({self.max_body} bytes, "
                "FHIRTERM_MAX_BODY)",
            )
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None
