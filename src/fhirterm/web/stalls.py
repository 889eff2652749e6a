"""Stalled request bodies: answered 408 and their connections closed.

granian (2.8) hands a WSGI app its request body as a stream that blocks in
the server with no timeout, and gives the app no handle on the connection;
the intake (``web/intake.py``) reads the body in the request's own thread.
A thread blocked in that read cannot be woken from Python, and the request
cannot be answered from another thread while it is blocked: once the app
returns, granian takes the body's lock while holding the GIL, the blocked
read holds that lock, and the whole worker stops (granian 2.8.9,
``src/wsgi/callbacks.rs``: ``body_stream.blocking_lock()`` after the call).

So the body timeout is enforced at the socket, the one thing that ends the
read. The intake registers each body read it starts (``Stalls.reading``). A
watchdog thread in each worker process, while some read has waited longer
than the timeout, looks through the process's sockets (``/proc/self/fd``)
for the stalled connections and ends them: it writes a 408 OperationOutcome
with ``Connection: close`` on the connection and shuts the socket down. The
blocked read then ends (granian sees the end of the connection), the thread
goes back to the pool, and granian closes the socket itself. The watchdog
works on a duplicate of each descriptor, so it never closes one granian
owns, and a descriptor reused meanwhile for another connection is never
touched (the duplicate holds the socket it was checked on).

A connection is taken for a stalled body when all of these hold:

- it is an established TCP connection from the address of a read that has
  waited for the timeout or longer;
- nothing has arrived on it for the timeout or longer, and not for longer
  than the oldest such read from that address has waited (plus a second):
  a connection silent since before the read began is another client's;
- the server has nothing unsent or unacknowledged on it (it is not being
  answered).

At most as many connections per address as that address has overdue reads
are ended, the longest silent first. A body that keeps coming, however
slowly, is not stalled (as nginx's ``client_body_timeout``: the time
between two reads). The 408 is written on plain HTTP/1 connections only; a
TLS connection is shut down without it. HTTP/2 requests are not watched
(their connection carries other requests), and elsewhere than Linux (no
``/proc/self/fd`` or ``TCP_INFO``) nothing is: a stalled body waits there
as it did before.

The cost on requests: a body read adds one entry to a dict and removes it
(~1.5 µs); requests without a body (the GET fast path) pay nothing. The
watchdog sleeps until the first body read of its process, wakes once a
second while reads are under way, and looks through the sockets when a
read becomes overdue (~25 ms of CPU for 2,000 connections), and again for
the same reads only once per timeout.
"""

from __future__ import annotations

import fcntl
import ipaddress
import itertools
import logging
import os
import socket
import struct
import sys
import termios
import threading
import time
from email.utils import formatdate
from typing import Any

log = logging.getLogger("fhirterm")

_ESTABLISHED = 1  # tcpi_state of an established connection (linux/tcp_states.h)
_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (ms, u32) in struct tcp_info (linux/tcp.h)
_TCP_INFO_SIZE = 104  # bytes of struct tcp_info asked for: the fields read and more
# A read begins when granian calls the app, just after the request's headers (and
# what came with them) arrived; a connection silent for longer than the read has
# waited plus this is not the read's.
_SLACK = 1.0


def supported() -> bool:
    """Whether this platform lets the watchdog find a stalled connection (Linux)."""
    return (
        sys.platform == "linux" and hasattr(socket, "TCP_INFO") and os.path.isdir("/proc/self/fd")
    )


def _address(ip: str) -> str:
    """A peer address as both sides of a match write it (an IPv4-mapped IPv6 as IPv4)."""
    try:
        a = ipaddress.ip_address(ip.partition("%")[0])
    except ValueError:
        return ip
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return str(a)


# One body read: time.monotonic() when it began, the client's address (REMOTE_ADDR), and
# whether the connection is plain HTTP/1 (a 408 may be written on it). A tuple: this is
# built on every request with a body.
_Read = tuple[float, str, bool]
_HTTP1 = frozenset({"HTTP/1", "HTTP/1.0", "HTTP/1.1"})  # SERVER_PROTOCOL as servers write it
# Bumped in a child process after a fork: a watchdog thread of the parent is not there.
_generation = [0]
os.register_at_fork(after_in_child=lambda: _generation.__setitem__(0, _generation[0] + 1))


