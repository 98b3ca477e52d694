"""In-process mode: the gateway's stages around a Python site's own ASGI app, no proxy hop.

    from gateway import ConsentMiddleware
    app = ConsentMiddleware(app, config="consent-gateway.toml")

The same config file and the same consent log as `serve`; the same request filter, response filter,
HTML rewrite and banner, and the `/_consent` endpoints. Only the transport differs: where the proxy
writes HTTP/1.1 to the upstream pool, this calls the wrapped app (transport.AppTransport). Starlette,
FastAPI and Django's ASGI handler are all plain ASGI apps to it. `[gateway] upstream` is required by
the config format but not used here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gateway.app import ConsentGateway
from gateway.config import Config, load_config
from gateway.cookies import strip_request_cookies
from gateway.health import UpstreamHealth
from gateway.transport import AppTransport
from gateway.types import ASGIApp, Message, Receive, Scope, Send


class _InProcess(UpstreamHealth):
    """The site is this process: it answers whenever we do."""

    async def check(self) -> tuple[bool, str]:
        return True, "in-process"


class ConsentMiddleware:
    def __init__(self, app: ASGIApp, config: Config | str) -> None:
        self.app = app
        path = config if isinstance(config, str) else None
        config = load_config(config) if isinstance(config, str) else config
        g = config.gateway
        self.gateway = ConsentGateway(config, transport=AppTransport(app),
                                      health=_InProcess(g.upstream, None, g.connect_timeout))
        self.gateway.config_path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind == "websocket":
            await self.app(self._filtered_websocket(scope), receive, send)
        else:
            await self.gateway(scope, receive, send)

    def _filtered_websocket(self, scope: Scope) -> Scope:
        """The handshake's cookies filtered as a request's are; the socket is the app's."""
        from gateway.context import read_request

        rt = self.gateway.runtime
        ctx = read_request(scope, rt.codec, rt.resolver)
        kept = strip_request_cookies(ctx.cookies, rt.rules, ctx.state.granted).cookie_header
        headers = [(n, v) for n, v in scope["headers"] if n != b"cookie"]
        if kept is not None:
            headers.append((b"cookie", kept))
        return {**scope, "headers": headers}

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start our log before the app's startup and close it after the app's shutdown."""
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        ours = _Lifespan()
        app_task = asyncio.ensure_future(self.app(scope, to_app.get, from_app.put))
        gateway_task = asyncio.ensure_future(self.gateway({"type": "lifespan"}, ours.receive, ours.send))
        try:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    failure = await ours.step("lifespan.startup") or await _app_step(app_task, to_app, from_app,
                                                                                     message)
                    await send({"type": "lifespan.startup.failed", "message": failure} if failure
                               else {"type": "lifespan.startup.complete"})
                    if failure:
                        return
                elif message["type"] == "lifespan.shutdown":
                    await _app_step(app_task, to_app, from_app, message)
                    await ours.step("lifespan.shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        finally:
            for task in (app_task, gateway_task):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task


async def _app_step(task: asyncio.Future[Any], to_app: asyncio.Queue[Message], from_app: asyncio.Queue[Message],
                    message: Message) -> str | None:
    """Hand one lifespan message to the wrapped app; an app without lifespan support is fine."""
    if task.done():
        return None  # it raised or returned at once: it does not do lifespan (allowed by the spec)
    await to_app.put(message)
    getter = asyncio.ensure_future(from_app.get())
    done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter not in done:
        getter.cancel()
        return None
    reply = getter.result()
    return str(reply.get("message", "the application failed to start")) if reply["type"].endswith(".failed") \
        else None


class _Lifespan:
    """Drives ConsentGateway's own lifespan one message at a time."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        await self.outbox.put(message)

    async def step(self, kind: str) -> str | None:
        await self.inbox.put({"type": kind})
        reply = await self.outbox.get()
        return str(reply.get("message", "consent log failed")) if reply["type"].endswith(".failed") else None
