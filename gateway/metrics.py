"""Counters for /metrics (Prometheus text format) and the passive cookie inventory.

Counting is plain Python on the hot path (no locks, no label lookups). Several worker processes
share one port, so a scrape reaches one of them at random: each worker writes a snapshot of its
counts next to its log chain every few seconds, and whichever worker answers the scrape adds the
snapshots of its live siblings to its own. A sibling is live while it holds its chain's lock
(`ledger.claim_chain`), so a worker that died, or a slot of an earlier run with more workers, is
not counted.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

if TYPE_CHECKING:
    from gateway.cookies import CookieRules, RequestCookie
    from gateway.rewrite import RewriteStats

try:
    VERSION = importlib.metadata.version("consent-gateway")
except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "unknown"
# A site next door answers in well under 5 ms; the default buckets would put everything in one.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INVENTORY_LIMIT = 4096  # inventory rows held between two flushes; names are attacker-chosen
OTHER = "(other)"  # the inventory's name for names past the per-label bound (never a cookie name)
SNAPSHOT_INTERVAL = 2.0  # seconds a sibling worker's figures may lag in a scrape

Snapshot = dict[str, Any]
# (snapshot key prefix, metric name, help): the latency histograms, all on LATENCY_BUCKETS
_HISTOGRAMS = (
    ("latency", "consent_upstream_latency_seconds", "Upstream time to response head"),
    ("log_latency", "consent_log_write_seconds",
     "Time a recorded decision waited for the log to acknowledge it (durable per [log] group_commit)"),
)
# (snapshot key, metric name, help, label names): the labelled counters, in exposition order
_LABELLED = (
    ("decisions", "consent_decisions", "Consent decisions by action", ("action",)),
    ("decision_categories", "consent_decision_categories", "Categories granted or denied in decisions",
     ("category", "outcome")),
    ("stripped", "consent_cookies_stripped", "Request cookies stripped, by category", ("category",)),
    ("dropped", "consent_set_cookies_dropped", "Upstream Set-Cookie dropped, by category", ("category",)),
    ("neutralised", "consent_scripts_neutralised", "Tracker tags neutralised, by category", ("category",)),
    ("held", "consent_trackers_held", "Tracker tags held (script, iframe, pixel), by category and vendor",
     ("category", "vendor", "kind")),
    ("would_block", "consent_would_block",
     "Report mode: what enforce mode would have held (tags) or withheld (cookie, set-cookie)",
     ("category", "vendor", "kind")),
    ("upstream_errors", "consent_upstream_errors", "Upstream failures", ("kind",)),
    ("requests", "consent_requests", "HTTP requests answered, by status code and kind (html, other, consent)",
     ("code", "kind")),
    ("aggregated", "consent_decisions_aggregated",
     "Refusals and withdrawals applied over the per-address limit without their own log record", ("action",)),
    ("limited", "consent_decisions_limited", "Decisions refused with 429 by the per-address limit", ("action",)),
    ("unexpired", "consent_cookies_not_expired",
     "Withheld cookies left unexpired because a response reached its expiry cap", ("where",)),
    ("admin_failures", "consent_admin_auth_failures", "Failed admin credentials", ("outcome",)),
)


class Metrics:
    def __init__(self, inventory_names: int = 500) -> None:
        # label values joined by "\x1f" -> count, so a snapshot is plain JSON
        self.tallies: dict[str, TallyCounter[str]] = {key: TallyCounter() for key, *_ in _LABELLED}
        self.banners = 0
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.latency_sum = 0.0
        self.log_latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.log_latency_sum = 0.0
        self.backlog: Callable[[], int] = lambda: 0
        self.peers: Callable[[], list[Snapshot]] = list  # the live sibling workers' snapshots
        # name -> (label, count): what the gateway has seen in real traffic
        self.inventory: TallyCounter[tuple[str, str, str]] = TallyCounter()
        self.inventory_names = inventory_names
        self._names: dict[str, set[str]] = {}  # label -> distinct names admitted (bounded per label)
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))

    # --- counting (hot path) ------------------------------------------------------------

    def cookies(self, stripped: Iterable[RequestCookie], dropped: Iterable[str], rules: CookieRules) -> None:
        tally, inventory = self.tallies["stripped"], self._inventory
        for c in stripped:
            label = rules.label_of(c.name)
            tally[label] += 1
            inventory(c.name, label, "request")
        tally = self.tallies["dropped"]
        for name in dropped:
            label = rules.label_of(name)
            tally[label] += 1
            inventory(name, label, "set-cookie")

    def seen(self, names: Iterable[str], rules: CookieRules, where: str) -> None:
        inventory, label_of = self._inventory, rules.label_of
        for name in names:
            inventory(name, label_of(name), where)

    def _inventory(self, name: str, label: str, where: str) -> None:
        key = (name[:128], label, where)
        count = self.inventory.get(key)
        if count is not None:  # a row this drain already holds: the common case
            self.inventory[key] = count + 1
            return
        if key not in self.inventory:
            names = self._names.setdefault(label, set())
            if key[0] not in names:
                if len(names) >= self.inventory_names:
                    key = (OTHER, label, where)  # counted, under one name
                else:
                    names.add(key[0])
            if key not in self.inventory and len(self.inventory) >= INVENTORY_LIMIT:
                return
        self.inventory[key] += 1

    def drain_inventory(self) -> list[tuple[str, str, str, int]]:
        """Counts since the last drain, for the log's cookie inventory table."""
        rows = [(name, label, where, n) for (name, label, where), n in self.inventory.items()]
        self.inventory.clear()
        return rows

    def would_block(self, stripped: Iterable[RequestCookie], dropped: Iterable[str], rules: CookieRules) -> None:
        """Report mode: the cookies enforce mode would strip or drop, per category and vendor."""
        tally = self.tallies["would_block"]
        for names, kind in (((c.name for c in stripped), "cookie"), (dropped, "set-cookie")):
            for name in names:
                label = rules.label_of(name)
                tally[f"{label}\x1f{rules.vendor_of(name)}\x1f{kind}"] += 1
                if kind == "set-cookie":  # request cookies are all kept, so in the inventory by `seen`
                    self._inventory(name, label, kind)

    def rewritten(self, stats: RewriteStats, report: bool = False, banner: bool = False) -> None:
        """A page's rewrite is done; `banner`: its body injection was the first-layer banner."""
        if banner and stats.body_injected:
            self.banners += 1
        for category, n in stats.neutralised.items():
            self.tallies["neutralised"][category] += n
        tally = self.tallies["would_block" if report else "held"]
        for (category, vendor, kind), n in stats.held.items():
            tally[f"{category}\x1f{vendor}\x1f{kind}"] += n

    def request(self, status: int, kind: str) -> None:
        self.tallies["requests"][f"{status}\x1f{kind}"] += 1

    def banner_shown(self) -> None:
        self.banners += 1

    def upstream_latency(self, seconds: float) -> None:
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def log_latency(self, seconds: float) -> None:
        self.log_latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.log_latency_sum += seconds

    def upstream_error(self, kind: str) -> None:
        self.tallies["upstream_errors"][kind] += 1

    def decision(self, action: str, granted: Iterable[str], denied: Iterable[str]) -> None:
        self.tallies["decisions"][action] += 1
        for c in granted:
            self.tallies["decision_categories"][c + "\x1fgranted"] += 1
        for c in denied:
            self.tallies["decision_categories"][c + "\x1fdenied"] += 1

    # --- snapshots and exposition -------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return {"tallies": {k: dict(v) for k, v in self.tallies.items()}, "banners": self.banners,
                "latency_buckets": list(self.latency_buckets), "latency_sum": self.latency_sum,
                "log_latency_buckets": list(self.log_latency_buckets), "log_latency_sum": self.log_latency_sum,
                "backlog": self.backlog(), "workers": 1}

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


