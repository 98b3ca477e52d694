"""Finding 9 (WebSockets) and the handshake under finding 2: limits, headers, memory, logs."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway
from tests.hostile.rawclient import ServedGateway, read_until_close, send_steadily, served, status_of
from tests.hostile.rawclient import connect as tcp
from tests.support.servers import RawFactory


def handshake(host: bytes = b"x", extra: bytes = b"", connection: bytes = b"Upgrade") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET /ws?token=sekrit HTTP/1.1\r\nhost: " + host + b"\r\nupgrade: websocket\r\nconnection: "
            + connection + b"\r\nsec-websocket-key: " + key + b"\r\nsec-websocket-version: 13\r\n" + extra + b"\r\n")


@pytest.fixture(scope="module")
def served_gateway(tmp_path_factory: pytest.TempPathFactory, site: UvicornThread) -> Iterator[ServedGateway]:
    with served(tmp_path_factory.mktemp("ws"), site.url) as gw:
        yield gw


@pytest.mark.parametrize("extra", [
    b"".join(b"x-h%d: 1\r\n" % i for i in range(200)),
    b"x-big: " + b"b" * 70_000 + b"\r\n",
])
def test_oversized_handshakes_get_431(make_gateway: Callable[..., RunningGateway], raw_server: RawFactory,
                                      extra: bytes) -> None:
    origin = raw_server(lambda conn, _: None)
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    with tcp(gw.server.port) as s:
        send_steadily(s, handshake(extra=extra), seconds=5)
        assert status_of(read_until_close(s)) == 431
    assert origin.connections == 0


def test_a_handshake_with_two_hosts_gets_400(gateway: RunningGateway) -> None:
    with tcp(gateway.server.port) as s:
        s.sendall(handshake(host=b"a.example\r\nhost: b.example"))
        assert status_of(read_until_close(s)) == 400


@pytest.mark.parametrize("preserve_host", [True, False])
def test_the_handshake_drops_hop_by_hop_and_spoofable_headers_and_honours_preserve_host(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory, preserve_host: bool) -> None:
    heads: list[bytes] = []
    origin = raw_server(lambda conn, head: heads.append(head))  # no 101: the gateway answers 502
    gw = make_gateway(f"http://127.0.0.1:{origin.port}", gateway=f"preserve_host = {str(preserve_host).lower()}")
    extra = (b"proxy-authorization: Basic c2VjcmV0\r\nkeep-alive: timeout=300\r\nte: trailers\r\n"
             b"x-real-ip: 6.6.6.6\r\nx-named: 1\r\nx-kept: 2\r\n")
    with tcp(gw.server.port) as s:
        s.sendall(handshake(host=b"public.example", extra=extra, connection=b"Upgrade, X-Named"))
        assert status_of(read_until_close(s)) == 502
    assert len(heads) == 1
    lines = heads[0].decode("latin-1").lower().split("\r\n")
    names = {line.split(":", 1)[0] for line in lines[1:] if line}
    assert not names & {"proxy-authorization", "keep-alive", "te", "x-real-ip", "x-named"}
    assert "x-kept" in names
    host = next(line.split(":", 1)[1].strip() for line in lines[1:] if line.startswith("host:"))
    assert host == ("public.example" if preserve_host else f"127.0.0.1:{origin.port}")


async def _recv_until_closed(ws: ClientConnection) -> int | None:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        return ws.close_code


def test_a_message_over_the_cap_closes_with_1009(gateway: RunningGateway) -> None:
    async def run() -> int | None:
        url = gateway.url.replace("http://", "ws://") + "/ws"
        async with connect(url, proxy=None, max_size=None) as ws:
            await ws.recv()  # the site's hello
            await ws.send("a" * 1000)
            assert await ws.recv() == "a" * 1000  # under the cap: relayed
            await ws.send("b" * (2 << 20))
            return await asyncio.wait_for(_recv_until_closed(ws), 10)

    assert asyncio.run(run()) == 1009


def _flood(url: str, size: int, seconds: float) -> None:
    """Four clients send `size`-byte messages for `seconds` and never read what comes back."""
    async def one() -> None:
        try:
            async with connect(url, proxy=None, max_size=None, open_timeout=10) as ws:
                async with asyncio.timeout(seconds):
                    while True:
                        await ws.send("m" * size)
        except (TimeoutError, ConnectionClosed, OSError):
            pass

    async def all_four() -> None:
        await asyncio.gather(*(one() for _ in range(4)))

    asyncio.run(all_four())


@pytest.mark.parametrize("size", [16 << 20, 900 << 10])
def test_websocket_floods_keep_memory_bounded(served_gateway: ServedGateway, size: int) -> None:
    """16 MB messages are refused at the cap; 900 KB ones are relayed with back-pressure."""
    gw = served_gateway
    baseline = gw.rss()
    peak = baseline
    flood = threading.Thread(target=_flood, args=(gw.url.replace("http://", "ws://") + "/ws", size, 6))
    flood.start()
    while flood.is_alive():
        peak = max(peak, gw.rss())
        flood.join(0.05)
    print(f"gateway RSS {baseline:.0f} -> peak {peak:.0f} MB, 4 clients x {size >> 10} KiB messages, 6 s")
    assert peak - baseline < 80, f"RSS grew from {baseline:.0f} MB to {peak:.0f} MB"


def test_no_access_line_with_client_address_or_query(served_gateway: ServedGateway) -> None:
    gw = served_gateway

    async def run() -> None:
        async with connect(gw.url.replace("http://", "ws://") + "/ws?token=sekrit", proxy=None) as ws:
            await ws.recv()

    asyncio.run(run())
    with tcp(gw.port) as s:  # a refused handshake logs nothing of the client either
        s.sendall(handshake(extra=b"x-big: " + b"b" * 70_000 + b"\r\n"))
        read_until_close(s)
    log = Path(gw.log).read_text()
    assert "sekrit" not in log and "127.0.0.1:" not in log.replace(f"127.0.0.1:{gw.port}", "")


def test_a_redirect_from_the_site_is_not_followed_elsewhere(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    elsewhere = raw_server(lambda conn, _: None)
    location = f"http://127.0.0.1:{elsewhere.port}/ws".encode()
    origin = raw_server(lambda conn, _: conn.sendall(
        b"HTTP/1.1 302 Found\r\nlocation: " + location + b"\r\ncontent-length: 0\r\n\r\n"))
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    with tcp(gw.server.port) as s:
        s.sendall(handshake())
        assert status_of(read_until_close(s)) == 502
    assert elsewhere.connections == 0
