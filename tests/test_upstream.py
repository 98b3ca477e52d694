"""The upstream pool on its own, against real servers on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from gateway.config import Upstream
from gateway.errors import UpstreamBodyError, UpstreamUnavailable
from gateway.upstream import UpstreamPool
from tests.support.servers import RawFactory, UvicornThread


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: test\r\n\r\n".encode()


async def fetch(pool: UpstreamPool, head: bytes, method: bytes = b"GET",
                body: AsyncIterator[bytes] | None = None, chunked: bool = False) -> tuple[int, bytes]:
    r = await pool.request(method, head, body, chunked)
    return r.status, b"".join([c async for c in r.iter_body()])


def test_keep_alive_reuses_one_connection(site: UvicornThread) -> None:
    async def run() -> int:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", site.port))
        for _ in range(20):
            status, body = await fetch(pool, get("/echo"))
            assert status == 200 and body.startswith(b"{")
        idle = len(pool._idle)
        await pool.close()
        return idle

    assert asyncio.run(run()) == 1


def test_head_then_get_on_the_same_pool(site: UvicornThread) -> None:
    async def run() -> None:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", site.port))
        status, body = await fetch(pool, b"HEAD /page HTTP/1.1\r\nhost: t\r\n\r\n", method=b"HEAD")
        assert status == 200 and body == b""
        status, body = await fetch(pool, get("/page"))
        assert status == 200 and b"</html>" in body
        await pool.close()

    asyncio.run(run())


def test_chunked_upload(site: UvicornThread) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 100_000

    async def run() -> bytes:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", site.port))
        head = b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        _, out = await fetch(pool, head, b"POST", body(), chunked=True)
        await pool.close()
        return out

    assert asyncio.run(run()) == b'{"received":1000000}'


def test_interim_response_is_skipped_and_eof_ends_a_body(raw_server: RawFactory) -> None:
    def handler(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end")

    raw = raw_server(handler)
    async def run() -> tuple[int, bytes]:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", raw.port))
        result = await fetch(pool, get("/"))
        assert not pool._idle  # "Connection: close" is never pooled
        return result

    assert asyncio.run(run()) == (200, b"until the end")


def test_short_body_is_an_error(raw_server: RawFactory) -> None:
    raw = raw_server(lambda conn, req: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
    async def run() -> None:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", raw.port))
        r = await pool.request(b"GET", get("/"), None, False)
        with pytest.raises(UpstreamBodyError):
            async for _ in r.iter_body():
                pass

    asyncio.run(run())


def test_refused_connection_is_mapped() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def run() -> None:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", port))
        with pytest.raises(UpstreamUnavailable, match="refused"):
            await pool.request(b"GET", get("/"), None, False)

    asyncio.run(run())
