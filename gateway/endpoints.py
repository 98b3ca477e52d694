"""The gateway's own endpoints under /_consent: state, decisions, receipt, banner, health, assets.

Every state-changing POST must come from our own origin; every redirect goes to a same-site path.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from gateway.adminpages import AdminPages
from gateway.agents import summarize
from gateway.banner import PREFIX, Banner, punctuation
from gateway.config import Config
from gateway.consent import ConsentCodec, ConsentState
from gateway.context import RequestContext
from gateway.cookiepage import CookiesPage
from gateway.cookies import CookieRules, CookieScopes, bounded_expiry_headers
from gateway.errors import BadRequest
from gateway.forwarded import ForwardedResolver, truncate_ip
from gateway.ledger import Decision, Ledger
from gateway.metrics import Metrics
from gateway.origincheck import OriginCheck
from gateway.proxyhints import forbidden_hint
from gateway.ratelimit import AggregateReport, RateLimiter, address_key
from gateway.requestbody import read_bounded_body
from gateway.responses import NO_STORE, send_bytes, send_html, send_json, send_text
from gateway.types import Headers, Receive, Scope, Send

log = logging.getLogger("consent_gateway.endpoints")

MAX_POST = 16 * 1024  # a decision is a few hundred bytes
MAX_FIELDS = 64
ACTIONS = frozenset({"accept_all", "reject_all", "save", "withdraw"})


def safe_next(value: str | None) -> str:
    """A same-site path to redirect to, or BadRequest. Never a scheme, a host or a control char."""
    if not value:
        return "/"
    if len(value) > 2048:
        raise BadRequest("next is too long")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in value):
        raise BadRequest("next must not contain control characters")
    # One "/" then no second one and no backslash (browsers read "/\x" as "//x"): a URL parser
    # can find neither a scheme nor a host in such a value (tests/test_endpoints.py checks this
    # against urllib for arbitrary text), so this is the whole check.
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        raise BadRequest("next must be a path on this site, like /page")
    return value


def location_header(path: str) -> bytes:
    # Percent-encode anything outside the URL characters so the header is plain ASCII.
    return quote(path, safe="/?#&=%:@!$'()*+,;~-._").encode("ascii")


class Endpoints:
    def __init__(self, config: Config, codec: ConsentCodec, rules: CookieRules, banner: Banner,
                 ledger: Ledger, resolver: ForwardedResolver, metrics: Metrics, scopes: CookieScopes,
                 ready: Callable[[], Awaitable[dict[str, object]]]) -> None:
        self.config = config
        self.codec = codec
        self.rules = rules
        self.banner = banner
        self.ledger = ledger
        self.resolver = resolver
        self.metrics = metrics
        self.scopes = scopes
        self.ready = ready
        self.category_ids = config.category_ids  # a property that builds a tuple: once, not thrice a decision
        self.same_origin = OriginCheck(resolver)
        self.limiter = RateLimiter(config.consent.decisions_per_minute, config.consent.decision_burst)
        self.aggregates = AggregateReport()
        self.admin = AdminPages(config, banner, ledger, resolver, metrics)  # the dashboard and its sign-in
        self.admin_auth = self.admin.auth
        self.routes: dict[tuple[str, str], Callable[[Scope, Receive, Send, RequestContext], Awaitable[None]]] = {
            ("GET", PREFIX): self.get_state,
            ("HEAD", PREFIX): self.get_state,
            ("POST", PREFIX): self.post_decision,
            ("GET", PREFIX + "/receipt"): self.receipt,
            ("GET", PREFIX + "/banner"): self.banner_fragment,
            ("GET", PREFIX + "/cookies"): CookiesPage(banner, ledger),
            ("GET", PREFIX + "/health"): self.health,
            ("HEAD", PREFIX + "/health"): self.health,
            ("GET", PREFIX + "/health/ready"): self.health,
            ("HEAD", PREFIX + "/health/ready"): self.health,
            ("GET", PREFIX + "/health/live"): self.live,
            ("HEAD", PREFIX + "/health/live"): self.live,
            ("GET", PREFIX + "/metrics"): self.metrics_page,
            **self.admin.routes(),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        path = scope["path"].rstrip("/") or "/"
        method = scope["method"]
        try:
            handler = self.routes.get((method, path))
            if handler is not None:
                await handler(scope, receive, send, ctx)
            elif method in ("GET", "HEAD") and path.startswith(PREFIX + "/static/consent-banner/"):
                await self.static(scope, send, path.rsplit("/", 1)[-1], ctx)
            elif any(p == path for _, p in self.routes):
                await send_text(send, 405, "method not allowed\n")
            else:
                await send_text(send, 404, "not found\n")
        except BadRequest as e:
            await self._bad_request(send, e, ctx)

    async def _bad_request(self, send: Send, e: BadRequest, ctx: RequestContext) -> None:
        if _wants_json(ctx):
            await send_json(send, e.status, {"error": e.message})
        else:
            await send_text(send, e.status, e.message + "\n")

    # --- state ------------------------------------------------------------------------------

    async def get_state(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        await send_json(send, 200, ctx.state.as_json(self.category_ids))

    async def post_decision(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not self.same_origin(ctx):
            hint = forbidden_hint(self.config.gateway, ctx)
            raise BadRequest("cross-origin request refused: Origin or Referer must be this site." + hint, 403)
        form = await self._read_form(receive, ctx)
        action = _one(form, "action")
        if action not in ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(sorted(ACTIONS))}")
        next_path = safe_next(_one(form, "next"))
        asked = form.get("categories", [])
        known = set(self.category_ids)
        unknown = [c for c in asked if c not in known]
        if unknown:
            raise BadRequest("unknown category: " + ", ".join(repr(c[:40]) for c in unknown[:5]))
        if action == "accept_all":
            granted = frozenset(known)
        elif action == "save":
            granted = frozenset(asked)
        else:
            granted = frozenset()
        # GPC from the header, or from the page's script (navigator.globalPrivacyControl)
        gpc = ctx.gpc or _one(form, "gpc") == "1"
        state = self.codec.decide(granted, previous=ctx.state, gpc=gpc)
        # Only a decision that would be recorded counts against the limit (see ratelimit).
        wait = self.limiter.allow(address_key(ctx.client.ip))
        if wait and not state.granted <= self.codec.required:
            # Never grant (or renew a grant of) an optional category without a log record.
            await self._limited(send, ctx, action, wait)
            return
        if wait:
            # A refusal or withdrawal always takes effect; under a flood it is counted, not logged.
            self.metrics.tallies["aggregated"][action] += 1
            self.aggregates.add(action)
        else:
            decision = self._decision(state, action, next_path, ctx, gpc)
            started = time.perf_counter()
            try:
                await self.ledger.append(decision)
            except Exception:  # noqa: BLE001 - any storage failure means "not recorded"
                log.exception("could not record a consent decision")
                await send_text(send, 503, "your choice could not be recorded; nothing was changed, please retry\n")
                return
            self.metrics.log_latency(time.perf_counter() - started)
            self.metrics.decision(action, decision.granted, decision.denied)
        await self._applied(send, ctx, state, next_path)

    async def _applied(self, send: Send, ctx: RequestContext, state: ConsentState, next_path: str) -> None:
        if ctx.state.consent_id is not None and state.issued_at is not None:
            # this decision replaces every earlier cookie of the id, wherever it was copied
            self.codec.revocations.revoke(ctx.state.consent_id, state.issued_at)
        headers: Headers = [(b"set-cookie", self.codec.set_cookie_header(state, secure=ctx.secure))]
        held = [] if self.config.consent.mode == "report" else [  # report mode expires nothing
            c.name for c in ctx.cookies if c.name and not self.rules.allowed(c.name, state.granted)]
        expiries, unexpired = bounded_expiry_headers(held, self.scopes, secure=ctx.secure, host=ctx.client.host,
                                                     limit=self.config.cookies.max_expiries)
        headers += expiries
        if unexpired:
            self.metrics.tallies["unexpired"]["decision"] += unexpired
        if _wants_json(ctx):
            await send_json(send, 200, state.as_json(self.category_ids), headers)
        else:
            headers += [(b"location", location_header(next_path)), NO_STORE]
            await send_bytes(send, 303, b"", b"text/plain; charset=utf-8", headers)

    async def _limited(self, send: Send, ctx: RequestContext, action: str, wait: float) -> None:
        self.metrics.tallies["limited"][action] += 1
        seconds = int(wait) + 1
        headers: Headers = [(b"retry-after", str(seconds).encode())]
        if _wants_json(ctx):
            locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
            texts = self.banner.texts(locale).get("banner", {})
            message = texts.get("retrying") or self.banner.texts("en")["banner"]["retrying"]
            await send_json(send, 429, {"error": "too many decisions from this address; nothing was changed",
                                        "retry_after": seconds, "message": message, "lang": locale}, headers)
        else:
            await send_text(send, 429, "too many decisions from this address; nothing was changed, "
                                       f"please retry in {seconds} s\n", [*headers, NO_STORE])

    def _decision(self, state: ConsentState, action: str, next_path: str, ctx: RequestContext,
                  gpc: bool) -> Decision:
        agent = summarize(ctx.user_agent)
        ids = self.category_ids
        assert state.consent_id is not None
        return Decision(
            record_id=uuid.uuid4().hex,
            ts=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            consent_id=state.consent_id,
            action=action,
            granted=tuple(c for c in ids if c in state.granted),
            denied=tuple(c for c in ids if c not in state.granted),
            policy_version=state.policy_version,
            locale=self.banner.choose_locale(ctx.first.get(b"accept-language")),
            path=urlsplit(next_path).path[:512],
            ip_prefix=truncate_ip(ctx.client.ip),
            browser=agent.browser,
            os=agent.os,
            device=agent.device,
            is_bot=agent.is_bot,
            gpc=gpc,  # the signal as sent, whether or not the config honours it
        )

    async def _read_form(self, receive: Receive, ctx: RequestContext) -> dict[str, list[str]]:
        body = await read_bounded_body(receive, MAX_POST, ctx.first.get(b"content-length"))
        ctype = ctx.first.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype == b"application/json":
            return _json_form(body)
        if ctype in (b"application/x-www-form-urlencoded", b""):
            try:
                pairs = parse_form(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest("form must be UTF-8") from None
            except ValueError:
                raise BadRequest(f"too many form fields (limit {MAX_FIELDS})") from None
            form: dict[str, list[str]] = {}
            for k, v in pairs:
                form.setdefault(k, []).append(v)
            return form
        raise BadRequest("send the form as application/x-www-form-urlencoded or application/json", 415)

    # --- pages --------------------------------------------------------------------------

    async def receipt(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), max_num_fields=8))
        try:
            next_path = safe_next(query.get("next"))
        except BadRequest:
            next_path = "/"
        locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
        history = []
        if ctx.state.consent_id:
            for r in await self.ledger.history(ctx.state.consent_id):
                d = r.decision
                history.append({"ts": d.ts, "utc": utc_text(d.ts), "action": self.banner.texts(locale).get(
                    "actions", {}).get(d.action, d.action), "granted": punctuation(locale)["sep"].join(
                    self.banner.category_text(locale, c, "title") for c in d.granted), "gpc": d.gpc})
        ctx_vars = self.banner.banner_context(locale, ctx.state, next_path)
        ctx_vars.update(
            r=self.banner.texts(locale).get("receipt", self.banner.texts("en")["receipt"]),
            state=ctx.state, history=history, inline=True, open_settings=True,
            css_url=self.banner.asset_url["banner.css"], localtime_js=self.banner.asset_url["localtime.js"],
        )
        html = self.banner.render("receipt.html", **ctx_vars)
        await send_html(send, 200, html, [(b"content-language", locale.encode("ascii"))])

    async def banner_fragment(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), max_num_fields=8))
        next_path = safe_next(query.get("next"))
        locale = self.banner.choose_locale(ctx.first.get(b"accept-language"))
        await send_html(send, 200, self.banner.fragment(locale, ctx.state, next_path))

    async def static(self, scope: Scope, send: Send, name: str, ctx: RequestContext) -> None:
        f = self.banner.static.get(name)
        if f is None:
            await send_text(send, 404, "not found\n")
            return
        if ctx.first.get(b"if-none-match") == f.etag:
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", f.etag)]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_bytes(send, 200, f.body, f.content_type,
                         [(b"etag", f.etag), (b"cache-control", b"public, max-age=31536000, immutable")])

    async def health(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        """Readiness (see health.py): the status code is the answer, the JSON says why."""
        report = await self.ready()
        await send_json(send, 200 if report.get("ready") else 503, report)

    async def live(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        await send_json(send, 200, {"live": True})

    async def metrics_page(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not await self.admin_auth.gate(scope, send, ctx):
            return
        await send_bytes(send, 200, self.metrics.render(), b"text/plain; version=0.0.4; charset=utf-8", [NO_STORE])


def parse_form(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)`: the same pairs and the
    same ValueError (a test holds them equal), without its generality; only a part holding '%' or
    '+' is unquoted, exactly as parse_qsl unquotes it."""
    if text.count("&") >= MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    return [(_unquote(name), _unquote(value)) for name, _, value in (f.partition("=") for f in text.split("&") if f)]


def _unquote(part: str) -> str:
    return unquote(part.replace("+", " ")) if "%" in part or "+" in part else part


def _one(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None


def _json_form(body: bytes) -> dict[str, list[str]]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
    form: dict[str, list[str]] = {}
    for key in ("action", "next", "gpc"):
        if key in data:
            if not isinstance(data[key], str):
                raise BadRequest(f"{key} must be a string")
            form[key] = [data[key]]
    cats = data.get("categories", [])
    if isinstance(cats, str):
        cats = [cats]
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats) or len(cats) > MAX_FIELDS:
        raise BadRequest("categories must be a list of category ids")
    form["categories"] = cats
    return form


def _wants_json(ctx: RequestContext) -> bool:
    return b"application/json" in ctx.first.get(b"accept", b"")


def utc_text(ts: str) -> str:
    """A logged UTC time as a reader sees it before the page's script shows it in local time."""
    try:
        when = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return ts
    return when.strftime("%Y-%m-%d %H:%M UTC")
