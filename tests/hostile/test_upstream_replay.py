"""Finding 5: a request that may have changed something at the origin is never sent twice.

The origin answers the first request on each connection, keeps the connection open, then takes the
next request on it and closes without answering: the gateway cannot know whether it was processed.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway
from tests.hostile.upstream_origin import Seen, ok
from tests.support.servers import RawFactory


def answer_once(seen: Seen) -> Callable[[socket.socket, bytes], None]:
    def handler(conn: socket.socket, first: bytes) -> None:
        seen.add(first)
        conn.sendall(ok(b"first"))  # keep-alive: no Connection: close
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        seen.add(data)  # received, maybe processed, never answered: the handler returns and closes

    return handler


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "PUT"])
def test_unsafe_request_on_a_dropped_connection_is_not_replayed(
        method: str, make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    seen = Seen()
    raw = raw_server(answer_once(seen))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        assert c.get("/warm").text == "first"  # leaves a pooled connection behind
        r = c.request(method, "/order")  # no body: the case that used to be retried
    assert seen.count(method.encode()) == 1
    assert r.status_code == 502


def test_safe_request_on_a_dropped_connection_is_retried(
        make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    seen = Seen()
    raw = raw_server(answer_once(seen))
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        assert c.get("/warm").text == "first"
        r = c.get("/again")
    assert (r.status_code, r.text) == (200, "first")  # the retry went on a fresh connection
    assert seen.count(b"GET /again") == 2
