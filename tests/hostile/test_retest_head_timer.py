"""Re-test of issue 10: header_timeout bounds a request head, never the response to the last one.

The head timer was armed again as soon as a request without a body had been read, while its answer
was still streaming: a download longer than header_timeout (20 s) was cut off in the middle, with
no log line. nginx's client_header_timeout runs only while a head is being received.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from tests.conftest import RunningGateway
from tests.support.servers import RawFactory


def slow_body(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\n\r\n")
    for _ in range(12):  # 2.4 s in all, a byte every 0.2 s: well inside read_timeout (2 s) each time
        time.sleep(0.2)
        conn.sendall(b"x")


def test_a_response_may_stream_longer_than_header_timeout(make_gateway: Callable[..., RunningGateway],
                                                          raw_server: RawFactory) -> None:
    raw = raw_server(slow_body)
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}", gateway="header_timeout = 0.5")
    with gw.client() as c:
        r = c.get("/download")
    assert (r.status_code, r.content) == (200, b"x" * 12)
