"""Findings 4 (response side) and 9 (upstream smalls): what the origin's framing may not do to a response.

Trailers never join the response head; headers the origin names in `Connection` stay on its hop;
statuses outside 100-599 and unasked protocol switches are 502; bodiless statuses and unusual
transfer codings are framed correctly for the client.
"""

from __future__ import annotations

import gzip
import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import RunningGateway
from tests.support.servers import RawFactory


def origin(response: bytes) -> Callable[[socket.socket, bytes], None]:
    def handler(conn: socket.socket, request: bytes) -> None:
        conn.sendall(response)
        time.sleep(0.05)

    return handler


def chunked(body: bytes, trailers: bytes = b"") -> bytes:
    return b"%x\r\n%b\r\n0\r\n%b\r\n" % (len(body), body, trailers)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """Errors uvicorn logs while serving (its logger does not propagate to pytest's)."""
    handler = ErrorLog()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def exchange_twice(port: int, path: str) -> list[bytes]:
    """Two requests on one client connection; each reply read up to the next blank line plus its body."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for _ in range(2):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            replies.append(data)
    return replies


class TestTrailersAndHopByHop:
    def test_response_trailers_never_reach_the_head(self, make_gateway: Callable[..., RunningGateway],
                                                    raw_server: RawFactory) -> None:
        trailers = (b"Location: https://evil.example/\r\nSet-Cookie: csrftoken=from-trailer\r\n"
                    b"Access-Control-Allow-Origin: *\r\n")
        for content_type in (b"text/plain", b"text/html"):
            raw = raw_server(origin(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type +
                                    b"\r\nTransfer-Encoding: chunked\r\nTrailer: Location\r\n\r\n" +
                                    chunked(b"<p>hello</p>", trailers)))
            gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
            with gw.client() as c:
                r = c.get("/")
            assert r.status_code == 200 and "<p>hello</p>" in r.text
            for name in ("location", "set-cookie", "access-control-allow-origin", "trailer"):
                assert name not in r.headers, (content_type, name)

    def test_headers_named_in_connection_stay_on_the_origin_hop(self, make_gateway: Callable[..., RunningGateway],
                                                              raw_server: RawFactory) -> None:
        raw = raw_server(origin(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop-One\r\n"
            b"X-Hop-One: 1\r\nConnection: x-hop-two ,Set-Cookie\r\nX-Hop-Two: 2\r\nSet-Cookie: csrftoken=hop\r\n"
            b"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-Kept: yes\r\n"
            b"Content-Length: 2\r\n\r\nok"))
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        with gw.client() as c:
            r = c.get("/")
        assert (r.status_code, r.text, r.headers.get("x-kept")) == (200, "ok", "yes")
        for name in ("x-hop-one", "x-hop-two", "set-cookie", "keep-alive", "proxy-authenticate", "upgrade"):
            assert name not in r.headers, name


class TestStatus:
    @pytest.mark.parametrize("status", [b"999", b"600", b"000"])
    def test_status_outside_100_599_is_502(self, status: bytes, make_gateway: Callable[..., RunningGateway],
                                           raw_server: RawFactory) -> None:
        raw = raw_server(origin(b"HTTP/1.1 " + status + b" Odd\r\nContent-Length: 2\r\n\r\nok"))
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        with gw.client() as c:
            assert c.get("/").status_code == 502

    def test_unsolicited_101_is_502_at_once(self, make_gateway: Callable[..., RunningGateway],
                                            raw_server: RawFactory) -> None:
        def handler(conn: socket.socket, request: bytes) -> None:
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            time.sleep(3)  # then nothing: a proxy waiting for more would wait for ever

        raw = raw_server(handler)
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")  # read_timeout 2 s: 504 if it waited
        with gw.client() as c:
            r = c.get("/")
        assert r.status_code == 502

    @pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
    def test_bodiless_status_with_content_length_is_served_cleanly(
            self, status: bytes, make_gateway: Callable[..., RunningGateway], raw_server: RawFactory,
            server_errors: list[logging.LogRecord]) -> None:
        def handler(conn: socket.socket, request: bytes) -> None:
            while True:  # keep-alive, one answer per request
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk

        raw = raw_server(handler)
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        replies = exchange_twice(gw.server.port, "/same")
        # both answered on one client connection: the first did not end it
        assert [r.split(b"\r\n", 1)[0] for r in replies] == [b"HTTP/1.1 " + status] * 2
        assert not server_errors


class TestTransferCodings:
    def test_identity_transfer_coding_is_read_to_the_end(self, make_gateway: Callable[..., RunningGateway],
                                                         raw_server: RawFactory) -> None:
        body = b"z" * 300_000
        raw = raw_server(origin(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                b"Transfer-Encoding: identity\r\n\r\n" + body))
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        with gw.client() as c:
            r = c.get("/")
        assert (r.status_code, len(r.content)) == (200, len(body))

    @pytest.mark.parametrize("content_type", [b"text/plain", b"text/html"])
    def test_gzip_transfer_coding_keeps_its_meaning(self, content_type: bytes,
                                                    make_gateway: Callable[..., RunningGateway],
                                                    raw_server: RawFactory) -> None:
        page = b"<html><body><p>" + b"compressed words " * 500 + b"</p></body></html>"
        raw = raw_server(origin(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type +
                                b"\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked(gzip.compress(page))))
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        with gw.client() as c:
            r = c.get("/")  # httpx decodes whatever Content-Encoding says, as a browser does
        assert r.status_code == 200
        assert b"compressed words " * 500 in r.content
        if content_type == b"text/html":
            assert b"consent" in r.content.lower()  # the page was decoded, so it was rewritten

    def test_transfer_coding_that_cannot_be_described_is_502(self, make_gateway: Callable[..., RunningGateway],
                                                             raw_server: RawFactory) -> None:
        raw = raw_server(origin(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                b"Transfer-Encoding: compress, chunked\r\n\r\n" + chunked(b"??")))
        gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
        with gw.client() as c:
            assert c.get("/").status_code == 502