def merge_snapshots(snapshots: Iterable[Snapshot]) -> Snapshot:
    """Sum the figures of several workers. Malformed pieces of a snapshot are skipped, not fatal."""
    tallies: dict[str, TallyCounter[str]] = {key: TallyCounter() for key, *_ in _LABELLED}
    total: Snapshot = {"banners": 0, "backlog": 0, "workers": 0}
    for key, *_ in _HISTOGRAMS:
        total[f"{key}_buckets"], total[f"{key}_sum"] = [0] * (len(LATENCY_BUCKETS) + 1), 0.0
    for snap in snapshots:
        for key, values in (snap.get("tallies") or {}).items():
            if key in tallies and isinstance(values, dict):
                tallies[key].update({k: v for k, v in values.items() if isinstance(v, int)})
        for key in ("banners", "backlog", "workers", *(f"{h}_sum" for h, *_ in _HISTOGRAMS)):
            value = snap.get(key)
            if isinstance(value, int | float):
                total[key] += value
        for h, *_ in _HISTOGRAMS:
            buckets, mine = snap.get(f"{h}_buckets"), total[f"{h}_buckets"]
            if isinstance(buckets, list) and len(buckets) == len(mine) and all(type(n) is int for n in buckets):
                total[f"{h}_buckets"] = [a + b for a, b in zip(mine, buckets, strict=True)]
    total["tallies"] = tallies
    return total


