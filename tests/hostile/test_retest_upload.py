"""Re-test of issue 10: a request body the site does not read.

The gateway waited without limit for the site to take the body: a site that answered early (413,
401) and stopped reading had its answer held back for ever, and a site that neither read nor
answered held the request for ever (no 504). nginx stops sending when the answer comes, and bounds
each send by proxy_send_timeout; here the answer is passed on at once and read_timeout bounds a send.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway
from tests.hostile.rawclient import connect, status_of
from tests.support.servers import RawFactory


def early_answer(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig")
    time.sleep(8)  # and never reads the body


def never_reads(conn: socket.socket, request: bytes) -> None:
    time.sleep(8)


def upload(port: int, seconds: float) -> bytes:
    """POST 32 MiB while reading; what came back before the server closed or `seconds` passed."""
    body = b"x" * (32 << 20)
    with connect(port) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.setblocking(False)
        sent, data = 0, b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and b"\r\n\r\n" not in data:
            try:
                sent += s.send(body[sent:sent + 65536])
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize(("handler", "status"), [(early_answer, 413), (never_reads, 504)])
def test_a_site_that_stops_reading_the_body(handler: Callable[[socket.socket, bytes], None], status: int,
                                            make_gateway: Callable[..., RunningGateway],
                                            raw_server: RawFactory) -> None:
    raw = raw_server(handler)
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")  # read_timeout 2 s
    assert status_of(upload(gw.server.port, 7)) == status


def test_the_connection_of_an_early_answer_is_not_reused(make_gateway: Callable[..., RunningGateway],
                                                         raw_server: RawFactory) -> None:
    raw = raw_server(early_answer)  # keeps the connection open and never reads: reusing it would 504
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    assert status_of(upload(gw.server.port, 7)) == 413
    with gw.client() as c:
        assert c.get("/").status_code == 413
    assert raw.connections == 2
