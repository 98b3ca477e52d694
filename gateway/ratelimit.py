"""Per-address token buckets: decisions (nobody floods the log) and failed admin credentials.

A decision is limited per client address, never per network: one office or carrier-grade NAT is
many visitors behind one /24. IPv6 keys are the /64, which one host may use entirely. Only
requests that would be recorded count (a refused 400 costs nothing), and the burst lets one
address make `decision_burst` decisions at once before anything is limited.

Over the limit a refusal, rejection or withdrawal still takes effect (the visitor's cookie is
set, and nothing is ever granted without a log record); only its own log record is replaced by
counters: `consent_decisions_aggregated` in /metrics, and a warning line once a minute. A decision
that would grant something gets 429 with Retry-After. Memory is bounded: the least recently seen
addresses are forgotten first.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter, OrderedDict
from functools import lru_cache

log = logging.getLogger("consent_gateway.ratelimit")
REPORT_INTERVAL = 60.0


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


@lru_cache(maxsize=4096)
def address_key(ip: str) -> str:
    """The limit's key: the address itself (IPv4), its /64 (IPv6); "" when unreadable."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


@lru_cache(maxsize=4096)
def network_key(ip: str) -> str:
    """A wider key for the admin lockout: an IPv6 address's /48, the usual allocation to one site
    (and free from tunnel brokers: 65,536 /64s); "" for IPv4, where a /24 is often many unrelated
    customers of one host or carrier, and for unreadable addresses."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if not isinstance(addr, ipaddress.IPv6Address) or addr.ipv4_mapped:
        return ""
    return str(ipaddress.ip_network(f"{addr}/48", strict=False))


class AggregateReport:
    """Decisions applied over the limit without their own log record, reported once a minute."""

    def __init__(self, interval: float = REPORT_INTERVAL) -> None:
        self.interval = interval
        self.pending: Counter[str] = Counter()
        self._last = float("-inf")  # the first one is reported at once

    def add(self, action: str, now: float | None = None) -> None:
        self.pending[action] += 1
        now = time.monotonic() if now is None else now
        if now - self._last >= self.interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.pending:
            counts = ", ".join(f"{a}={n}" for a, n in sorted(self.pending.items()))
            log.warning("decision limit: %s applied without their own log record (counted in "
                        "consent_decisions_aggregated)", counts)
            self.pending.clear()
        self._last = time.monotonic() if now is None else now


class FailureLimiter:
    """Failed credentials per address: after `limit` in `window` seconds, locked for `lockout` s.

    While locked, nothing is checked (not even a right credential), so guessing stops paying.
    """

    def __init__(self, limit: int, window: float = 60.0, lockout: float = 300.0, max_keys: int = 65_536) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, int, float]] = OrderedDict()  # (start, count, locked until)

    def locked(self, key: str, now: float | None = None) -> float:
        """Seconds the address stays locked; 0 when it may try."""
        now = time.monotonic() if now is None else now
        state = self._state.get(key)
        return max(0.0, state[2] - now) if state else 0.0

    def failed(self, key: str, now: float | None = None) -> tuple[int, bool]:
        """Counts a failure: (failures in the current window, whether this one locked the address)."""
        now = time.monotonic() if now is None else now
        start, count, until = self._state.pop(key, (now, 0, 0.0))
        if now - start > self.window:
            start, count = now, 0
        count += 1
        locks = count >= self.limit
        if locks:
            until = now + self.lockout
        self._state[key] = (start, count, until)
        if len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return count, locks
