"""Re-test of issue 10: pipelined requests, the 431 after them, and the memory they may take.

uvicorn parses every request of a read at once and queues them all: 256 KiB of pipelined GETs
made 9,039 queued requests (about 2.3 KB each) on one connection, and 20 such connections took a
`serve` process from 42 to 467 MB, never given back; the site then got every one of them, even
after the client had gone. nginx parses the next request only after answering the last one.
And a head refused behind requests still being answered got its 431 written first, as the answer
to the first request.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunningGateway
from tests.hostile.rawclient import connect, served
from tests.hostile.upstream_origin import Reply, Seen, keepalive, ok
from tests.support.servers import RawFactory

GET = b"GET /p HTTP/1.1\r\nHost: t\r\n\r\n"


def statuses(s: socket.socket, seconds: float) -> tuple[list[int], bool]:
    """Statuses of the responses read until the server closes or `seconds` pass; and whether it closed."""
    data = b""
    s.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            return [int(h[:3]) for h in data.split(b"HTTP/1.1 ")[1:]], True
        data += chunk
    return [int(h[:3]) for h in data.split(b"HTTP/1.1 ")[1:]], False


def test_pipelined_requests_are_bounded_per_connection(make_gateway: Callable[..., RunningGateway],
                                                       raw_server: RawFactory) -> None:
    seen = Seen()
    raw = raw_server(keepalive(lambda head: Reply(ok()), seen))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with connect(gw.server.port) as s:
        s.sendall(GET * 2000)
        got, closed = statuses(s, 20)
    assert closed, f"{len(got)} answers and still open"
    assert got and set(got) == {200}
    assert len(got) <= 64 and seen.count(b"GET /p") == len(got)


def test_a_refused_head_behind_pipelined_requests_is_not_their_answer(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    raw = raw_server(keepalive(lambda head: Reply(b"", later=ok(b"first"), delay=0.3)))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    too_large = b"GET /big HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n"
    with connect(gw.server.port) as s:
        s.sendall(GET + too_large)
        data = b""
        s.settimeout(10)
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert b"first" in data


def test_pipelining_floods_leave_memory_bounded(tmp_path: Path, raw_server: RawFactory) -> None:
    raw = raw_server(keepalive(lambda head: Reply(ok())))
    with served(tmp_path, f"http://127.0.0.1:{raw.port}") as gw:
        start = gw.rss()
        blob = GET * (262144 // len(GET))
        socks = []
        try:
            for _ in range(10):
                s = connect(gw.port)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads little of the answers
                s.sendall(blob)
                socks.append(s)
            time.sleep(3)
            peak = gw.rss()
        finally:
            for s in socks:
                s.close()
    assert peak - start < 80, f"RSS {start:.0f} -> {peak:.0f} MB"
