"""Is a state-changing request from this site? The check in front of every POST the gateway takes
(consent decisions, admin sign-in and sign-out).

The Origin header, or without it the Referer, must name our own origin exactly (scheme, host and
port, normalised). "null" (sandboxed frames, some redirects) and a request with neither never
match, and neither does a request when our own origin can't be told (no usable Host).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.config import normalise_origin
from gateway.context import RequestContext
from gateway.forwarded import ForwardedResolver

ORIGINS_CACHED = 256  # Origin header values → normalised origin: a site has a handful; visitors can invent more


class OriginCheck:
    def __init__(self, resolver: ForwardedResolver) -> None:
        self.resolver = resolver
        self._origins: dict[bytes, str | None] = {}

    def __call__(self, ctx: RequestContext) -> bool:
        own = self.resolver.own_origin(ctx.client)
        if own is None:
            return False
        origin = ctx.first.get(b"origin")
        if origin is not None:
            try:
                return self._origins[origin] == own
            except KeyError:
                normal = normalise_origin(origin.decode("latin-1"))
                if len(self._origins) < ORIGINS_CACHED:
                    self._origins[origin] = normal
                return normal == own
        referer = ctx.first.get(b"referer")
        if referer is None:
            return False
        parts = urlsplit(referer.decode("latin-1"))
        return normalise_origin(f"{parts.scheme}://{parts.netloc}") == own
