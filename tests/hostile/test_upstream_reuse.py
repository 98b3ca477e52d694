"""Finding 1: a pooled upstream connection never hands one visitor's bytes to another.

A misbehaving origin writes more than its framing allows (a late second response, a body on a
204/304 or after a HEAD answer, more bytes than its Content-Length) while another visitor polls
through the gateway. Nobody may ever receive the injected response or its cookie.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from gateway.config import Upstream
from gateway.upstream import UpstreamPool
from tests.conftest import RunningGateway
from tests.hostile.upstream_origin import ATTACK, Gate, Reply, Seen, keepalive, ok, path_of
from tests.support.servers import RawFactory

BODY18 = b"x" * 18
MISBEHAVIOURS: dict[str, tuple[str, Reply]] = {
    # the reproduction: a complete answer, then 0.4 s later a second one nobody asked for
    "late second response": ("GET", Reply(ok(BODY18), later=ATTACK, delay=0.4)),
    "more than Content-Length": ("GET", Reply(ok(BODY18) + ATTACK)),
    "more than Content-Length, late": ("GET", Reply(ok(BODY18), later=b"tail" + ATTACK, delay=0.05)),
    "body on a 204": ("GET", Reply(b"HTTP/1.1 204 No Content\r\n\r\n" + ATTACK)),
    "body on a 304, late": ("GET", Reply(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\n",
                                         later=ATTACK, delay=0.05)),
    "body after a HEAD answer": ("HEAD", Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n" + ATTACK)),
}
POLL_EVERY = 0.02
POLLS_MAX = 400  # bounded whatever happens


def poller(url: str, stop: threading.Event, gate: Gate, seen: list[httpx.Response]) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for _ in range(POLLS_MAX):
            if stop.is_set():
                return
            gate.enter()
            try:
                seen.append(c.get("/poll"))
            finally:
                gate.leave()
            time.sleep(POLL_EVERY)


@pytest.mark.parametrize("case", list(MISBEHAVIOURS))
def test_no_visitor_receives_bytes_the_origin_sent_for_another(
        case: str, make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    method, evil = MISBEHAVIOURS[case]

    def respond(head: bytes) -> Reply:
        return evil if path_of(head) == b"/evil" else Reply(ok())

    gate = Gate()
    raw = raw_server(keepalive(respond, gate=gate))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    stop = threading.Event()
    polls: list[httpx.Response] = []
    thread = threading.Thread(target=poller, args=(gw.url, stop, gate, polls))
    thread.start()
    try:
        with gw.client() as c:
            for _ in range(3):
                gate.enter()
                try:
                    r = c.request(method, "/evil")
                finally:
                    gate.leave()
                assert r.status_code in (200, 204, 304)
                assert "attacker-fixed" not in r.headers.get("set-cookie", "")
                time.sleep(0.6)  # the late bytes arrive while the poller cycles through the pool
    finally:
        stop.set()
        thread.join(timeout=15)
    assert len(polls) > 20
    for p in polls:
        assert "attacker-fixed" not in p.headers.get("set-cookie", ""), case
        assert (p.status_code, p.text) == (200, "poll-ok"), case


def test_bytes_waiting_on_an_idle_connection_are_not_the_next_response(raw_server: RawFactory) -> None:
    """Checked when a connection is taken from the pool, too: the event loop may not have read
    the bytes yet (it is busy; here, blocked on purpose)."""
    seen = Seen()

    def respond(head: bytes) -> Reply:
        if path_of(head) == b"/first":
            return Reply(ok(b"first"), later=ATTACK, delay=0.05)
        return Reply(ok(b"second"))

    raw = raw_server(keepalive(respond, seen))

    async def run() -> tuple[int, bytes]:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", raw.port))
        r = await pool.request(b"GET", b"GET /first HTTP/1.1\r\nhost: t\r\n\r\n", None, False)
        assert b"".join([c async for c in r.iter_body()]) == b"first"
        assert seen.idle_write.wait(5)  # blocks the loop: the late bytes wait in the socket
        time.sleep(0.05)
        r = await pool.request(b"GET", b"GET /second HTTP/1.1\r\nhost: t\r\n\r\n", None, False)
        body = b"".join([c async for c in r.iter_body()])
        await pool.close()
        return r.status, body

    assert asyncio.run(run()) == (200, b"second")


def test_eof_waiting_on_an_idle_connection_is_noticed_before_a_post(raw_server: RawFactory) -> None:
    """A POST is never replayed (finding 5), so a connection the origin already closed must not
    be chosen for it: the close is seen when the connection leaves the pool."""
    seen = Seen()
    raw = raw_server(keepalive(lambda head: Reply(ok(b"done"), close=True), seen))

    async def run() -> tuple[int, bytes]:
        pool = UpstreamPool(Upstream("http", "127.0.0.1", raw.port))
        r = await pool.request(b"GET", b"GET / HTTP/1.1\r\nhost: t\r\n\r\n", None, False)
        assert b"".join([c async for c in r.iter_body()]) == b"done"
        assert seen.idle_write.wait(5)
        time.sleep(0.05)
        r = await pool.request(b"POST", b"POST /order HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n",
                               None, False)
        body = b"".join([c async for c in r.iter_body()])
        await pool.close()
        return r.status, body

    assert asyncio.run(run()) == (200, b"done")
    assert seen.count(b"POST") == 1
