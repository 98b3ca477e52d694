"""The proxy stage: request filter → upstream → response filter → HTML rewrite → client.

Pure ASGI on the hot path. Header tables are built at import or at start, never per request.
The responder holds back `http.response.start` until the first body bytes are ready, so an
upstream failure found while decoding the first chunk still becomes a clean 502.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable

from gateway.accesslog import KIND_HTML
from gateway.agents import is_bot
from gateway.banner import Banner
from gateway.config import Config
from gateway.consent import ConsentState
from gateway.context import RequestContext
from gateway.cookies import (
    CookieRules,
    CookieScopes,
    RequestFilterResult,
    bounded_expiry_headers,
    drop_response_cookies,
    strip_request_cookies,
)
from gateway.csp import Nonces, header_policies, nonces_for
from gateway.decoding import Utf16Transcoder, make_decoder
from gateway.errors import GatewayError, UpstreamBodyError
from gateway.forwarded import forwarded_for
from gateway.metrics import Metrics
from gateway.navigation import VARY, Page, classify
from gateway.responses import error_page
from gateway.rewrite import HtmlRewriter, RewritePlan, normalise_charset
from gateway.transport import RequestHead, Response, Transport
from gateway.types import Headers, Receive, Scope, Send

log = logging.getLogger("consent_gateway.proxy")

# RFC 9110 §7.6.1 hop-by-hop fields, plus the ones we rebuild ourselves.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade", b"proxy-authenticate", b"proxy-authorization",
    b"date",  # the server in front of the client writes its own Date
})
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
CHANGED_BODY_DROPS = frozenset({
    b"content-length", b"etag", b"content-encoding", b"accept-ranges", b"content-md5", b"digest",
    b"cache-control", b"last-modified",
})
# Not application/xhtml+xml: an XML parser would reject the banner's HTML and blank the page.
HTML_TYPES = (b"text/html",)


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
        # (pattern, category) for each category, to pick the non-granted ones per request
        self._script_rules = tuple((p, c.id) for c in config.categories for p in c.scripts)
        self._blocked_cache: dict[frozenset[str], tuple[tuple[str, str], ...]] = {}
        self._features_header: dict[frozenset[str], bytes] = {}

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
        target = scope.get("raw_path") or scope["path"].encode("utf-8")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
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

    def _permissions_policy(self, granted: frozenset[str]) -> bytes:
        """Browser ad and interest APIs off until their category is granted. Sent after the site's
        own header: in the combined field a repeated feature takes its last value, ours."""
        value = self._features_header.get(granted)
        if value is None:
            denied = dict.fromkeys(f for cid, features in self.config.consent.browser_features.items()
                                   if cid not in granted for f in features)
            value = ", ".join(f + "=()" for f in denied).encode("ascii")
            self._features_header[granted] = value
        return value

    # --- the exchange -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        state = ctx.state
        granted = state.granted
        bot = is_bot(ctx.user_agent)
        if bot:
            granted = self.rules.required  # crawlers get no optional cookies, whatever they send
        filtered = strip_request_cookies(ctx.cookies, self.rules, granted)
        head = self.request_head(scope, ctx, filtered.cookie_header, granted)
        body = _request_body(receive) if head.has_body else None
        started = time.perf_counter()
        access = ctx.access
        try:
            response = await self.transport.send(scope, head, body)
            access.upstream_seconds = time.perf_counter() - started
            self.metrics.upstream_latency(access.upstream_seconds)
        except GatewayError as e:
            await self._fail(send, e, ctx)
            return
        try:
            await self._respond(scope, receive, send, ctx, state, granted, bot, filtered, response)
        finally:
            response.discard()  # a no-op once the body was relayed; closes it if anything raised before

    async def _respond(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, state: ConsentState,
                       granted: frozenset[str], bot: bool, filtered: RequestFilterResult,
                       response: Response) -> None:
        access = ctx.access
        result = drop_response_cookies(response.headers, self.rules, granted, self.scopes)
        headers = [(n, v) for n, v in result.headers if n not in HOP_BY_HOP]
        held = [c.name for c in filtered.stripped if c.name]
        if held:
            expiries, unexpired = bounded_expiry_headers(held, self.scopes, secure=ctx.secure, host=ctx.client.host,
                                                         limit=self.config.cookies.max_expiries)
            headers += expiries
            if unexpired:
                self.metrics.tallies["unexpired"]["response"] += unexpired
        self.metrics.cookies(filtered.stripped, result.dropped, self.rules)
        access.stripped, access.dropped = len(filtered.stripped), len(result.dropped)

        content_type = b""
        encoding = b""
        for n, v in headers:
            if n == b"content-type":
                content_type = v
            elif n == b"content-encoding":
                encoding = v
        # Error pages carry tracker tags too: every HTML body is rewritten, except partial ones.
        rewrite = (
            content_type.split(b";")[0].strip().lower() in HTML_TYPES
            and response.status >= 200 and response.status not in (204, 206, 304)
        )
        decoder = make_decoder(encoding, self.max_html) if rewrite else None
        if decoder is not None:
            # the page we send is another body: other length, no encoding or validators, per visitor
            headers = [(n, v) for n, v in headers if n not in CHANGED_BODY_DROPS]
            headers.append((b"cache-control", b"private, no-cache"))
            headers.append((b"vary", VARY))  # the consent cookie, and what says page or fragment
            features = self._permissions_policy(granted)
            if features:
                headers.append((b"permissions-policy", features))
        if decoder is None or scope["method"] == "HEAD":  # HEAD: the headers a GET would get
            await self._relay(send, response.status, headers, response.iter_body(), lambda: response.drained,
                              receive, ctx, sized=False)
            return
        plan = self._plan(ctx, state, granted, bot, scope, content_type, header_policies(headers))
        rewriter = HtmlRewriter(plan)
        access.kind = KIND_HTML

        def to_utf8() -> None:  # a UTF-16 page leaves as UTF-8, and says so
            rewriter.use_charset("utf-8")
            headers[:] = [(n, v) for n, v in headers if n != b"content-type"]
            headers.append((b"content-type", b"text/html; charset=utf-8"))

        decoder = Utf16Transcoder(decoder, _charset_label(content_type), to_utf8)

        ended = False

        def finish() -> bytes:
            nonlocal ended
            ended = True
            self.metrics.rewritten(rewriter.stats)
            access.neutralised = sum(rewriter.stats.neutralised.values())
            return b"".join(rewriter.feed(p) for p in decoder.flush()) + rewriter.finish()

        async def transformed() -> AsyncIterator[bytes]:
            chunks = response.iter_body()
            try:
                async for chunk in chunks:
                    out = b"".join(rewriter.feed(p) for p in decoder.decode(chunk))
                    if response.drained:
                        # the common page: the whole body came at once; end it in the same message
                        yield out + finish()
                        return
                    if out:
                        yield out
                if not ended:
                    yield finish()
            finally:
                await chunks.aclose()  # gives the connection back now, not when a finalizer runs

        await self._relay(send, response.status, headers, transformed(), lambda: ended, receive, ctx, sized=True)

    def _plan(self, ctx: RequestContext, state: ConsentState, granted: frozenset[str], bot: bool,
              scope: Scope, content_type: bytes, policies: tuple[str, ...]) -> RewritePlan:
        blocked = self._blocked_cache.get(granted)
        if blocked is None:
            blocked = tuple((p, c) for p, c in self._script_rules if c not in granted)
            self._blocked_cache[granted] = blocked
        charset = normalise_charset(_charset_label(content_type))
        page = classify(ctx.first)  # a fragment gets neither, a frame no banner (see navigation)
        if bot or page is Page.FRAGMENT:
            return RewritePlan(blocked, b"", lambda _cs: b"", charset)
        locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
        path = scope["path"]
        show = not state.decided
        banner = self.banner
        framed = page is Page.FRAME

        def with_nonces(nonces: Nonces) -> tuple[bytes, Callable[[str], bytes]]:
            def body_html(cs: str) -> bytes:
                if framed:
                    return b""
                if show:
                    self.metrics.banner_shown()
                return banner.body_html(locale, state, path, show=show, nonces=nonces).encode(cs, "xmlcharrefreplace")

            return banner.head_html(state, nonces), body_html

        head, body = with_nonces(nonces_for(policies))
        placeholder = functools.partial(banner.placeholders.render, locale, path)
        return RewritePlan(blocked, head, body, charset, policies, with_nonces, placeholder)

    async def _fail(self, send: Send, e: GatewayError, ctx: RequestContext) -> None:
        """The one path to the error page: counted, logged in the access line, in the visitor's language."""
        self.metrics.upstream_error(type(e).__name__)
        ctx.access.error = f"{type(e).__name__}: {e}"
        await error_page(send, e, self.banner, self.banner.choose_locale(ctx.first.get(b"accept-language")))

    async def _relay(self, send: Send, status: int, headers: Headers, body: AsyncIterator[bytes],
                     at_end: Callable[[], bool], receive: Receive, ctx: RequestContext, *, sized: bool) -> None:
        """Stream a body to the client; send the head with the first bytes (see module doc).

        `at_end()` says, right after a chunk, that it was the last one. A body that arrives whole
        then goes out as one message: with a Content-Length when `sized` (a rewritten body has
        none of its own), so the server writes it without chunked framing and without an extra
        write for the terminating chunk.
        """
        started = False
        watcher: asyncio.Task[None] | None = None
        disconnected = asyncio.Event()
        try:
            async for chunk in body:
                if not started:
                    started = True
                    if at_end():
                        if sized:
                            headers.append((b"content-length", b"%d" % len(chunk)))
                        await send({"type": "http.response.start", "status": status, "headers": headers})
                        await send({"type": "http.response.body", "body": chunk, "more_body": False})
                        return
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                elif watcher is None:
                    # A long body: notice a client that went away, so we stop reading the site.
                    # Not for the first chunk: most pages are one chunk and the task would cost.
                    watcher = asyncio.ensure_future(_watch_disconnect(receive, disconnected))
                elif disconnected.is_set():
                    return
                last = at_end()
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                if last:
                    return
            if not started:
                await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamBodyError as e:
            if not started:
                await self._fail(send, e, ctx)
                return
            self.metrics.upstream_error(type(e).__name__)
            ctx.access.error = f"{type(e).__name__}: {e}"
            # The head is gone: end without the final chunk so the client sees a broken body.
            log.warning("upstream body failed after response start: %s", e)
        finally:
            if watcher is not None:
                watcher.cancel()
            if hasattr(body, "aclose"):
                await body.aclose()


def _charset_label(content_type: bytes) -> bytes:
    i = content_type.lower().find(b"charset=")
    return content_type[i + 8:].split(b";")[0] if i >= 0 else b""


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

