"""Issue 13's upstream traps: the connection is given back or closed on every path, and a cancelled
request stays cancelled (it is not a 502)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from gateway.config import Upstream
from gateway.upstream import UpstreamPool
from tests.conftest import RunningGateway
from tests.hostile.upstream_origin import Reply, Seen, keepalive
from tests.support.servers import RawFactory

PAGE = b"<html><body><p>hi</p></body></html>"


def test_failure_before_the_body_is_relayed_closes_the_upstream_connection(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = Seen()
    raw = raw_server(keepalive(lambda head: Reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%b\r\n" % (len(PAGE), PAGE)), seen))  # the body never ends: only a close frees it
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")

    def broken_template(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("template error")

    monkeypatch.setattr(gw.app.banner, "head_html", broken_template)
    with gw.client() as c:
        assert c.get("/").status_code == 500
    assert seen.peer_closed.wait(5)


def test_cancelled_connect_stays_cancelled(raw_server: RawFactory) -> None:
    # A TLS origin that accepts and then never answers the handshake: the request waits in connect.
    raw = raw_server(lambda conn, head: time.sleep(3))

    async def run() -> None:
        pool = UpstreamPool(Upstream("https", "127.0.0.1", raw.port), connect_timeout=30)
        task = asyncio.ensure_future(pool.request(b"GET", b"GET / HTTP/1.1\r\nhost: t\r\n\r\n", None, False))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_cancelled_request_stays_cancelled(raw_server: RawFactory) -> None:
    raw = raw_server(lambda conn, head: time.sleep(3))  # takes the request, never answers

    async def run() -> None:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", raw.port))
        task = asyncio.ensure_future(pool.request(b"GET", b"GET / HTTP/1.1\r\nhost: t\r\n\r\n", None, False))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await pool.close()

    asyncio.run(run())
