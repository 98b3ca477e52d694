"""The operator's pages: /_consent/admin (the dashboard), /_consent/admin/login and /logout.

Scripts keep sending a bearer token or HTTP Basic in a header. A browser signs in with the form,
with whichever credential is configured; the form counts toward the same lockout as a header.
Both POSTs must come from our own origin (the admin cookie is also SameSite=Strict), and after
signing in the browser goes only to a dashboard path on this site.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from gateway.admin import ACTION_KEY, ACTIONS, dashboard_context, first_day, range_stats, would_block_rows
from gateway.adminauth import LOGIN_PATH, AdminAuth
from gateway.adminsession import PATH as ADMIN_PATH
from gateway.adminsession import AdminSessions
from gateway.admintexts import AdminTexts
from gateway.banner import Banner
from gateway.config import Config
from gateway.context import RequestContext
from gateway.daterange import PRESETS, parse_query, parse_range
from gateway.errors import BadRequest
from gateway.forwarded import ForwardedResolver, truncate_ip
from gateway.ledger import Ledger
from gateway.metrics import Metrics, merge_snapshots
from gateway.origincheck import OriginCheck
from gateway.requestbody import read_bounded_body
from gateway.responses import NO_STORE, send_bytes, send_html, send_text
from gateway.types import Headers, Receive, Scope, Send

log = logging.getLogger("consent_gateway.admin")
LOGOUT_PATH = ADMIN_PATH + "/logout"
MAX_FORM = 4096  # a username, a password or a token, and where to go next
CSP = (b"content-security-policy",
       b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
Handler = Callable[[Scope, Receive, Send, RequestContext], Awaitable[None]]


def admin_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path on this site, else the dashboard itself."""
    if not value or len(value) > 1024 or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value) or "\\" in value:
        return ADMIN_PATH
    parts = urlsplit(value)
    path = parts.path
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return ADMIN_PATH
    if not (path == ADMIN_PATH or path.startswith(ADMIN_PATH + "/")) or path.startswith(LOGIN_PATH):
        return ADMIN_PATH
    if ".." in path.split("/") or "%2e" in path.lower():  # no climbing out of the dashboard
        return ADMIN_PATH
    return value


