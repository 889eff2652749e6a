"""Which connections the stalled-body watchdog ends (web/stalls.py), on real loopback
sockets: the server sides are accepted in this process, the clients run in a child
process, so the server sides are the only connections the watchdog finds here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from fhirterm.web.stalls import Stalls, supported

pytestmark = pytest.mark.skipif(not supported(), reason="the watchdog needs Linux")

# The child: one connection that sends nothing, then (once told) two that send a
# request's headers and part of its body and stall, and one that does the same and
# then reads nothing of what the server sends it.
CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
idle = socket.create_connection(("127.0.0.1", port))
print("idle", flush=True)
sys.stdin.readline()
held = []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(head)
    held.append(s)
print("stalled", flush=True)
sys.stdin.readline()
"""
ENVIRON = {"SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}


def _ended(conn: socket.socket) -> bool:
    """Whether ``conn`` was shut down: it is no longer established (its FIN is sent)."""
    return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != 1


def test_the_watchdog_ends_only_stalled_connections() -> None:
    """Of an idle connection (silent since before the reads began), two stalled bodies
    and a stalled body whose connection has unsent answer data, only the stalled bodies
    are ended, one per overdue read, the longest silent first."""
    stalls = Stalls(1, b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n", b"")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    conns: list[socket.socket] = []
    try:
        assert child.stdout.readline() == "idle\n"
        idle, _ = listener.accept()
        conns.append(idle)
        time.sleep(2.5)  # the idle connection is silent 2.5 s longer than the reads wait
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "stalled\n"
        first, second, unread = (listener.accept()[0] for _ in range(3))
        conns += [first, second, unread]
        # three reads began now (as the intake registers them, without its watchdog thread)
        began = time.monotonic()
        overdue = [(began, "127.0.0.1", True)] * 3
        unread.setblocking(False)
        try:
            while True:  # an answer the client does not read: data left unsent
                unread.send(b"x" * 65536)
        except BlockingIOError:
            pass
        time.sleep(1.5)
        assert stalls.end_stalled(overdue[:1], time.monotonic()) == 1
        assert [_ended(c) for c in (idle, first, second, unread)] == [False, True, False, False]
        assert stalls.end_stalled(overdue, time.monotonic()) == 1  # second; not unread
        assert [_ended(c) for c in (idle, first, second, unread)] == [False, True, True, False]
    finally:
        child.kill()
        child.wait()
        for c in conns:
            c.close()
        listener.close()


def test_unwatched_requests() -> None:
    """HTTP/2 requests and a timeout of 0 are not watched."""
    assert Stalls(20, b"", b"").reading({**ENVIRON, "SERVER_PROTOCOL": "HTTP/2"}) is None
    assert Stalls(0, b"", b"").reading(ENVIRON) is None