class _Collector:
    """Builds the exposition at scrape time from this worker's figures and its live siblings'."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Metric]:
        merged = merge_snapshots([self.m.snapshot(), *self.m.peers()])
        for key, name, doc, labels in _LABELLED:
            family = CounterMetricFamily(name, doc, labels=list(labels))
            for joined, n in sorted(merged["tallies"][key].items()):
                values = joined.split("\x1f")
                if len(values) == len(labels):
                    family.add_metric(values, n)
            yield family
        yield CounterMetricFamily("consent_banners_shown", "Pages that carried the first-layer banner",
                                  value=merged["banners"])
        for key, name, doc in _HISTOGRAMS:
            cumulative, buckets = 0, []
            for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), merged[f"{key}_buckets"], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            yield HistogramMetricFamily(name, doc, buckets=buckets, sum_value=merged[f"{key}_sum"])
        yield GaugeMetricFamily("consent_log_spool_backlog", "Decisions waiting in the spool",
                                value=merged["backlog"])
        yield GaugeMetricFamily("consent_gateway_workers", "Worker processes whose figures this scrape sums",
                                value=merged["workers"])
        info = GaugeMetricFamily("consent_gateway_build_info", "The running version (always 1)",
                                 labels=["version", "python"])
        info.add_metric([VERSION, platform.python_version()], 1)
        yield info


# --- sharing between the workers of one instance (I/O) --------------------------------------

def snapshot_path(directory: Path, chain_id: str) -> Path:
    return directory / f".metrics-{chain_id}.json"


def write_snapshot(directory: Path, chain_id: str, snapshot: Snapshot) -> None:
    path = snapshot_path(directory, chain_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, separators=(",", ":")))
    os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one


def read_sibling_snapshots(directory: Path, chain_id: str) -> list[Snapshot]:
    """The snapshots of the other live workers of this instance (same chain base, other slot)."""
    base, _, _ = chain_id.rpartition("-")
    prefix = f".metrics-{base}-"
    out: list[Snapshot] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        slot = name[len(prefix):-len(".json")]
        if not (name.startswith(prefix) and name.endswith(".json") and slot.isdigit()):
            continue
        if f"{base}-{slot}" == chain_id or not _slot_is_live(directory / f".chain-{base}-{slot}.lock"):
            continue
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((directory / name).read_text())
            if isinstance(data, dict):
                out.append(data)
    return out


def _slot_is_live(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True  # another process holds it
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
