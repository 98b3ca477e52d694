"""A keep-alive origin on raw sockets that answers what a test says, and can write bytes nobody asked for.

`keepalive(respond)` makes a `raw_server` handler: every request head on the connection goes to
`respond(head)`, which returns the bytes to write now and, optionally, bytes to write `delay` seconds
later. Late bytes are written after the connection has been quiet for a moment and, with a `Gate`,
while no test client has a request under way: they land on a connection idle in the gateway's pool
(the case a proxy can detect; see README, Known limits).
Each connection lives at most `LIFETIME` seconds.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LIFETIME = 10.0
QUIET = 0.005
# What a desynchronised origin would hand the next visitor: a session cookie fixed by an attacker.
ATTACK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: csrftoken=attacker-fixed; Path=/\r\n"
          b"Content-Length: 8\r\n\r\nhijacked")


@dataclass
class Reply:
    now: bytes
    later: bytes = b""
    delay: float = 0.0
    close: bool = False  # close the connection after `now` (and `later`)


@dataclass
class Seen:
    """What the origin received, for tests that count requests."""

    heads: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    idle_write: threading.Event = field(default_factory=threading.Event)  # late bytes written, or we closed
    peer_closed: threading.Event = field(default_factory=threading.Event)  # the gateway closed a connection

    def add(self, head: bytes) -> None:
        with self.lock:
            self.heads.append(head)

    def count(self, start: bytes) -> int:
        with self.lock:
            return sum(1 for h in self.heads if h.startswith(start))


class Gate:
    """Holds the test's clients back while late bytes are written, so that they land on a
    connection idle in the gateway's pool and not on a request already under way (which no proxy
    can tell from its answer). Clients call `enter` before a request and `leave` after it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._busy = 0

    def enter(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._open, timeout=5)
            self._busy += 1

    def leave(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False

    def idle(self) -> bool:
        with self._cond:
            return not self._open and self._busy == 0

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


def keepalive(respond: Callable[[bytes], Reply], seen: Seen | None = None,
              gate: Gate | None = None) -> Callable[[socket.socket, bytes], None]:
    def handler(conn: socket.socket, first: bytes) -> None:
        buf = first
        later: list[tuple[float, bytes]] = []
        closing = False
        deadline = time.monotonic() + LIFETIME
        while time.monotonic() < deadline:
            while b"\r\n\r\n" in buf and not closing:
                head, _, buf = buf.partition(b"\r\n\r\n")
                if seen is not None:
                    seen.add(head)
                reply = respond(head)
                conn.sendall(reply.now)
                if reply.later:
                    later.append((time.monotonic() + reply.delay, reply.later))
                closing = reply.close
            if closing and not later:
                if seen is not None:
                    conn.shutdown(socket.SHUT_WR)
                    seen.idle_write.set()
                return
            now = time.monotonic()
            due = [x for x in later if x[0] <= now]
            if due and gate is not None:
                gate.close()  # no new requests; the ones under way are still answered
            wake = min((t for t, _ in later), default=deadline)
            # at least QUIET seconds without a request before late bytes: the gateway has put it back
            readable, _, _ = select.select([conn], [], [], max(QUIET, wake - now))
            if readable:
                data = conn.recv(65536)
                if not data:
                    if seen is not None:
                        seen.peer_closed.set()
                    return
                buf += data
                continue
            if due and (gate is None or gate.idle()):
                for item in due:
                    later.remove(item)
                    conn.sendall(item[1])
                if gate is not None:
                    gate.open()
                if seen is not None:
                    seen.idle_write.set()

    return handler


def path_of(head: bytes) -> bytes:
    return head.split(b" ", 2)[1]


def ok(body: bytes = b"poll-ok") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