class AdminPages:
    def __init__(self, config: Config, banner: Banner, ledger: Ledger, resolver: ForwardedResolver,
                 metrics: Metrics, texts: AdminTexts | None = None) -> None:
        self.config = config
        self.banner = banner
        self.ledger = ledger
        self.resolver = resolver
        self.same_origin = OriginCheck(resolver)  # a sign-in or sign-out POST comes from this site
        self.metrics = metrics
        self.texts = texts or AdminTexts()
        self.sessions = AdminSessions(config.admin, config.consent.secret_keys, 60 * config.admin.session_minutes)
        self.auth = AdminAuth(config.admin, metrics, self.sessions)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("GET", ADMIN_PATH): self.dashboard, ("GET", LOGIN_PATH): self.login_form,
                ("POST", LOGIN_PATH): self.login, ("POST", LOGOUT_PATH): self.logout}

    # --- sign-in ----------------------------------------------------------------------------

    async def login_form(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not self.config.admin.enabled:
            await send_text(send, 404, "not found\n")
            return
        query = small_query(scope)
        locale = self.texts.choose(query.get("lang"), ctx.first.get(b"accept-language"))
        notice = self.texts[locale]["login"]["signed_out"] if query.get("out") == "1" else ""
        await self._login_page(send, 200, locale, admin_next(query.get("next")), notice=notice)

    async def login(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not self.config.admin.enabled:
            await send_text(send, 404, "not found\n")
            return
        if not self.same_origin(ctx):
            raise BadRequest("cross-origin sign-in refused: the form must be posted from this site", 403)
        form = await read_form(receive, ctx)
        locale = self.texts.choose(form.get("lang"), ctx.first.get(b"accept-language"))
        next_path = admin_next(form.get("next"))
        locked = self.auth.locked(ctx)
        if locked:  # nothing is checked while locked, not even a right credential
            await self._locked_page(send, locale, next_path, locked)
            return
        token, user, password = form.get("token", ""), form.get("username", ""), form.get("password", "")
        right = self.auth.token_ok(token.encode("utf-8")) if token else self.auth.password_ok(user, password)
        if not right:
            self.auth.failed(ctx, "form", LOGIN_PATH)
            locked = self.auth.locked(ctx)
            if locked:
                await self._locked_page(send, locale, next_path, locked)
            else:
                await self._login_page(send, 403, locale, next_path, error=self.texts[locale]["login"]["wrong"])
            return
        log.info("admin signed in with the form (%s) from %s", "token" if token else "password",
                 truncate_ip(ctx.client.ip))
        await redirect(send, next_path, [(b"set-cookie", self.sessions.set_cookie(ctx.secure))])

    async def logout(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not self.same_origin(ctx):
            raise BadRequest("cross-origin sign-out refused", 403)
        form = await read_form(receive, ctx)
        lang = self.texts.choose(form.get("lang"), ctx.first.get(b"accept-language"))
        await redirect(send, LOGIN_PATH + "?" + urlencode({"out": "1", "lang": lang}),
                       [(b"set-cookie", self.sessions.clear_cookie(ctx.secure))])

    async def _login_page(self, send: Send, status: int, locale: str, next_path: str, *, error: str = "",
                          notice: str = "", headers: Headers | None = None) -> None:
        admin = self.config.admin
        html = self.banner.render(
            "admin-login.html", t=self.texts[locale], lang=locale, languages=self.texts.languages(),
            next_path=next_path, error=error, notice=notice, action=LOGIN_PATH,
            has_password=bool(admin.username and admin.password), has_token=bool(admin.token),
            minutes=admin.session_minutes, switch=self._switch_links(locale, {"next": next_path}, LOGIN_PATH))
        await send_html(send, status, html, [CSP, (b"content-language", locale.encode("ascii")), *(headers or [])])

    async def _locked_page(self, send: Send, locale: str, next_path: str, seconds: float) -> None:
        wait = int(seconds) + 1
        message = self.texts[locale]["login"]["locked"].format(seconds=wait)
        await self._login_page(send, 429, locale, next_path, error=message,
                               headers=[(b"retry-after", str(wait).encode())])

    def _switch_links(self, current: str, keep: dict[str, str], path: str) -> list[dict[str, Any]]:
        return [{"tag": tag, "name": name, "current": tag == current,
                 "href": path + "?" + urlencode({**keep, "lang": tag})} for tag, name in self.texts.languages()]

    # --- the dashboard ----------------------------------------------------------------------

    async def dashboard(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
        if not self.config.admin.enabled:
            await send_text(send, 404, "not found\n")
            return
        if not await self.auth.gate(scope, send, ctx, login=True):
            return
        query = parse_query(scope.get("query_string", b""))
        locale = self.texts.choose(query.get("lang"), ctx.first.get(b"accept-language"))
        chosen = parse_range(query, dt.datetime.now(dt.UTC).date())
        store = self.ledger.store
        try:
            raw = await store.stats()
            inventory = await store.inventory()
        except Exception as e:  # noqa: BLE001 - the log is down: say so, plainly
            await send_text(send, 503, f"the consent log is unavailable ({type(e).__name__})\n")
            return
        start, end = chosen.resolve(first_day(raw["groups"]))
        ids = self.config.category_ids
        stats = range_stats(raw, ids, start, end)
        data = dashboard_context(stats, inventory, self.ledger.backlog, ids, self.config.consent.policy_version,
                                 self.banner.declaration.catalog, start, end)
        keep = ({"range": chosen.preset} if chosen.preset != "custom" else
                {k: v for k, v in (("from", query.get("from", "")), ("to", query.get("to", ""))) if v})
        t = self.texts[locale]
        html = self.banner.render(
            "admin.html", **data, t=t, lang=locale, languages=self.texts.languages(),
            switch=self._switch_links(locale, keep, ADMIN_PATH),
            presets=[{"id": p, "label": t["dashboard"]["presets"][p], "current": p == chosen.preset,
                      "href": ADMIN_PATH + "?" + urlencode({"range": p, "lang": locale})} for p in PRESETS],
            titles={c: self.banner.category_text(locale, c, "title") for c in ids},
            action_labels={ACTION_KEY + a: t["dashboard"]["actions"].get(a, a) for a in ACTIONS},
            report_mode=self.config.consent.mode == "report", would_block=self._would_block(),
            logout=LOGOUT_PATH)
        await send_html(send, 200, html, [CSP, (b"content-language", locale.encode("ascii"))])

    def _would_block(self) -> list[dict[str, Any]]:
        merged = merge_snapshots([self.metrics.snapshot(), *self.metrics.peers()])
        return would_block_rows(merged["tallies"]["would_block"])


def small_query(scope: Scope) -> dict[str, str]:
    """The sign-in page's few parameters (first value wins); a hostile query string is just ignored."""
    try:
        pairs = parse_qsl(scope.get("query_string", b"")[:2048].decode("latin-1"), max_num_fields=8)
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


async def redirect(send: Send, path: str, headers: Headers) -> None:
    location = quote(path, safe="/?#&=%:@!$'()*+,;~-._").encode("ascii")
    await send_bytes(send, 303, b"", b"text/plain; charset=utf-8", [(b"location", location), NO_STORE, *headers])


async def read_form(receive: Receive, ctx: RequestContext) -> dict[str, str]:
    """A small urlencoded form, each field once (the first wins); anything larger is refused."""
    ctype = ctx.first.get(b"content-type", b"").split(b";")[0].strip().lower()
    if ctype not in (b"application/x-www-form-urlencoded", b""):
        raise BadRequest("send the form as application/x-www-form-urlencoded", 415)
    body = await read_bounded_body(receive, MAX_FORM, ctx.first.get(b"content-length"), "form")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except UnicodeDecodeError:
        raise BadRequest("form must be UTF-8") from None
    except ValueError:
        raise BadRequest("too many form fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form
