from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from gateway.serving import CoalescingTransport, GatewayHttpProtocol
from gateway.types import Receive, Scope, Send
from tests.conftest import RunningGateway
from tests.support.servers import UvicornThread

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def wrap() -> tuple[CoalescingTransport, RecordingTransport, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    inner = RecordingTransport()
    return CoalescingTransport(inner, loop), inner, loop  # type: ignore[arg-type]


def test_head_and_body_go_out_in_one_write() -> None:
    t, inner, loop = wrap()
    t.write(HEAD)
    assert inner.writes == []
    t.write(b"ok")
    assert inner.writes == [HEAD + b"ok"]
    loop.run_until_complete(asyncio.sleep(0))  # the end-of-tick flush finds nothing held
    assert inner.writes == [HEAD + b"ok"]
    loop.close()


def test_a_lone_head_is_written_at_the_end_of_the_tick() -> None:
    t, inner, loop = wrap()
    t.write(HEAD)
    loop.run_until_complete(asyncio.sleep(0))
    assert inner.writes == [HEAD]
    loop.close()


def test_other_writes_pass_and_close_flushes_abort_drops() -> None:
    t, inner, loop = wrap()
    t.write(b"partial head without its end\r\n")
    t.write(b"body")
    assert inner.writes == [b"partial head without its end\r\n", b"body"]
    t.write(HEAD)
    t.close()
    assert inner.writes[-1] == HEAD and inner.closed
    t.write(HEAD)
    t.abort()
    assert inner.aborted and inner.writes[-1] == HEAD and len(inner.writes) == 3
    t.write(HEAD)
    t.write_eof()
    assert inner.writes[-2:] == [HEAD, b"<eof>"]
    assert t.get_extra_info("peername") == "info:peername"  # everything else is the real transport's
    loop.close()


async def _slow_body(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
    await asyncio.sleep(1.0)
    await send({"type": "http.response.body", "body": b"late"})


def test_head_is_not_held_while_the_app_waits() -> None:
    """Through real uvicorn: a head whose body comes later still reaches the client at once."""
    server = UvicornThread(_slow_body, http=GatewayHttpProtocol).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            started = time.monotonic()
            first = s.recv(65536)
            waited = time.monotonic() - started
            assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"\r\n\r\n")
            assert waited < 0.8
            assert s.recv(65536) == b"late"
    finally:
        server.stop()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_gateway_responses_arrive_whole(gateway: RunningGateway, method: str) -> None:
    """The gateway's real server: one read gets head and body of a small page; HEAD is not held."""
    with socket.create_connection(("127.0.0.1", gateway.server.port), timeout=5) as s:
        s.sendall(f"{method} /_consent HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        data = s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    if method == "GET":
        assert body.startswith(b"{") and body.endswith(b"}")
    else:
        assert body == b""


# --- keep-alive: one timer per idle stretch -----------------------------------------------------

def _ask(s: socket.socket) -> bytes:
    s.sendall(b"GET /_consent HTTP/1.1\r\nhost: x\r\n\r\n")
    data = b""
    while not (b"\r\n\r\n" in data and data.endswith(b"}")):
        chunk = s.recv(65536)
        assert chunk, "closed"
        data += chunk
    return data


def test_the_keep_alive_timer_is_pushed_back_not_made_per_response(
        make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway="keepalive_timeout = 1")
    with socket.create_connection(("127.0.0.1", gw.server.port), timeout=5) as s:
        _ask(s)
        time.sleep(0.05)  # the server notes the answer just after writing it
        [protocol] = gw.server.server.server_state.connections
        timer = protocol.timeout_keep_alive_task
        assert timer is not None
        _ask(s)
        time.sleep(0.05)
        assert protocol.timeout_keep_alive_task is timer  # the same timer: none made for this answer
        for _ in range(5):  # 1.5 s of requests 0.3 s apart: longer than the timeout, never idle that long
            time.sleep(0.3)
            assert _ask(s).startswith(b"HTTP/1.1 200")
        s.settimeout(4)
        started = time.monotonic()
        assert s.recv(1) == b""  # idle now: closed a timeout after the last answer
        assert 0.7 < time.monotonic() - started < 2.5
