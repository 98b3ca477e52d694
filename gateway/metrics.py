"""Counters for /metrics (Prometheus text format) and the passive cookie inventory.

Each worker process counts for itself; with several workers, scrape each or aggregate upstream.
"""

from __future__ import annotations

from collections import Counter as TallyCounter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

if TYPE_CHECKING:
    from gateway.cookies import CookieRules, RequestCookie
    from gateway.rewrite import RewriteStats

# A site next door answers in well under 5 ms; the default buckets would put everything in one.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INVENTORY_LIMIT = 4096  # distinct cookie names remembered; names are attacker-chosen


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("consent_decisions", "Consent decisions by action", ["action"], registry=r)
        self.decision_categories = Counter("consent_decision_categories",
                                           "Categories granted or denied in decisions",
                                           ["category", "outcome"], registry=r)
        # Counted on every request: plain tallies (no lock, no label lookup), read at scrape time.
        self.stripped: TallyCounter[str] = TallyCounter()
        self.dropped: TallyCounter[str] = TallyCounter()
        self.neutralised: TallyCounter[str] = TallyCounter()
        self.banners = 0
        r.register(_Tallies(self))
        self.upstream_errors = Counter("consent_upstream_errors", "Upstream failures", ["kind"], registry=r)
        self.upstream_latency = Histogram("consent_upstream_latency_seconds", "Upstream time to response head",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.spool_backlog = Gauge("consent_log_spool_backlog", "Decisions waiting in the spool", registry=r)
        # name -> (label, count): what the gateway has seen in real traffic
        self.inventory: TallyCounter[tuple[str, str, str]] = TallyCounter()

    def cookies(self, stripped: Iterable[RequestCookie], dropped: Iterable[str], rules: CookieRules) -> None:
        for c in stripped:
            label = rules.label_of(c.name)
            self.stripped[label] += 1
            self._inventory(c.name, label, "request")
        for name in dropped:
            label = rules.label_of(name)
            self.dropped[label] += 1
            self._inventory(name, label, "set-cookie")

    def seen(self, names: Iterable[str], rules: CookieRules, where: str) -> None:
        for name in names:
            self._inventory(name, rules.label_of(name), where)

    def _inventory(self, name: str, label: str, where: str) -> None:
        key = (name[:128], label, where)
        if key in self.inventory or len(self.inventory) < INVENTORY_LIMIT:
            self.inventory[key] += 1

    def drain_inventory(self) -> list[tuple[str, str, str, int]]:
        """Counts since the last drain, for the log's cookie inventory table."""
        rows = [(name, label, where, n) for (name, label, where), n in self.inventory.items()]
        self.inventory.clear()
        return rows

    def rewritten(self, stats: RewriteStats) -> None:
        for category, n in stats.neutralised.items():
            self.neutralised[category] += n

    def banner_shown(self) -> None:
        self.banners += 1

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors.labels(kind).inc()

    def decision(self, action: str, granted: Iterable[str], denied: Iterable[str]) -> None:
        self.decisions.labels(action).inc()
        for c in granted:
            self.decision_categories.labels(c, "granted").inc()
        for c in denied:
            self.decision_categories.labels(c, "denied").inc()

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _Tallies:
    """Exposes the hot-path tallies as Prometheus counters when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[CounterMetricFamily]:
        for name, doc, tally in (
            ("consent_cookies_stripped", "Request cookies stripped, by category", self.m.stripped),
            ("consent_set_cookies_dropped", "Upstream Set-Cookie dropped, by category", self.m.dropped),
            ("consent_scripts_neutralised", "Tracker tags neutralised, by category", self.m.neutralised),
        ):
            family = CounterMetricFamily(name, doc, labels=["category"])
            for label, n in sorted(tally.items()):
                family.add_metric([label], n)
            yield family
        yield CounterMetricFamily("consent_banners_shown", "Pages that carried the first-layer banner",
                                  value=self.m.banners)
