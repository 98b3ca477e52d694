"""The operator credential for /_consent/admin and /_consent/metrics: a bearer token or HTTP Basic.

A visitor's cookies never count. Each wrong credential is logged as one line (the scheme and the
client's /24 or /48, never the value) and counted; after `max_failures` within a minute the address
gets 429 for `lockout_seconds`, whatever it sends.
"""

from __future__ import annotations

import base64
import hmac
import logging

from gateway.config import AdminSettings
from gateway.context import RequestContext
from gateway.forwarded import truncate_ip
from gateway.metrics import Metrics
from gateway.ratelimit import FailureLimiter, address_key
from gateway.responses import send_text
from gateway.types import Scope, Send

log = logging.getLogger("consent_gateway.admin")
CHALLENGE = (b"www-authenticate", b'Basic realm="consent-gateway"')


class AdminAuth:
    def __init__(self, settings: AdminSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.failures = FailureLimiter(settings.max_failures, lockout=settings.lockout_seconds)

    async def gate(self, scope: Scope, send: Send, ctx: RequestContext) -> bool:
        """True when the operator may pass; otherwise the answer (401, or 429 while locked) is sent.

        Each wrong credential is logged (the scheme and the client's network, never the value);
        after `max_failures` in a minute the address is locked out for `lockout_seconds`.
        """
        key = address_key(ctx.client.ip)
        locked = self.failures.locked(key)
        if locked:
            await send_text(send, 429, "too many wrong credentials from this address; try again later\n",
                            [(b"retry-after", str(int(locked) + 1).encode())])
            return False
        if self.ok(ctx):
            return True
        auth = ctx.first.get(b"authorization")
        if auth:  # a browser's first request carries none: that is a prompt, not a failure
            scheme = auth.partition(b" ")[0].decode("latin-1")[:16].lower()
            count, locks = self.failures.failed(key)
            self.metrics.tallies["admin_failures"]["refused"] += 1
            network = truncate_ip(ctx.client.ip)
            log.warning("admin credential refused: %s from %s on %s (%d in the last minute)",
                        scheme, network, scope["path"][:64], count)
            if locks:
                log.warning("admin access locked for %d s for %s after %d wrong credentials",
                            self.settings.lockout_seconds, network, count)
        await send_text(send, 401, "credential required\n", [CHALLENGE])
        return False

    def ok(self, ctx: RequestContext) -> bool:
        """The operator surface: a bearer token or HTTP Basic; a visitor's cookies never count."""
        admin = self.settings
        if not admin.enabled:
            return False
        auth = ctx.first.get(b"authorization", b"")
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() == b"bearer" and admin.token:
            return hmac.compare_digest(value.strip(), admin.token.encode("utf-8"))
        if scheme.lower() == b"basic" and admin.username and admin.password:
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            ok_user = hmac.compare_digest(user.encode(), admin.username.encode())
            ok_pass = hmac.compare_digest(password.encode(), admin.password.encode())
            return ok_user and ok_pass
        return False
