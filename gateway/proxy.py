"""The proxy stage: request policy → transport → response policy → HTML rewrite → client.

Pure ASGI on the hot path. Header tables are built at import or at start, never per request.
What the site sees is `request_head` (a RequestHead), what the visitor gets is decided by
gateway.responsepolicy (a ResponsePlan) and gateway.pageplan (a RewritePlan); this module only
carries them out. The per-request state of a body on its way is an object (`AsIs`, `PageBody`),
and each chunk comes with whether it is the last. The head is held back until the first body
bytes are ready, so an upstream failure found while decoding the first chunk still becomes a
clean 502.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Protocol
from urllib.parse import quote

from gateway.accesslog import KIND_HTML, AccessRecord, CountingSend
from gateway.agents import is_bot
from gateway.banner import Banner
from gateway.config import Config
from gateway.context import RequestContext
from gateway.cookies import CookieRules, CookieScopes, RequestFilterResult, strip_request_cookies
from gateway.decoding import Utf16Transcoder, make_decoder
from gateway.errors import GatewayError, UpstreamBodyError
from gateway.forwarded import forwarded_for
from gateway.metrics import Metrics
from gateway.pageplan import PagePlanner
from gateway.responsepolicy import HOP_BY_HOP, ResponsePlan, ResponsePolicy
from gateway.responses import error_page
from gateway.rewrite import HtmlRewriter
from gateway.transport import RequestHead, Response, Transport
from gateway.types import Headers, Receive, Scope, Send

log = logging.getLogger("consent_gateway.proxy")

# Headers a client could set to steer the site or a framework behind us: the client's address,
# the original URL (IIS/Symfony routing overrides), the public port and path prefix. We send no
# such headers, so none from a client may pass (X-Forwarded-For/-Proto/-Host are rebuilt).
CLIENT_SPOOFABLE = frozenset({
    b"x-real-ip", b"true-client-ip", b"x-client-ip", b"x-cluster-client-ip", b"x-original-url",
    b"x-rewrite-url", b"x-original-host", b"x-forwarded-port", b"x-forwarded-prefix",
    b"x-forwarded-server", b"x-forwarded-scheme", b"x-forwarded-ssl",
})
REBUILT_REQUEST = HOP_BY_HOP | CLIENT_SPOOFABLE | {
    b"cookie", b"host", b"x-consent-categories", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host", b"forwarded", b"expect", b"content-length",
}


def connection_tokens(headers: Headers, first: dict[bytes, bytes]) -> frozenset[bytes]:
    """Every header named in any Connection header, each one a comma-separated list (RFC 9110
    §7.6.1): all of them are hop-by-hop, not only those of the first Connection header."""
    if b"connection" not in first:
        return frozenset()
    return frozenset(t.strip().lower() for n, v in headers if n == b"connection" for t in v.split(b","))


# What a path may hold unescaped besides letters, digits and "_.-~" (RFC 3986 pchar, and "/").
_PATH_SAFE = "/!$&'()*+,;=:@"


def request_target(scope: Scope) -> bytes:
    """The path and query as the client sent them. `raw_path` is optional in ASGI (uvicorn sends it;
    an older Daphne or Hypercorn may not): without it the decoded `path` is escaped again, so that a
    space cannot break the request line and an escaped "?" or "#" stays in the path instead of
    starting a query for the site (an escaped "/" comes back as "/": the server already lost it)."""
    raw: bytes | None = scope.get("raw_path")
    target = raw if raw else quote(scope["path"], safe=_PATH_SAFE).encode("ascii")
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return target


class Proxy:
    def __init__(self, config: Config, rules: CookieRules, banner: Banner, transport: Transport,
                 metrics: Metrics, scopes: CookieScopes | None = None) -> None:
        self.config = config
        self.rules = rules
        self.banner = banner
        self.transport = transport  # the pool (proxy mode) or a wrapped app (middleware)
        self.metrics = metrics
        self.scopes = scopes if scopes is not None else CookieScopes()  # learned; kept across reloads
        self.upstream_host = config.gateway.upstream.authority.encode("ascii")
        self.preserve_host = config.gateway.preserve_host
        self.max_html = config.gateway.max_html_bytes
        self._categories_header: dict[frozenset[str], bytes] = {}
        self.report = config.consent.mode == "report"
        self.policy = ResponsePolicy(config, rules, self.scopes)
        self.pages = PagePlanner(config, banner)

    # --- request side -------------------------------------------------------------------

    def _consent_header(self, granted: frozenset[str]) -> bytes:
        value = self._categories_header.get(granted)
        if value is None:
            value = ",".join(c for c in self.config.category_ids if c in granted).encode("ascii")
            self._categories_header[granted] = value
        return value

    def request_head(self, scope: Scope, ctx: RequestContext, cookie: bytes | None,
                     granted: frozenset[str]) -> RequestHead:
        """What the site may see of this request (the request policy): no bytes, no sockets."""
        method: bytes = scope["method"].encode("ascii")
        target = request_target(scope)
        named = connection_tokens(ctx.headers, ctx.first)
        content_length = None
        chunked = False
        host = ctx.first.get(b"host", self.upstream_host) if self.preserve_host else self.upstream_host
        headers: Headers = [(b"host", host)]
        for name, value in ctx.headers:
            if name in REBUILT_REQUEST or name in named:
                if name == b"content-length":
                    content_length = value
                elif name == b"transfer-encoding":
                    chunked = True
                continue
            headers.append((name, value))
        if cookie is not None:
            headers.append((b"cookie", cookie))
        client = ctx.client
        xff = forwarded_for(client, (scope.get("client") or ("",))[0], ctx.first.get(b"x-forwarded-for"))
        headers += [(b"x-forwarded-for", xff), (b"x-forwarded-proto", client.scheme.encode("ascii"))]
        if client.host:
            headers.append((b"x-forwarded-host", client.host.encode("latin-1")))
        headers.append((b"x-consent-categories", self._consent_header(granted)))
        has_body = False
        if chunked:
            headers.append((b"transfer-encoding", b"chunked"))
            has_body = True
        elif content_length is not None and content_length.strip() not in (b"0", b""):
            headers.append((b"content-length", content_length))
            has_body = True
        return RequestHead(method, target, headers, has_body, chunked)

    def handshake_head(self, scope: Scope, ctx: RequestContext) -> RequestHead:
        """A WebSocket handshake's request to the site: the same policy as any GET (crawler rule,
        cookie filter, hop-by-hop table, forwarded and consent headers); websocket.py hands it to
        the library, which writes the handshake's own fields."""
        granted = self.rules.required if is_bot(ctx.user_agent) else ctx.state.granted
        return self.request_head({**scope, "method": "GET"}, ctx, self._filter_request(ctx, granted).cookie_header,
                                 granted)

    # --- the exchange -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        bot = is_bot(ctx.user_agent)
        granted = self.rules.required if bot else ctx.state.granted  # crawlers: no optional cookies
        filtered = self._filter_request(ctx, granted)
        head = self.request_head(scope, ctx, filtered.cookie_header, granted)
        try:
            response = await self._send(scope, head, _request_body(receive) if head.has_body else None, ctx)
        except GatewayError as e:
            await self._fail(send, e, ctx)
            return
        try:
            await self._respond(scope, receive, send, ctx, granted, bot, filtered, response)
        finally:
            response.discard()  # a no-op once the body was relayed; closes it if anything raised before

    def _filter_request(self, ctx: RequestContext, granted: frozenset[str]) -> RequestFilterResult:
        filtered = strip_request_cookies(ctx.cookies, self.rules, granted)
        if self.report:  # what enforce mode would strip is counted; everything but our cookie goes
            self.metrics.would_block(filtered.stripped, (), self.rules)
            filtered = strip_request_cookies(ctx.cookies, self.rules, granted, everything=True)
        return filtered

    async def _send(self, scope: Scope, head: RequestHead, body: AsyncIterator[bytes] | None,
                    ctx: RequestContext) -> Response:
        started = time.perf_counter()
        response = await self.transport.send(scope, head, body)
        ctx.access.upstream_seconds = time.perf_counter() - started
        self.metrics.upstream_latency(ctx.access.upstream_seconds)
        return response

    async def _respond(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, granted: frozenset[str],
                       bot: bool, filtered: RequestFilterResult, response: Response) -> None:
        plan = self.policy.decide(response.status, response.headers, granted=granted,
                                  held=[c.name for c in filtered.stripped], secure=ctx.secure, host=ctx.client.host)
        self._count(ctx, filtered, plan)
        outgoing: Outgoing
        if not plan.rewrite or scope["method"] == "HEAD":  # HEAD: the headers a GET would get
            outgoing = AsIs(plan, response)
        else:
            ctx.access.kind = KIND_HTML
            page = self.pages.plan(ctx, granted, bot, scope["path"], plan.charset, plan.policies)
            outgoing = PageBody(plan, HtmlRewriter(page), response, self.max_html, self.metrics, ctx.access)
        await self._relay(send, receive, ctx, plan.status, outgoing)

    def _count(self, ctx: RequestContext, filtered: RequestFilterResult, plan: ResponsePlan) -> None:
        if self.report:
            self.metrics.would_block((), plan.would_drop, self.rules)
        if plan.unexpired:
            self.metrics.tallies["unexpired"]["response"] += plan.unexpired
        self.metrics.cookies(filtered.stripped, plan.dropped, self.rules)
        # every cookie seen, kept ones too: the cookies report and the declaration list them
        self.metrics.seen(filtered.kept, self.rules, "request")
        ctx.access.stripped, ctx.access.dropped = len(filtered.stripped), len(plan.dropped)

    async def _fail(self, send: Send, e: GatewayError, ctx: RequestContext) -> None:
        """The one path to the error page: counted, logged in the access line, in the visitor's language."""
        self.metrics.upstream_error(type(e).__name__)
        ctx.access.error = f"{type(e).__name__}: {e}"
        await error_page(CountingSend(send, ctx.access), e, self.banner,
                         self.banner.choose_locale(ctx.first.get(b"accept-language")))

    async def _relay(self, send: Send, receive: Receive, ctx: RequestContext, status: int, out: Outgoing) -> None:
        """Send the body to the client, the head with the first bytes (see module doc); the status and
        the bytes go into the access record here (the proxy's `send` is the server's own, unwrapped).

        A body that is already here whole (most are: head and body came in one read) goes out at
        once, as one message: with a Content-Length when `out.sized` (a rewritten body has none of
        its own), so the server writes it without chunked framing and without an extra write for
        the terminating chunk. Any other body streams (`_stream`).
        """
        record = ctx.access
        try:
            body = out.whole()
        except UpstreamBodyError as e:
            await self._broken(send, e, ctx, False)
            return
        if body is None:
            await self._stream(send, receive, ctx, status, out)
            return
        record.status = status
        record.bytes += len(body)
        await send({"type": "http.response.start", "status": status,
                    "headers": out.head(len(body) if out.sized else None)})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(self, send: Send, receive: Receive, ctx: RequestContext, status: int, out: Outgoing) -> None:
        """A body still on its way, chunk by chunk, each with whether it is the last."""
        record = ctx.access
        started = False
        watcher: asyncio.Task[None] | None = None
        disconnected: asyncio.Event | None = None
        chunks = out.chunks()
        try:
            async for chunk, last in chunks:
                if not started:
                    started = True
                    record.status = status
                    if last:
                        head = out.head(len(chunk) if out.sized else None)
                        await send({"type": "http.response.start", "status": status, "headers": head})
                        record.bytes += len(chunk)
                        await send({"type": "http.response.body", "body": chunk, "more_body": False})
                        return
                    await send({"type": "http.response.start", "status": status, "headers": out.head(None)})
                elif disconnected is None:
                    # A long body: notice a client that went away, so we stop reading the site.
                    # Not for the first chunk: most pages are one chunk and the task would cost.
                    disconnected = asyncio.Event()
                    watcher = asyncio.ensure_future(_watch_disconnect(receive, disconnected))
                elif disconnected.is_set():
                    return
                record.bytes += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                if last:
                    return
            if not started:
                record.status = status
                await send({"type": "http.response.start", "status": status, "headers": out.head(None)})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamBodyError as e:
            await self._broken(send, e, ctx, started)
        finally:
            if watcher is not None:
                watcher.cancel()
            await chunks.aclose()

    async def _broken(self, send: Send, e: UpstreamBodyError, ctx: RequestContext, started: bool) -> None:
        if not started:
            await self._fail(send, e, ctx)
            return
        self.metrics.upstream_error(type(e).__name__)
        ctx.access.error = f"{type(e).__name__}: {e}"
        # The head is gone: end without the final chunk so the client sees a broken body.
        log.warning("upstream body failed after response start: %s", e)


