"""Hostile re-test of the hot-path changes (issue 12): the per-connection response parser, bodies
that go out whole, GatewayCycle's line table, the Set-Cookie caches, the keep-alive timer pushed
back, and the access lines written once per loop turn.

Each test drives the real path: a raw-socket origin on loopback, the gateway under uvicorn, a client.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway import cookies, cycle
from tests.conftest import RunningGateway
from tests.hostile.upstream_origin import Reply, keepalive
from tests.support.servers import RawFactory

LONG = 30_000  # well inside the 64 KiB head limit, far over what a line table should keep


def test_long_header_names_from_the_site_are_not_kept_in_the_line_table(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    """A site (or anything behind it) that sends a new long header name with each answer: GatewayCycle
    writes each line but may keep only short ones, or 2048 kept lines of 60 KiB hold 240 MB."""
    count = 0

    def respond(head: bytes) -> Reply:
        nonlocal count
        count += 1
        name = b"x-" + b"n" * LONG + b"%d" % count
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%b: 1\r\nContent-Length: 2\r\n\r\nok" % name)

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        for _ in range(5):
            r = c.get("/")
            assert (r.status_code, r.content) == (200, b"ok")
            assert len(next(n for n in r.headers if n.startswith("x-n"))) > LONG  # written whole
    assert cycle.CYCLE_CHECKED  # else uvicorn's own cycle ran and this proves nothing
    kept = max((len(n) + len(v) for n, v in cycle._LINES), default=0)
    assert kept <= cycle.MAX_CACHED_VALUE


def test_huge_set_cookie_attributes_are_not_kept(make_gateway: Callable[..., RunningGateway],
                                                  raw_server: RawFactory) -> None:
    """Set-Cookie values with ever-new attribute strings of 30 KB (a Path that changes): the parse
    caches may keep only short ones, or their 1024 + 2048 entries hold up to 64 MB and more."""
    count = 0

    def respond(head: bytes) -> Reply:
        nonlocal count
        count += 1
        cookie = b"sid=1; Path=/" + b"p" * LONG + b"%d" % count
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: %b\r\nContent-Length: 2\r\n\r\nok"
                     % cookie)

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        for _ in range(5):
            assert c.get("/").status_code == 200
    assert count == 5
    assert all(len(k) <= cookies.MAX_CACHED_HEADER for k in cookies._SET_COOKIES)
    assert all(len(k) <= cookies.MAX_CACHED_SCOPE for k in cookies._SCOPE_CACHE)
