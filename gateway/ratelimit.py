"""A per-network token bucket for decision POSTs: the log is evidence, so nobody may flood it.

Keys are the client's /24 (IPv4) or /48 (IPv6), the same prefixes the log keeps. Memory is
bounded: the least recently seen networks are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, max_keys: int = 65_536) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, per_minute // 3))
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, stamp)

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when allowed (and counted); otherwise the seconds until the next one would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
