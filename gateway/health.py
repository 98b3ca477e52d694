"""Liveness and readiness, in the shape Kubernetes probes and load balancers expect.

- live: the process answers. A failing liveness probe restarts the process, so it depends on
  nothing outside it (a database or site outage must not cause restarts).
- ready: this instance can do its job now: the consent log takes decisions durably (the database,
  or the local spool while it is away) and the site answers. A failing readiness probe takes the
  instance out of the pool, which is right when the site is unreachable from *this* instance.

The site counts as answering when a response head came from it within WINDOW seconds (real
traffic, free), or else when a fresh TCP (and TLS) connection to it succeeds: a probe that costs the
site one accepted connection, at most once per PROBE_EVERY seconds whatever the probe rate.
"""

from __future__ import annotations

import asyncio
import ssl
import time

from gateway.config import Upstream

WINDOW = 10.0
PROBE_EVERY = 2.0


class UpstreamHealth:
    def __init__(self, upstream: Upstream, tls: ssl.SSLContext | None, timeout: float) -> None:
        self.upstream = upstream
        self.tls = tls
        self.timeout = min(timeout, 5.0)  # a readiness probe must answer within its own timeout
        self.last_ok = 0.0
        self._probed_at = 0.0
        self._probe_ok = False
        self._probe_error = ""
        self._lock = asyncio.Lock()

    def saw_response(self) -> None:
        self.last_ok = time.monotonic()

    async def check(self) -> tuple[bool, str]:
        """(reachable, how we know)."""
        now = time.monotonic()
        if now - self.last_ok < WINDOW:
            return True, "traffic"
        async with self._lock:  # concurrent probes share one connection attempt
            if time.monotonic() - self._probed_at >= PROBE_EVERY:
                self._probe_ok, self._probe_error = await self._probe()
                self._probed_at = time.monotonic()
            return self._probe_ok, "probe" if self._probe_ok else self._probe_error

    async def _probe(self) -> tuple[bool, str]:
        u = self.upstream
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(u.host, u.port, ssl=self.tls, server_hostname=u.host if self.tls else None),
                self.timeout)
        except TimeoutError:
            return False, "connect timed out"
        except (OSError, ssl.SSLError) as e:
            return False, f"connect failed: {type(e).__name__}"
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self.timeout)
        except (TimeoutError, OSError, ssl.SSLError):
            pass  # connected is what we wanted to know
        return True, "probe"