class Outgoing(Protocol):
    """A response body on its way to the client, chunk by chunk, each with whether it is the last."""

    sized: bool  # a body that came whole gets a Content-Length of ours

    def head(self, length: int | None) -> Headers: ...
    def whole(self) -> bytes | None: ...
    def chunks(self) -> AsyncGenerator[tuple[bytes, bool], None]: ...


class AsIs:
    """The site's body as it came (not HTML, partial, HEAD, or a coding we do not decode)."""

    sized = False

    def __init__(self, plan: ResponsePlan, response: Response) -> None:
        self.plan = plan
        self.response = response

    def head(self, length: int | None) -> Headers:
        return self.plan.head()

    def whole(self) -> bytes | None:
        """The whole body when all of it is here already, else None (and nothing is consumed)."""
        return self.response.take_whole()

    async def chunks(self) -> AsyncGenerator[tuple[bytes, bool], None]:
        response = self.response
        body = response.iter_body()
        try:
            async for chunk in body:
                yield chunk, response.drained
        finally:
            await body.aclose()  # gives the connection back now, not when a finalizer runs


class PageBody:
    """One HTML page on its way: decoded, transcoded to UTF-8 when it is UTF-16, rewritten.

    `utf8` is set (by the transcoder, before its first output) when the page is transcoded, so the
    head sent with the first bytes says charset=utf-8.
    """

    sized = True

    def __init__(self, plan: ResponsePlan, rewriter: HtmlRewriter, response: Response, limit: int,
                 metrics: Metrics, access: AccessRecord) -> None:
        self.plan = plan
        self.rewriter = rewriter
        self.response = response
        self.metrics = metrics
        self.access = access
        decoder = make_decoder(plan.coding, limit)
        assert decoder is not None  # the policy rewrites only what can be decoded
        self.decoder = Utf16Transcoder(decoder, plan.charset, self._to_utf8)
        self.utf8 = False

    def _to_utf8(self) -> None:
        self.utf8 = True
        self.rewriter.use_charset("utf-8")

    def head(self, length: int | None) -> Headers:
        return self.plan.head(utf8=self.utf8, length=length)

    def _rewrite(self, chunk: bytes) -> bytes:
        return b"".join(self.rewriter.feed(p) for p in self.decoder.decode(chunk))

    def _finish(self) -> bytes:
        rewriter = self.rewriter
        out = b"".join(rewriter.feed(p) for p in self.decoder.flush()) + rewriter.finish()
        self.metrics.rewritten(rewriter.stats, report=rewriter.plan.report, banner=rewriter.plan.banner)
        self.access.neutralised = sum(rewriter.stats.neutralised.values())
        return out

    def whole(self) -> bytes | None:
        """The whole page rewritten, when all of it is here already; else None (nothing consumed)."""
        body = self.response.take_whole()
        if body is None:
            return None
        return (self._rewrite(body) if body else b"") + self._finish()

    async def chunks(self) -> AsyncGenerator[tuple[bytes, bool], None]:
        response = self.response
        body = response.iter_body()
        try:
            async for chunk in body:
                out = self._rewrite(chunk)
                if response.drained:
                    # the common page: the whole body came at once; end it in the same message
                    yield out + self._finish(), True
                    return
                if out:
                    yield out, False
            yield self._finish(), True
        finally:
            await body.aclose()  # gives the connection back now, not when a finalizer runs


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away during upload")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _watch_disconnect(receive: Receive, event: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            event.set()
            return

