"""What a client may send before the gateway answers: the size, header count and time of a request
head, and the checks nginx makes before it proxies anything (Host, TRACE, CONNECT).

The numbers follow Envoy (60 KiB and 100 headers per head; nginx's `large_client_header_buffers
4 8k` is tighter) and nginx's `client_header_timeout`, `keepalive_timeout` and `send_timeout`.
A request body that pauses longer than body_timeout (nginx's `client_body_timeout`) gets a 408 too.
gateway/serving.py applies them while httptools parses; a refused head never reaches the app, so
the site is never asked.
"""

from __future__ import annotations

import http
import re
from dataclasses import dataclass
from typing import Any

from gateway.config import GatewaySettings


@dataclass(frozen=True)
class HeadLimits:
    header_timeout: float = 20.0
    keepalive_timeout: float = 75.0
    send_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    body_timeout: float = 60.0

    @classmethod
    def of(cls, app: Any) -> HeadLimits:
        """The limits of the gateway app uvicorn serves; the defaults for any other app."""
        settings = getattr(getattr(app, "config", None), "gateway", None)
        if not isinstance(settings, GatewaySettings):
            return cls()
        return cls(settings.header_timeout, settings.keepalive_timeout, settings.send_timeout,
                   settings.max_header_bytes, settings.max_headers, settings.body_timeout)


class Refused(Exception):
    """Raised inside a parser callback: it stops httptools at once, and says what to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> bytes:
        body = self.reason.encode("ascii") + b"\n"
        phrase = http.HTTPStatus(self.status).phrase.encode("ascii")
        allow = b"allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" if self.status == 405 else b""
        return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                b"%sconnection: close\r\n\r\n%s" % (self.status, phrase, len(body), allow, body))


TOO_LARGE = Refused(431, "request header fields too large")
TIMED_OUT = Refused(408, "request head not received in time")
BODY_TIMED_OUT = Refused(408, "request body not received in time")

# A host name, an IPv4 address or a bracketed IPv6 literal, with an optional port; what nginx's
# ngx_http_validate_host lets through, minus the oddities (no "/", "\", spaces, commas, "..").
_HOST = re.compile(rb"^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")
# TRACE echoes the request (credentials included) back; CONNECT would make us an open tunnel.
_REFUSED_METHODS = frozenset({b"TRACE", b"TRACK", b"CONNECT"})


def check_head(method: bytes, http_version: str, headers: list[tuple[bytes, bytes]]) -> Refused | None:
    """nginx's checks on a complete head: one valid Host (required in HTTP/1.1), no TRACE."""
    if method in _REFUSED_METHODS:
        return Refused(405, "method not allowed")
    hosts = [value for name, value in headers if name == b"host"]
    if not hosts:
        return Refused(400, "missing Host header") if http_version == "1.1" else None
    if len(hosts) > 1:
        return Refused(400, "more than one Host header")
    host = hosts[0]
    if not _HOST.match(host) or b".." in host:
        return Refused(400, "invalid Host header")
    return None
