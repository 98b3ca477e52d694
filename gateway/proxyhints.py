"""Telling an operator that a proxy in front of the gateway is not trusted, and what that breaks.

Without `trusted_proxies`, X-Forwarded-* are ignored (they are forgeable), so behind a proxy every
visitor has the proxy's address (one decision limit, one log prefix for all) and, behind a proxy
that terminates TLS, the page's https origin never matches the http origin the gateway sees: every
decision gets 403. We warn once, at the first request that shows it, and say so in the 403.
"""

from __future__ import annotations

import ipaddress
import logging

from gateway.config import GatewaySettings
from gateway.context import RequestContext
from gateway.forwarded import truncate_ip

log = logging.getLogger("consent_gateway.proxyhints")
SETTING = ('set [gateway] trusted_proxies to the proxy\'s address or network (for example ["127.0.0.0/8"] for a '
           'proxy on this host) or public_origin')


def _private(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_private


class ProxyHints:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.pending = True  # until the warning has been given: then this costs nothing per request

    def check(self, ctx: RequestContext) -> None:
        """Warn once when X-Forwarded-* arrive from an untrusted proxy on a private or loopback address."""
        first = ctx.first
        if ctx.client.trusted_peer or not (b"x-forwarded-for" in first or b"x-forwarded-proto" in first):
            return
        if not _private(ctx.client.ip):
            return  # a visitor forging the header is not a proxy in front of us
        self.pending = False
        log.warning("X-Forwarded-For/-Proto arrived from %s, which is not in trusted_proxies: they are "
                    "ignored, so every visitor shares the proxy's address (one decision limit, one log "
                    "prefix) and, behind a TLS-terminating proxy, every decision gets 403; %s",
                    truncate_ip(ctx.client.ip), SETTING)


def startup_warning(settings: GatewaySettings) -> str | None:
    """For `serve`: the one configuration that makes every decision fail behind a TLS proxy."""
    if settings.trusted_proxies or settings.public_origin:
        return None
    return ("neither trusted_proxies nor public_origin is set: if a proxy that terminates TLS runs in "
            "front of this gateway, every consent decision will get 403 (the page's https origin never "
            f"matches the http origin the gateway sees); {SETTING}")


def forbidden_hint(settings: GatewaySettings, ctx: RequestContext) -> str:
    """The likely cause of a 403 on a decision, when the configuration makes it likely."""
    if settings.trusted_proxies or settings.public_origin:
        return ""
    origin = ctx.first.get(b"origin") or ctx.first.get(b"referer") or b""
    if origin.startswith(b"https://") and ctx.client.scheme == "http":
        return (" The page is https but this gateway was reached over http: a proxy in front of it probably "
                f"terminates TLS, and without trusted_proxies its X-Forwarded-Proto is ignored; {SETTING}.")
    return ""
