"""WebSocket pass-through: the handshake's cookies are filtered like any request, then frames flow.

The `websockets` library speaks to the site (masking, fragmentation, close handshake); uvicorn
speaks to the browser. Messages are relayed both ways until either side closes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from gateway.config import Config
from gateway.consent import ConsentCodec
from gateway.context import read_request
from gateway.cookies import CookieRules, strip_request_cookies
from gateway.forwarded import ForwardedResolver, forwarded_for
from gateway.proxy import REBUILT_REQUEST, connection_tokens, request_target
from gateway.types import Receive, Scope, Send

log = logging.getLogger("consent_gateway.websocket")

# The library writes these itself; a copy from the browser would duplicate or contradict them.
HANDSHAKE_OWN = frozenset({
    b"host", b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version",
    b"sec-websocket-extensions", b"sec-websocket-protocol", b"cookie", b"x-consent-categories",
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"origin", b"user-agent",
    b"content-length", b"transfer-encoding",
})


class WebSocketProxy:
    def __init__(self, config: Config, codec: ConsentCodec, rules: CookieRules,
                 resolver: ForwardedResolver, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl = ssl_context
        self.config = config
        self.codec = codec
        self.rules = rules
        self.resolver = resolver
        self.upstream = config.gateway.upstream
        self.preserve_host = config.gateway.preserve_host
        self.max_message = config.gateway.ws_max_message_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        ctx = read_request(scope, self.codec, self.resolver)
        filtered = strip_request_cookies(ctx.cookies, self.rules, ctx.state.granted,
                                         everything=self.config.consent.mode == "report")
        # the same hop-by-hop and client-spoofable table as an HTTP request, plus the library's own
        named = connection_tokens(ctx.headers, ctx.first)
        headers: list[tuple[str, str]] = [
            (n.decode("latin-1"), v.decode("latin-1")) for n, v in ctx.headers
            if n not in HANDSHAKE_OWN and n not in REBUILT_REQUEST and n not in named
        ]
        if filtered.cookie_header is not None:
            headers.append(("Cookie", filtered.cookie_header.decode("latin-1")))
        headers.append(("X-Consent-Categories",
                        ",".join(c for c in self.config.category_ids if c in ctx.state.granted)))
        peer = (scope.get("client") or ("",))[0]
        headers.append(("X-Forwarded-For", forwarded_for(ctx.client, peer, ctx.first.get(b"x-forwarded-for"))
                        .decode("latin-1")))
        headers.append(("X-Forwarded-Proto", "https" if ctx.client.scheme == "https" else "http"))
        if ctx.client.host:
            headers.append(("X-Forwarded-Host", ctx.client.host))
        target = request_target(scope)
        scheme = "wss" if self.upstream.scheme == "https" else "ws"
        # The library writes Host from the URI; the socket goes to the upstream either way.
        # (serving.py refuses a missing or malformed Host before we get here.)
        browser_host = ctx.first.get(b"host")
        authority = browser_host.decode("latin-1") if self.preserve_host and browser_host else self.upstream.authority
        uri = f"{scheme}://{authority}{target.decode('latin-1')}"
        tls: dict[str, Any] = {"server_hostname": self.upstream.host} if scheme == "wss" else {}
        origin = ctx.first.get(b"origin")
        try:
            upstream = await connect(
                uri,
                additional_headers=headers,
                subprotocols=scope.get("subprotocols") or None,
                origin=origin.decode("latin-1") if origin else None,  # type: ignore[arg-type]
                user_agent_header=ctx.user_agent or None,
                compression=None,
                proxy=None,
                open_timeout=self.config.gateway.connect_timeout,
                max_size=self.max_message,  # a larger message from the site: closed with 1009
                max_queue=4,  # messages read ahead from the site while the browser is slow
                ssl=self.ssl,  # None for ws://
                host=self.upstream.host,
                port=self.upstream.port,
                **tls,
            )
        except (OSError, WebSocketException, TimeoutError, ValueError) as e:  # a redirect elsewhere: not followed
            log.info("websocket upstream refused: %s", type(e).__name__)
            if "websocket.http.response" in scope.get("extensions", {}):
                status = e.response.status_code if isinstance(e, InvalidStatus) else 502
                await send({"type": "websocket.http.response.start", "status": max(status, 400),
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "websocket.http.response.body", "body": b"upstream refused the websocket\n"})
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(upstream, receive, send)


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    async def browser_to_site() -> None:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                await upstream.close(code=msg.get("code", 1000))
                return
            data: Any = msg.get("bytes") if msg.get("bytes") is not None else msg.get("text")
            if data is not None:
                await upstream.send(data)

    async def site_to_browser() -> None:
        try:
            async for data in upstream:
                if isinstance(data, bytes):
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data})
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        await send({"type": "websocket.close", "code": code if code != 1005 else 1000})

    tasks = [asyncio.ensure_future(browser_to_site()), asyncio.ensure_future(site_to_browser())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in done:
            if t.exception() is not None and not isinstance(t.exception(), ConnectionClosed | OSError):
                log.info("websocket relay ended: %s", type(t.exception()).__name__)
    finally:
        await upstream.close()
