"""gateway/requestbody.py: the one bounded body read behind the decision POST and the dashboard's
sign-in form, driven directly (every message shape) and through a real gateway (a body declared too
large is refused at once, before any byte of it is sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.errors import BadRequest
from gateway.requestbody import read_bounded_body
from gateway.testing.servers import raw_request
from gateway.types import Message
from tests.conftest import RunningGateway
from tests.hostile.test_admin_signin import ADMIN


def read(messages: list[Message], limit: int = 10, declared: bytes | None = None) -> bytes:
    queue = iter(messages)

    async def receive() -> Message:
        return next(queue)

    return asyncio.run(read_bounded_body(receive, limit, declared))


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def test_the_body_is_joined_across_messages() -> None:
    assert read([body(b"ab", True), body(b"", True), body(b"cd")]) == b"abcd"
    assert read([{"type": "http.request"}]) == b""
    assert read([body(b"x" * 10)], declared=b"10") == b"x" * 10


@pytest.mark.parametrize(("messages", "declared", "status", "message"), [
    ([body(b"x" * 11)], None, 413, "request body too large (limit 10 bytes)"),
    ([body(b"x" * 6, True), body(b"x" * 5)], None, 413, "too large"),  # counted, nothing declared
    ([], b"11", 413, "too large"),  # refused before reading
    ([], b"ten", 400, "bad Content-Length"),
    ([body(b"abc", True), {"type": "http.disconnect"}], None, 400, "client went away"),
])
def test_refusals(messages: list[Message], declared: bytes | None, status: int, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        read(messages, declared=declared)
    assert caught.value.status == status and message in caught.value.message


@pytest.mark.parametrize("path", ["/_consent", "/_consent/admin/login"])
def test_a_declared_oversize_body_is_refused_before_it_is_sent(
        make_gateway: Callable[..., RunningGateway], path: str) -> None:
    """Before, the sign-in form counted bytes only: a client declaring 1 MB and sending nothing held
    the request open until the body timeout. Now both answer 413 at once."""
    gw = make_gateway(extra=ADMIN)
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{gw.server.port}\r\nOrigin: {gw.origin}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n"
               "Connection: close\r\n\r\n").encode()
    # the read's own timeout (10 s) is far below the body timeout (60 s) a waiting gateway would use
    status, _, text = raw_request(gw.server.port, request, timeout=10)
    assert status == 413 and b"too large" in text
