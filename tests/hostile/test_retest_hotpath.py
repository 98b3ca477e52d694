"""Hostile re-test of the hot-path changes (issue 12): the per-connection response parser, bodies
that go out whole, GatewayCycle's line table, the Set-Cookie caches, the keep-alive timer pushed
back, and the access lines written once per loop turn.

Each test drives the real path: a raw-socket origin on loopback, the gateway under uvicorn, a client.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway import cookies, cycle
from tests.conftest import RunningGateway
from tests.hostile.rawclient import served
from tests.hostile.upstream_origin import Reply, keepalive, ok, path_of
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


def test_sigterm_loses_no_log_line(tmp_path: Path, raw_server: RawFactory) -> None:
    """`serve` stopped by SIGTERM while a request is under way: every access line is written, and
    uvicorn's last lines too. uvicorn re-raises the signal once it has shut down, inside the loop's
    last turn, with the default handler back: the process ends there, without Python's exit (no
    logging.shutdown), so a line still waiting for the end of that turn would be lost."""

    def respond(head: bytes) -> Reply:
        if path_of(head) == b"/slow":
            time.sleep(0.8)
        return Reply(ok())

    raw = raw_server(keepalive(respond))
    statuses: list[int] = []
    with served(tmp_path, f"http://127.0.0.1:{raw.port}") as gw:
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            for i in range(5):
                assert c.get(f"/page{i}").status_code == 200
        slow = threading.Thread(target=lambda: statuses.append(httpx.get(gw.url + "/slow", timeout=10).status_code))
        slow.start()
        time.sleep(0.3)  # the slow request is with the origin
        gw.proc.send_signal(signal.SIGTERM)
        slow.join(15)
        assert gw.proc.wait(30) in (0, -signal.SIGTERM)
    assert statuses == [200]
    lines = [json.loads(line) for line in gw.log.read_text().splitlines()]
    paths = [line["path"] for line in lines if line.get("msg") == "access" and line["path"] != "/_consent/health"]
    assert paths == [f"/page{i}" for i in range(5)] + ["/slow"]
    assert lines[-1]["msg"].startswith("Finished server process"), lines[-3:]
