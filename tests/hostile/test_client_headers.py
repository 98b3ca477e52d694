"""Findings 4 (request side) and 9: what a client sends that must not reach the origin."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway
from tests.hostile.rawclient import connect, read_until_close, status_of
from tests.support.servers import RawFactory, raw_request


def echoed(gw: RunningGateway, request: bytes) -> dict[str, str]:
    status, _, body = raw_request(gw.server.port, request)
    assert status == 200, body
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def test_request_trailers_never_become_headers(gateway: RunningGateway) -> None:
    seen = echoed(gateway, b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
                           b"trailer: authorization, cookie\r\n\r\n4\r\nbody\r\n0\r\n"
                           b"authorization: Bearer stolen\r\ncookie: sid=from-trailer\r\n\r\n")
    assert "authorization" not in seen
    assert "from-trailer" not in seen.get("cookie", "")


def test_every_header_named_in_any_connection_header_is_dropped(gateway: RunningGateway) -> None:
    seen = echoed(gateway, b"GET /echo HTTP/1.1\r\nhost: x\r\nconnection: keep-alive, X-A\r\n"
                           b"x-a: 1\r\nconnection: x-b ,x-c\r\nx-b: 2\r\nx-c: 3\r\nx-kept: 4\r\n\r\n")
    assert "x-a" not in seen and "x-b" not in seen and "x-c" not in seen
    assert seen["x-kept"] == "4"


@pytest.mark.parametrize("name", ["X-Real-IP", "True-Client-IP", "X-Original-URL", "X-Rewrite-URL",
                                  "X-Forwarded-Port", "X-Forwarded-Prefix"])
def test_client_set_routing_and_address_headers_are_dropped(gateway: RunningGateway, name: str) -> None:
    seen = echoed(gateway, f"GET /echo HTTP/1.1\r\nhost: x\r\n{name}: /admin\r\n\r\n".encode())
    assert name.lower() not in seen


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: a.example/evil\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: user@a.example\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: \r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: a..example\r\n\r\n",
    b"GET / HTTP/1.1\r\nuser-agent: no-host\r\n\r\n",
])
def test_bad_or_missing_host_gets_400(make_gateway: Callable[..., RunningGateway], raw_server: RawFactory,
                                      head: bytes) -> None:
    origin = raw_server(lambda conn, _: conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    with connect(gw.server.port) as s:
        s.sendall(head)
        assert status_of(read_until_close(s)) == 400
    assert origin.connections == 0


def test_http10_without_host_is_served(gateway: RunningGateway) -> None:
    with connect(gateway.server.port) as s:
        s.sendall(b"GET /_consent HTTP/1.0\r\n\r\n")
        assert status_of(read_until_close(s)) == 200


@pytest.mark.parametrize("method", [b"TRACE", b"CONNECT"])
def test_trace_and_connect_get_405_and_are_not_forwarded(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory, method: bytes) -> None:
    origin = raw_server(lambda conn, _: conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))
    gw = make_gateway(f"http://127.0.0.1:{origin.port}")
    target = b"x.example:443" if method == b"CONNECT" else b"/"
    with connect(gw.server.port) as s:
        s.sendall(method + b" " + target + b" HTTP/1.1\r\nhost: x.example\r\ncookie: sid=1\r\n\r\n")
        reply = read_until_close(s)
    assert status_of(reply) == 405
    assert b"sid=1" not in reply
    assert origin.connections == 0


def test_a_trailer_that_never_ends_is_cut_off(gateway: RunningGateway) -> None:
    with connect(gateway.server.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                  b"4\r\nbody\r\n0\r\nx-endless: " + b"t" * (1 << 20))
        assert status_of(read_until_close(s)) == 431  # closed, not waiting for more
