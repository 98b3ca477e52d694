"""Hostile re-test of the hot-path changes (issue 12): the per-connection response parser, bodies
that go out whole, GatewayCycle's line table, the Set-Cookie caches, the keep-alive timer pushed
back, and the access lines written once per loop turn.

Each test drives the real path: a raw-socket origin on loopback, the gateway under uvicorn, a client.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway import cookies, cycle
from tests.conftest import RunningGateway
from tests.hostile.rawclient import read_until_close, served
from tests.hostile.upstream_origin import ATTACK, Reply, keepalive, ok, path_of
from tests.support.servers import RawFactory, reset

BODY18 = b"x" * 18
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


# --- probes that found nothing: they guard the per-connection parser and the whole-body path ---------

EXTRA: dict[str, Reply] = {
    # llhttp starts the next message itself: each of these must close the connection, never reach a visitor
    "a 100 Continue after the answer": Reply(ok(BODY18) + b"HTTP/1.1 100 Continue\r\n\r\n" + ATTACK),
    "garbage after the answer": Reply(ok(BODY18) + b"\x00garbage\r\n\r\n" + ATTACK),
    "blank lines, then a response, late": Reply(ok(BODY18), later=b"\r\n\r\n" + ATTACK, delay=0.05),
    "half a response head, then the rest late": Reply(ok(BODY18) + ATTACK[:20], later=ATTACK[20:], delay=0.05),
    "a 103 and a body on a HEAD-less 204": Reply(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                                                  b"HTTP/1.1 204 No Content\r\n\r\n" + ATTACK),
}


@pytest.mark.parametrize("case", list(EXTRA))
def test_what_an_origin_sends_after_an_answer_reaches_nobody(
        case: str, make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    def respond(head: bytes) -> Reply:
        return EXTRA[case] if path_of(head) == b"/evil" else Reply(ok())

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        r = c.get("/evil")
        assert r.status_code in (200, 204) and "attacker-fixed" not in r.headers.get("set-cookie", "")
        time.sleep(0.2)  # late bytes land while the connection waits in the pool
        for _ in range(10):
            r = c.get("/poll")
            assert (r.status_code, r.content) == (200, b"poll-ok")
            assert "set-cookie" not in r.headers


def test_interim_answers_then_the_final_one_and_the_connection_is_reused(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"

    def respond(head: bytes) -> Reply:
        return Reply(interim + ok(path_of(head)))

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        for i in range(10):
            r = c.get(f"/p{i}")
            assert (r.status_code, r.content) == (200, b"/p%d" % i)
    assert raw.connections == 1  # clean, complete exchanges: one pooled connection for all


@pytest.mark.parametrize("ending", ["closes after the body", "Content-Length says more, then closes"])
def test_an_origin_that_closes_after_an_answer_costs_the_next_visitor_nothing(
        ending: str, make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    short = ending.startswith("Content-Length")

    def respond(head: bytes) -> Reply:
        if path_of(head) != b"/bye":
            return Reply(ok())
        if short:
            return Reply(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly-ten!!",
                         close=True)
        return Reply(ok(b"bye"), close=True)  # keep-alive by its head, then FIN

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        if short:
            with pytest.raises(httpx.HTTPError):  # a broken body, never a complete-looking one
                c.get("/bye")
        else:
            assert c.get("/bye").content == b"bye"
    with gw.client() as c:
        for _ in range(5):
            assert c.get("/poll").content == b"poll-ok"


def test_visitors_who_leave_before_their_whole_answer_comes_leave_the_pool_clean(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    """take_whole gives the connection back before the client is written to: a client gone by then."""

    def respond(head: bytes) -> Reply:
        if path_of(head) == b"/leave":
            time.sleep(0.05)  # the client has gone when the whole answer arrives
        return Reply(ok(path_of(head)))

    raw = raw_server(keepalive(respond))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    for _ in range(10):
        with socket.create_connection(("127.0.0.1", gw.server.port), timeout=5) as s:
            s.sendall(b"GET /leave HTTP/1.1\r\nHost: x\r\n\r\n")
            reset(s)
    time.sleep(0.3)
    with gw.client() as c:
        for i in range(10):
            r = c.get(f"/mine{i}")
            assert (r.status_code, r.content) == (200, b"/mine%d" % i)


def test_an_idle_client_is_closed_after_many_answers_and_stray_blank_lines(
        make_gateway: Callable[..., RunningGateway]) -> None:
    """The keep-alive timer is pushed back, not re-made: after 100 answers (some pipelined) an idle
    connection still closes; blank lines, which end the idle stretch without a request, leave it to
    header_timeout."""
    gw = make_gateway(gateway="keepalive_timeout = 0.3\nheader_timeout = 1")
    ask = b"GET /_consent HTTP/1.1\r\nhost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as s:
        for _ in range(50):
            s.sendall(ask * 2)  # two at once: the second waits in uvicorn's pipeline
            data = b""
            while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
                chunk = s.recv(65536)
                assert chunk, "closed while busy"
                data += chunk
        assert read_until_close(s) == b""  # idle: closed (within the 10 s socket timeout)
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as s:
        s.sendall(ask)
        s.recv(65536)
        try:
            for _ in range(100):  # 10 s of blank lines, far past both timeouts
                time.sleep(0.1)
                s.sendall(b"\r\n")
        except OSError:
            pass
        assert read_until_close(s) == b""


@pytest.mark.parametrize("request_line", [b"GET /_consent HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                                          b"GET /_consent HTTP/1.0\r\nhost: x\r\n\r\n"])
def test_connection_close_through_gateway_cycle(request_line: bytes,
                                                make_gateway: Callable[..., RunningGateway]) -> None:
    """A response with a Content-Length goes out through GatewayCycle's own body step: the connection
    must still close after it, say so in the head, and answer nothing pipelined after it."""
    gw = make_gateway()
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as s:
        s.sendall(request_line + b"GET /_consent HTTP/1.1\r\nhost: x\r\n\r\n")
        data = read_until_close(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.count(b"HTTP/1.1 200") == 1 and b"\r\nconnection: close" in head.lower()
    length = int(next(v for n, _, v in (line.partition(b": ") for line in head.split(b"\r\n"))
                      if n.lower() == b"content-length"))
    assert len(body) == length  # nothing after the one answer


def test_huge_cookie_names_from_visitors_are_not_kept_in_the_expiry_table(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    """A visitor who sends a new 30 KB cookie name with each request: the gateway expires it (it is
    no category's), and may cache the expiry lines only for short names, or the table's 4096
    entries hold a name and its lines each: over a gigabyte."""
    raw = raw_server(keepalive(lambda head: Reply(ok())))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        for i in range(5):
            name = "n" * LONG + str(i)
            r = c.get("/", headers={"cookie": f"{name}=1"})
            assert r.status_code == 200
            assert any(v.startswith(name + "=") for v in r.headers.get_list("set-cookie"))  # expired, still
    assert all(len(name) + len(host) <= cookies.MAX_CACHED_EXPIRY for name, _, _, host in cookies._EXPIRY_CACHE)
    rules = gw.app.runtime.rules  # the category and metrics-label lookups of the names: the same bound
    assert all(len(name) <= cookies.MAX_CACHED_NAME for name in [*rules._cache, *rules._labels])
