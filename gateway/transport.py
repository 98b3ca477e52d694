"""How the request the policy built reaches the site: over the upstream pool, or into an ASGI app.

The proxy stage decides what the site may see (`proxy.request_head`: a `RequestHead`, no bytes, no
sockets) and what the visitor may get back; a transport only carries it. `PoolTransport` writes
HTTP/1.1 to the keep-alive pool (proxy mode); `AppTransport` calls a wrapped ASGI app in the same
process (`gateway.middleware.ConsentMiddleware`), so the same stages run without a network hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, NamedTuple, Protocol

from gateway.errors import UpstreamBodyError, UpstreamUnavailable
from gateway.types import ASGIApp, Headers, Message, Scope
from gateway.upstream import UpstreamPool


class RequestHead(NamedTuple):
    """Immutable; a named tuple, as it is built for every request (a frozen dataclass costs 4x)."""

    method: bytes
    target: bytes  # path and query, as the browser sent them
    headers: Headers  # what the site may see; Host first
    has_body: bool
    chunked: bool


def serialize(head: RequestHead) -> bytes:
    lines = [head.method, b" ", head.target, b" HTTP/1.1\r\n"]
    for name, value in head.headers:
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)


class Response(Protocol):
    status: int
    headers: Headers

    @property
    def drained(self) -> bool: ...
    def take_whole(self) -> bytes | None: ...
    def iter_body(self) -> AsyncGenerator[bytes, None]: ...
    def discard(self) -> None: ...


class Transport(Protocol):
    async def send(self, scope: Scope, head: RequestHead, body: AsyncIterator[bytes] | None) -> Response: ...


class PoolTransport:
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool

    async def send(self, scope: Scope, head: RequestHead, body: AsyncIterator[bytes] | None) -> Response:
        return await self.pool.request(head.method, serialize(head), body, head.chunked)


_END = object()


class AppResponse:
    """The wrapped app's answer: the head is here, the body still coming through a queue."""

    def __init__(self, status: int, headers: Headers, chunks: asyncio.Queue[Any], task: asyncio.Task[None]) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._task = task
        self._done = False

    @property
    def drained(self) -> bool:
        return self._done or (self._chunks.qsize() == 1 and self._chunks._queue[0] is _END)  # type: ignore[attr-defined]

    def take_whole(self) -> bytes | None:
        """None: the app's body streams through the queue (the proxy then reads it chunk by chunk)."""
        return None

    async def iter_body(self) -> AsyncGenerator[bytes, None]:
        while True:
            item = await self._chunks.get()
            if item is _END:
                self._done = True
                return
            if isinstance(item, BaseException):
                raise UpstreamBodyError("the application failed mid-body") from item
            yield item

    def discard(self) -> None:
        if not self._task.done():
            self._task.cancel()


class AppTransport:
    """Calls an ASGI app with the filtered request; its response streams back through a queue with
    room for a few chunks, so a large body is not held in memory (the app waits while it is full)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def send(self, scope: Scope, head: RequestHead, body: AsyncIterator[bytes] | None) -> Response:
        inner = dict(scope)
        inner["headers"] = [(n, v) for n, v in head.headers if n != b"transfer-encoding"]
        exchange = _AppExchange(body)
        task = asyncio.ensure_future(exchange.run(self.app, inner))
        status, headers = await exchange.started
        return AppResponse(status, [(n.lower(), v) for n, v in headers], exchange.chunks, task)


class _AppExchange:
    """One call of the wrapped app: its receive and send, and what they have seen. A responder
    object (as Starlette's GZipResponder) rather than closures over per-request flags."""

    def __init__(self, body: AsyncIterator[bytes] | None) -> None:
        self.body = body
        self.started: asyncio.Future[tuple[int, Headers]] = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
        self.ended = False

    async def receive(self) -> Message:
        if self.body is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        try:
            chunk = await self.body.__anext__()
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                await self.chunks.put(bytes(message["body"]))
            if not message.get("more_body", False) and not self.ended:
                self.ended = True
                await self.chunks.put(_END)

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception as e:  # noqa: BLE001 - the visitor gets our error page, not a traceback
            if not self.started.done():
                self.started.set_exception(UpstreamUnavailable(f"the application raised {type(e).__name__}"))
            else:
                await self.chunks.put(e)
            return
        if not self.started.done():
            self.started.set_exception(UpstreamUnavailable("the application sent no response"))
        elif not self.ended:
            await self.chunks.put(_END)  # an app that returned without its last message still ends
