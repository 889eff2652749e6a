"""CORS and security headers on every response, and the answer to OPTIONS.

One WSGI middleware at the outside of the stack (``app.create_wsgi``), so
every path gets the same headers: the response cache's replays, the fast
path, Flask's views and its errors. It appends prepared header tuples to the
application's own, about a microsecond a request.

CORS (Fetch standard): browser apps (SMART on FHIR apps among them) may call
the server from the origins in ``Settings.cors_origins``: ``*`` (the
default) allows every origin; a list allows those origins, echoed one at a
time with ``Vary: Origin``; none turns CORS off. No credentials mode: the
server sets no cookies, and a bearer token in ``Authorization`` needs none.

OPTIONS is answered here, for any path: 204 with ``Allow``, and for a CORS
preflight (``Origin`` and ``Access-Control-Request-Method``) from an allowed
origin the methods, the headers asked for and how long the browser may keep
the answer.

Security headers, for a JSON API that is never meant to be rendered as a
page: ``X-Content-Type-Options: nosniff`` (no type sniffing of an answer),
``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` and
``X-Frame-Options: DENY`` (nothing loads or frames from an answer),
``Referrer-Policy: no-referrer``. The human-readable pages (``PAGES``) get a
policy that lets them load their own stylesheet, script and icon (and the
script ask the same origin for results), and nothing from another host. Errors (4xx, 5xx) carry
``Cache-Control: no-store``: an error says nothing lasting about the
resource. Successful answers carry no cache header: the content is stable
while the server runs but changes with a deployment, which a proxy in front
knows better.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"
# Headers a browser may read from an answer beyond the CORS-safelisted ones
EXPOSED = "Location, Content-Location, ETag, Last-Modified, Vary"
# Headers a preflight allows when the browser names none
DEFAULT_ALLOWED_HEADERS = "Accept, Accept-Language, Authorization, Content-Type, Prefer"
MAX_AGE = "7200"  # seconds a browser may keep a preflight (Chromium's ceiling)
SECURITY = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
# The human-readable pages (web/pages, under PAGES) load their own stylesheet, script and
# icon, and their script asks the same origin for search results: nothing else, and
# nothing from another host.
PAGES = "/browse"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_SECURITY = tuple(
    (k, PAGE_CSP) if k == "Content-Security-Policy" else (k, v) for k, v in SECURITY
)
NO_STORE = ("Cache-Control", "no-store")
# Access-Control-Request-Headers as a browser sends it: header names separated by commas
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


class ResponseHeaders:
    """WSGI middleware: see the module docstring.

    ``origins``: ``("*",)`` for any origin, a tuple of origins
    (``https://app.example.org``), or empty for no CORS.
    """

    def __init__(self, app: WSGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o for o in origins if o != "*")
        cors: list[tuple[str, str]] = []
        if self.any_origin:
            cors = [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", EXPOSED),
            ]
        # what every response gets when the origin needs no look-up
        self.fixed = [*SECURITY, *cors]
        self.fixed_error = [*self.fixed, NO_STORE]
        self.page = [*PAGE_SECURITY, *cors]
        self.page_error = [*self.page, NO_STORE]

    def _allowed(self, environ: dict[str, Any]) -> str | None:
        """The Access-Control-Allow-Origin value for this request, or None."""
        if self.any_origin:
            return "*"
        origin = environ.get("HTTP_ORIGIN")
        return origin if origin in self.origins else None

    def _extra(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """Per-request CORS headers when origins are listed (none with ``*``)."""
        if self.any_origin or not self.origins:
            return []
        origin = self._allowed(environ)
        out = [("Vary", "Origin")]
        if origin is not None:
            out += [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Expose-Headers", EXPOSED),
            ]
        return out

    def options(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = [("Allow", ALLOWED_METHODS), ("Content-Length", "0"), *SECURITY]
        if not self.any_origin and self.origins:
            headers.append(("Vary", "Origin"))
        origin = self._allowed(environ)
        if origin is not None and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").strip()
            # the headers the browser names, if they are a list of header names
            allowed = asked if asked and len(asked) <= 1024 and _HEADER_LIST.match(asked) else ""
            headers += [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Methods", ALLOWED_METHODS),
                ("Access-Control-Allow-Headers", allowed or DEFAULT_ALLOWED_HEADERS),
                ("Access-Control-Max-Age", MAX_AGE),
            ]
            if not self.any_origin:
                headers.append(
                    ("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
                )
        start_response("204 No Content", headers)
        return []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return self.options(environ, start_response)
        if environ.get("PATH_INFO", "").startswith(PAGES):
            fixed, fixed_error = self.page, self.page_error
        else:
            fixed, fixed_error = self.fixed, self.fixed_error
        extra = self._extra(environ) if self.origins else None

        def with_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = headers + (fixed if status[0] in "123" else fixed_error)
            if extra:
                headers += extra
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        return self.app(environ, with_headers)
