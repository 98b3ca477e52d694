"""Finding 2: request heads are bounded in time and size; idle and non-reading clients are dropped."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway
from tests.hostile.rawclient import connect, read_until_close, send_steadily, served, status_of
from tests.support.servers import RawFactory, RawServer


def counting_origin(raw_server: RawFactory) -> RawServer:
    return raw_server(lambda conn, head: conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))


def refused(port: int, request: bytes) -> int | None:
    with connect(port) as s:
        send_steadily(s, request, seconds=5)
        return status_of(read_until_close(s))


def test_an_unfinished_head_gets_408_and_a_silent_socket_is_closed(
        make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway="header_timeout = 1")
    with connect(gw.server.port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nhost: x\r\nx-half: ")
        assert status_of(read_until_close(s)) == 408
    with connect(gw.server.port) as s:  # connected, sends nothing
        assert read_until_close(s) == b""


def test_a_slow_drip_does_not_keep_the_head_open(make_gateway: Callable[..., RunningGateway]) -> None:
    """One byte every 0.2 s: each byte is progress, but the head as a whole has header_timeout."""
    gw = make_gateway(gateway="header_timeout = 1")
    with connect(gw.server.port) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nhost: x\r\nx-drip: ")
        for _ in range(100):  # at most 20 s
            if select.select([s], [], [], 0.2)[0]:
                break
            s.sendall(b"a")
        assert status_of(read_until_close(s)) == 408


def test_oversized_heads_get_431_and_never_reach_the_origin(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    origin = counting_origin(raw_server)
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    port = gw.server.port
    long_line = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    many = b"GET / HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(10_000)) + b"\r\n"
    long_url = b"GET /" + b"u" * 100_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
    endless = b"GET / HTTP/1.1\r\nhost: x\r\nx-endless: " + b"e" * (4 << 20)  # never ends
    for request in (long_line, many, long_url, endless):
        assert refused(port, request) == 431
    assert origin.connections == 0


def test_heads_at_the_limits_pass(make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    origin = counting_origin(raw_server)
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    port = gw.server.port
    hundred = b"GET / HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(99)) + b"\r\n"
    big = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"b" * 60_000 + b"\r\n\r\n"
    for request in (hundred, big):
        with connect(port) as s:
            s.sendall(request)
            assert status_of(s.recv(65536)) == 200
    one_more = hundred.replace(b"host: x\r\n", b"host: x\r\nx-extra: 1\r\n")
    assert refused(port, one_more) == 431
    assert origin.connections == 2


def test_a_body_that_stops_gets_408_and_a_slow_one_passes(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway="body_timeout = 1")
    with connect(gw.server.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n" + b"u" * 10)
        assert status_of(read_until_close(s)) == 408
    with connect(gw.server.port) as s:  # a pause shorter than body_timeout each time: fine
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\n")
        for _ in range(4):
            time.sleep(0.5)
            s.sendall(b"u" * 10)
        status, _, body = s.recv(65536).partition(b"\r\n\r\n")
        assert status_of(status) == 200 and b'"received":40' in body


def test_an_idle_keep_alive_connection_is_closed(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway="keepalive_timeout = 1")
    with connect(gw.server.port, timeout=4) as s:  # uvicorn's own default would be 5 s
        s.sendall(b"GET /_consent HTTP/1.1\r\nhost: x\r\n\r\n")
        first = s.recv(65536)
        assert status_of(first) == 200
        assert read_until_close(s) == b""


def test_a_client_that_stops_reading_is_dropped(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway="send_timeout = 1")
    n = 256 << 20
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    with s:
        s.connect(("127.0.0.1", gw.server.port))
        s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nhost: x\r\n\r\n" % n)
        time.sleep(3)  # reads nothing for three send_timeouts
        got = len(read_until_close(s, limit=n + 65536))
    assert got < n // 4, f"the gateway kept the response for a client that read nothing ({got} bytes later)"


def test_serve_applies_the_limits_and_a_never_ending_line_keeps_memory_flat(
        tmp_path: Path, site: UvicornThread) -> None:
    """Through `consent-gateway serve`: four sockets each push a header line that never ends."""
    with served(tmp_path, site.url, gateway="header_timeout = 2\nkeepalive_timeout = 1") as gw:
        for _ in range(20):
            httpx.get(gw.url + "/page")
        baseline = gw.rss()
        peak = baseline
        statuses: list[int | None] = []

        def push() -> None:
            with connect(gw.port) as s:
                send_steadily(s, b"GET / HTTP/1.1\r\nhost: x\r\nx-endless: " + b"e" * (64 << 20), seconds=8)
                statuses.append(status_of(read_until_close(s)))

        threads = [threading.Thread(target=push) for _ in range(4)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, gw.rss())
            time.sleep(0.05)
        print(f"gateway RSS {baseline:.0f} -> peak {peak:.0f} MB, 4 endless header lines")
        assert statuses == [431] * 4
        assert peak - baseline < 40, f"RSS grew from {baseline:.0f} MB to {peak:.0f} MB"
        with connect(gw.port) as s:  # header_timeout from the file, through the real serve path
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n")
            assert status_of(read_until_close(s)) == 408
        with connect(gw.port, timeout=4) as s:  # keepalive_timeout from the file
            s.sendall(b"GET /_consent HTTP/1.1\r\nhost: x\r\n\r\n")
            assert status_of(s.recv(65536)) == 200
            assert read_until_close(s) == b""


def test_a_flood_of_idle_sockets_does_not_lock_visitors_out(tmp_path: Path, site: UvicornThread) -> None:
    """300 sockets that never send a byte, against a process allowed 256 descriptors: once
    header_timeout has closed them, a visitor gets through again."""
    with served(tmp_path, site.url, gateway="header_timeout = 2", nofile=256) as gw:
        idle = [connect(gw.port) for _ in range(300)]
        try:
            answered = None
            for _ in range(30):  # at most ~75 s
                try:
                    answered = httpx.get(gw.url + "/_consent", timeout=2).status_code
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert answered == 200
        finally:
            for s in idle:
                s.close()
