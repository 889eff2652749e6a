"""A response cache in front of the app, for the deterministic read operations.

Content is loaded once and never changes while the server runs, so a GET of
$lookup, $validate-code, $subsumes or $translate with the same query and the
same Accept headers always gets the same bytes back. This WSGI middleware
replays them without entering Flask (about 40 µs of a request's CPU), bounded
in entries and in body size. $expand is not cached: each expansion carries
its own identifier and timestamp. POST bodies (which may carry tx-resource)
are never cached.

A response is stored the second time its request is seen within a window
(a "doorkeeper"): with traffic spread over many codes, most requests come
once, and storing each of them cost CPU (capturing and joining the body,
evicting) and held memory for answers never replayed.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

CACHEABLE = re.compile(
    r"^/(?:fhir|r4|r5)/(?:CodeSystem|ValueSet|ConceptMap)(?:/[^/]+)?/"
    r"\$(?:lookup|validate-code|subsumes|translate)$"
)
STORED_STATUS = ("200 ", "404 ")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ResponseCache:
    """LRU of (status, headers, body) keyed by path, query and Accept headers.

    Bounded by entries, by body size and by the bytes of all bodies held.
    """

    def __init__(
        self,
        app: WSGIApp,
        max_entries: int = 1024,
        max_body: int = 64 * 1024,
        max_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.max_entries = max_entries
        self.max_body = max_body
        self.max_bytes = (
            max_bytes  # bodies held in all, so memory stays bounded whatever their size
        )
        self._bytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[str, ...], tuple[str, list[tuple[str, str]], bytes]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        # hashes of the keys seen once since the window was last emptied
        self._seen: set[int] = set()
        self.max_seen = 4 * max_entries

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            self.max_entries <= 0
            or environ.get("REQUEST_METHOD") != "GET"
            or not CACHEABLE.match(path)
        ):
            return self.app(environ, start_response)
        key = (
            path,
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_ACCEPT", ""),
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        )
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if hit is not None:
            start_response(hit[0], list(hit[1]))
            return [hit[2]]
        h = hash(key)
        with self._lock:
            self.misses += 1
            first = h not in self._seen
            if first:
                if len(self._seen) >= self.max_seen:
                    self._seen.clear()
                self._seen.add(h)
        if first:
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = seen.get("status", "")
        if status.startswith(STORED_STATUS) and len(body) <= self.max_body:
            with self._lock:
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= len(old[2])
                self._entries[key] = (status, list(seen["headers"]), body)
                self._bytes += len(body)
                while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                    self._bytes -= len(self._entries.popitem(last=False)[1][2])
        return [body]
