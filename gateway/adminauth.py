"""The operator credential for /_consent/admin and /_consent/metrics: a bearer token or HTTP Basic
in a header (scripts), or the signed session cookie the login form sets (browsers; see adminsession).

A visitor's cookies never count. Each wrong credential, from a header or the form, is logged as one
line (the way it came and the client's /24 or /48, never the value) and counted; after
`max_failures` within a minute the address (IPv6: its /64) gets 429 for `lockout_seconds`, whatever
it sends, and so does an IPv6 /48 after NETWORK_FACTOR times as many: one /48 holds 65,536 /64s.
A session cookie that fails its signature counts as a wrong credential too: its salt carries the
credential's digest, so whoever knows a consent key could otherwise test one password guess per
forged cookie, unlimited. (An expired cookie of ours is not a failure: it only asks to sign in.)
"""

from __future__ import annotations

import base64
import hmac
import logging
from urllib.parse import quote

from gateway.adminsession import COOKIE, AdminSessions
from gateway.config import AdminSettings
from gateway.context import RequestContext
from gateway.forwarded import truncate_ip
from gateway.metrics import Metrics
from gateway.ratelimit import FailureLimiter, address_key, network_key
from gateway.responses import NO_STORE, send_bytes, send_text
from gateway.types import Scope, Send

log = logging.getLogger("consent_gateway.admin")
LOGIN_PATH = "/_consent/admin/login"
NETWORK_FACTOR = 4  # an IPv6 /48 may fail this many times max_failures a minute before it is locked
SCHEMES = frozenset({"bearer", "basic", "digest", "negotiate", "ntlm"})  # logged by name; anything else
# is "other": a script that sends the bare token would otherwise log its first characters


class AdminAuth:
    def __init__(self, settings: AdminSettings, metrics: Metrics, sessions: AdminSessions | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sessions = sessions
        self.failures = FailureLimiter(settings.max_failures, lockout=settings.lockout_seconds)
        self.network_failures = FailureLimiter(settings.max_failures * NETWORK_FACTOR,
                                               lockout=settings.lockout_seconds)

    @property
    def challenge(self) -> tuple[bytes, bytes]:
        # Basic only when a username and password exist: a prompt no password can satisfy helps nobody
        if self.settings.username and self.settings.password:
            return b"www-authenticate", b'Basic realm="consent-gateway", charset="UTF-8"'
        return b"www-authenticate", b'Bearer realm="consent-gateway"'

    def locked(self, ctx: RequestContext) -> float:
        wait = self.failures.locked(address_key(ctx.client.ip))
        network = network_key(ctx.client.ip)
        return max(wait, self.network_failures.locked(network)) if network else wait

    async def gate(self, scope: Scope, send: Send, ctx: RequestContext, *, login: bool = False) -> bool:
        """True when the operator may pass; otherwise the answer is sent: 429 while locked, a
        redirect to the login form for a browser's page load (with `login`), else 401."""
        locked = self.locked(ctx)
        if locked:  # nothing is checked while locked: a forged cookie is a guess too
            await send_locked(send, locked)
            return False
        auth = ctx.first.get(b"authorization")
        if auth:  # a browser's first request carries none: that is a prompt, not a failure
            if self.header_ok(auth):
                return True
            scheme = auth.partition(b" ")[0].decode("latin-1").lower()
            self.failed(ctx, scheme if scheme in SCHEMES else "other", scope["path"])
        else:
            session = self.session(ctx)
            if session == "ok":
                return True
            if session == "bad":
                self.failed(ctx, "cookie", scope["path"])
        if not auth and login and wants_page(ctx):
            target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            location = LOGIN_PATH + "?next=" + quote(target[:1024], safe="/")
            await send_bytes(send, 303, b"", b"text/plain; charset=utf-8",
                             [(b"location", location.encode("ascii")), NO_STORE])
            return False
        await send_text(send, 401, "credential required (or sign in at " + LOGIN_PATH + ")\n", [self.challenge])
        return False

    def failed(self, ctx: RequestContext, how: str, path: str) -> None:
        """Counts and logs one wrong credential; never its value, nor the username."""
        count, locks = self.failures.failed(address_key(ctx.client.ip))
        wide = network_key(ctx.client.ip)
        wide_count, wide_locks = self.network_failures.failed(wide) if wide else (0, False)
        self.metrics.tallies["admin_failures"]["refused"] += 1
        network = truncate_ip(ctx.client.ip)
        log.warning("admin credential refused: %s from %s on %s (%d in the last minute)",
                    how, network, path[:64], count)
        if locks:
            log.warning("admin access locked for %d s for %s after %d wrong credentials",
                        self.settings.lockout_seconds, network, count)
        if wide_locks:
            log.warning("admin access locked for %d s for the network %s after %d wrong credentials from it",
                        self.settings.lockout_seconds, wide, wide_count)

    def header_ok(self, auth: bytes) -> bool:
        """A bearer token or HTTP Basic (a script's credential)."""
        if not self.settings.enabled:
            return False
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() == b"bearer":
            return self.token_ok(value.strip())
        if scheme.lower() == b"basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return self.password_ok(user, password)
        return False

    def session(self, ctx: RequestContext) -> str:
        """Our signed session cookie, set by the sign-in form (a browser's credential): "ok" when one
        of them is valid, else "bad" when one is not ours, "expired", or "" when there is none."""
        if not self.settings.enabled or self.sessions is None:
            return ""
        prefix = COOKIE.encode("ascii") + b"="
        found = {self.sessions.check(c.raw[len(prefix):].decode("latin-1").strip('"'))
                 for c in ctx.cookies if c.name == COOKIE}
        return next((kind for kind in ("ok", "bad", "expired") if kind in found), "")

    def token_ok(self, token: bytes) -> bool:
        expected = self.settings.token
        return bool(expected) and hmac.compare_digest(token, expected.encode("utf-8"))

    def password_ok(self, user: str, password: str) -> bool:
        admin = self.settings
        if not (admin.username and admin.password):
            return False
        # both compared every time, so the time taken says nothing about which one was wrong
        ok_user = hmac.compare_digest(user.encode("utf-8"), admin.username.encode("utf-8"))
        ok_pass = hmac.compare_digest(password.encode("utf-8"), admin.password.encode("utf-8"))
        return ok_user and ok_pass


def wants_page(ctx: RequestContext) -> bool:
    """A browser loading a page (not a script or a scraper asking for data)."""
    mode = ctx.first.get(b"sec-fetch-mode")
    if mode is not None:
        return mode == b"navigate"
    return b"text/html" in ctx.first.get(b"accept", b"")


async def send_locked(send: Send, seconds: float) -> None:
    await send_text(send, 429, "too many wrong credentials from this address; try again later\n",
                    [(b"retry-after", str(int(seconds) + 1).encode())])
