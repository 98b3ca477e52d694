"""One JSON access line per request, as Caddy and Traefik write them, without what must not be kept.

The line carries what an operator needs to answer "what happened to this request": method, the
path without its query (queries carry search terms, tokens and e-mail addresses), status, bytes,
the time spent in total and waiting for the site, the categories the visitor granted, and how many
cookies were stripped and dropped and tags neutralised. The client address is cut to its /24 or /48,
as in the consent log, or left out (`[gateway] access_log = "no-address"`).

uvicorn's own access lines (full address and port, whole query) are switched off in cli.py; this is
the only access log the gateway writes.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

from gateway.forwarded import truncate_ip
from gateway.types import Message, Send

log = logging.getLogger("consent_gateway.access")

# What the request was, for the line and for requests_total{kind}.
KIND_HTML = "html"  # a page the rewriter went through
KIND_OTHER = "other"  # anything else relayed from the site
KIND_CONSENT = "consent"  # the gateway's own endpoints


class AccessRecord:
    """What the stages learn about one exchange; filled as it goes, read once at its end."""

    __slots__ = ("status", "bytes", "upstream_seconds", "stripped", "dropped", "neutralised", "kind", "error")

    def __init__(self) -> None:
        self.status = 0
        self.bytes = 0
        self.upstream_seconds: float | None = None
        self.stripped = 0
        self.dropped = 0
        self.neutralised = 0
        self.kind = KIND_OTHER
        self.error = ""  # why the site could not be reached, when it could not


class CountingSend:
    """The ASGI `send` of one request, noting the status and the body bytes that went out."""

    __slots__ = ("_send", "_record")

    def __init__(self, send: Send, record: AccessRecord) -> None:
        self._send = send
        self._record = record

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            self._record.bytes += len(message.get("body", b""))
        elif kind == "http.response.start":
            self._record.status = message["status"]
        await self._send(message)


class AccessLog:
    def __init__(self, mode: str) -> None:
        """mode: "on" (truncated addresses), "no-address", or "off"."""
        self.enabled = mode != "off"
        self.addresses = mode == "on"
        self._second = -1  # the second `_prefix` spells, as "2026-11-29T00:17:57."
        self._prefix = ""

    def timestamp(self, now: float) -> str:
        """`datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")`, the same string
        (rounded to the microsecond half to even first, as datetime does), with the date and time
        of day formatted once a second instead of on every line."""
        frac, whole = math.modf(now)
        micros = round(frac * 1e6)
        second = int(whole)
        if micros >= 1_000_000:
            second += 1
            micros -= 1_000_000
        elif micros < 0:  # before 1970: modf's fraction is negative
            second -= 1
            micros += 1_000_000
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:-6] + "."
            self._second = second
        return f"{self._prefix}{micros // 1000:03d}+00:00"

    def emit(self, method: str, path: str, ip: str, granted: frozenset[str], record: AccessRecord,
             started: float) -> None:
        if not self.enabled or not log.isEnabledFor(logging.INFO):
            return
        now = time.time()
        line: dict[str, object] = {
            "ts": self.timestamp(now),
            "method": method,
            "path": path[:1024],
            "status": record.status,
            "bytes": record.bytes,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "kind": record.kind,
            "categories": sorted(granted),
            "stripped": record.stripped,
            "dropped": record.dropped,
            "neutralised": record.neutralised,
        }
        if record.upstream_seconds is not None:
            line["upstream_ms"] = round(record.upstream_seconds * 1000, 2)
        if record.error:
            line["upstream_error"] = record.error
        if self.addresses:
            line["client"] = truncate_ip(ip)
        # The fields go to the top level of the JSON line (cli.JsonFormatter), not into "msg".
        # makeRecord + handle rather than log.info: info() walks the stack for the caller's file and
        # line (findCaller), which no access line shows and which cost a fifth of the line's time.
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "access", (), None,
                                  extra={"fields": line}))