def http_head(status: str, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP/1.1 response's status line and headers, but for the Date header and the
    blank line that ends them (written when it is sent)."""
    return "".join([f"HTTP/1.1 {status}\r\n", *(f"{k}: {v}\r\n" for k, v in headers)]).encode(
        "latin-1"
    )


class Stalls:
    """The body reads of one process and their watchdog: see the module docstring.

    ``timeout`` in seconds (0: nothing is watched); ``head`` (``http_head``) and
    ``body`` the 408 response written on a stalled connection.
    """

    def __init__(self, timeout: float, head: bytes, body: bytes) -> None:
        self.timeout = timeout
        self.enabled = timeout > 0 and supported()
        self._head = head
        self._body = body
        self._reads: dict[int, _Read] = {}
        self._ids = itertools.count()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._generation = -1  # the _generation whose watchdog runs (none yet)

    def reading(self, environ: dict[str, Any]) -> int | None:
        """Register a body read about to begin: the key for ``done``, or None if unwatched."""
        if not self.enabled or environ.get("SERVER_PROTOCOL") not in _HTTP1:
            return None
        if self._generation != _generation[0]:
            self._start()
        key = next(self._ids)  # itertools.count: atomic under the GIL
        self._reads[key] = (
            time.monotonic(),
            environ.get("REMOTE_ADDR", ""),
            environ.get("wsgi.url_scheme") == "http",
        )
        if not self._wake.is_set():
            self._wake.set()
        return key

    def done(self, key: int | None) -> None:
        """The read registered under ``key`` has ended (whole, short or cut off)."""
        if key is not None:
            self._reads.pop(key, None)

    def _start(self) -> None:
        with self._start_lock:
            if self._generation == _generation[0]:
                return
            self._generation = _generation[0]
            threading.Thread(target=self._watch, name="fhirterm-stalls", daemon=True).start()

    def _watch(self) -> None:
        tick = min(1.0, self.timeout / 4)
        looked_for: set[int] = set()  # the overdue reads the last look was for
        last_look = 0.0
        while True:
            self._wake.wait()
            time.sleep(tick)
            reads = self._reads.copy()  # one C call: no other thread changes it meanwhile
            if not reads:
                self._wake.clear()
                if self._reads:  # one began between the copy and the clear
                    self._wake.set()
                continue
            now = time.monotonic()
            overdue = {k: r for k, r in reads.items() if now - r[0] >= self.timeout}
            # A read whose connection was not found (its body still trickles in) is
            # looked for again once per timeout, not every tick: a look at 2,000
            # connections costs ~25 ms of CPU.
            if not overdue or (overdue.keys() <= looked_for and now - last_look < self.timeout):
                continue
            looked_for, last_look = set(overdue), now
            try:
                ended = self.end_stalled(list(overdue.values()), now)
            except Exception:  # the watchdog must outlive any surprise of the platform
                log.exception("looking for stalled request bodies failed")
                continue
            if ended:
                log.warning(
                    "%d connection(s) closed with a 408: the request body stalled for %g s "
                    "(FHIRTERM_BODY_TIMEOUT)",
                    ended,
                    self.timeout,
                )

    def end_stalled(self, overdue: list[_Read], now: float) -> int:
        """End the connections of the ``overdue`` reads; how many were ended."""
        by_address: dict[str, list[_Read]] = {}
        for r in overdue:
            by_address.setdefault(_address(r[1]), []).append(r)
        found: dict[str, list[tuple[int, socket.socket]]] = {}
        try:
            for name in os.listdir("/proc/self/fd"):
                s = self._candidate(name, by_address, now)
                if s is not None:
                    found.setdefault(s[0], []).append((s[1], s[2]))
            ended = 0
            for address, conns in found.items():
                conns.sort(key=lambda c: c[0], reverse=True)  # the longest silent first
                reads = by_address[address]
                plain = all(r[2] for r in reads)
                for _, conn in conns[: len(reads)]:
                    ended += self._end(conn, plain)
            return ended
        finally:
            for conns in found.values():
                for _, conn in conns:
                    conn.close()  # the duplicate only

    def _candidate(
        self, name: str, by_address: dict[str, list[_Read]], now: float
    ) -> tuple[str, int, socket.socket] | None:
        """The connection on descriptor ``name`` (a duplicate of it) if it may be a
        stalled body's: its address, how long it has been silent (ms), the socket."""
        try:
            fd = os.dup(int(name))
        except (ValueError, OSError):
            return None
        try:
            conn = socket.socket(fileno=fd)
        except OSError:  # not a socket
            os.close(fd)
            return None
        try:
            if conn.type != socket.SOCK_STREAM or conn.family not in (
                socket.AF_INET,
                socket.AF_INET6,
            ):
                raise LookupError
            info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
            if info[0] != _ESTABLISHED:
                raise LookupError
            silent: int = struct.unpack_from("=I", info, _LAST_DATA_RECV)[0]
            if silent < self.timeout * 1000:
                raise LookupError
            address = _address(conn.getpeername()[0])
            reads = by_address.get(address)
            if reads is None or silent > (max(now - r[0] for r in reads) + _SLACK) * 1000:
                raise LookupError
            unsent = struct.unpack("=i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0" * 4))
            if unsent[0]:
                raise LookupError
        except (LookupError, OSError):
            conn.close()
            return None
        return address, silent, conn

    def _end(self, conn: socket.socket, plain: bool) -> int:
        """Answer 408 on ``conn`` (plain HTTP/1 only) and shut it down; 1 if it was."""
        try:
            if plain:
                date = f"Date: {formatdate(usegmt=True)}\r\n\r\n".encode("latin-1")
                conn.send(self._head + date + self._body, socket.MSG_DONTWAIT)
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client left meanwhile
            return 0
        return 1
