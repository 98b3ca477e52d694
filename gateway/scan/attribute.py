"""Vendor, category and purpose for every cookie, request, storage key and beacon a scan found.

Two sources, the operator's first: the gateway config's own rules (cookie names and script URL
substrings per category, `--config`), then the tracker catalog (gateway/catalog). The config says
what the operator decided; the catalog adds the vendor, country and purpose it knows.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gateway.config import Config
from gateway.scan.model import Attribution, Phase, Violation

NECESSARY = "necessary"
# the gateway's own consent cookie (default name): necessary, it records the decision itself
OWN_COOKIES = frozenset({"consent_gateway", "__Host-consent_gateway"})


class EntryLike(Protocol):
    @property
    def vendor(self) -> str: ...
    @property
    def purpose(self) -> str: ...  # necessary | functional | analytics | marketing
    @property
    def country(self) -> str: ...
    @property
    def description(self) -> str: ...


class CatalogLike(Protocol):
    def cookie(self, name: str) -> EntryLike | None: ...
    def url(self, url_or_host: str) -> EntryLike | None: ...


def load_catalog(extra: Sequence[str | Path] = ()) -> CatalogLike | None:
    """The shipped tracker catalog plus the operator's files; None when this build has no catalog."""
    try:
        from gateway.catalog import Catalog  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    catalog: CatalogLike = Catalog.load(enabled=True, extra=list(extra))
    return catalog


class ConfigRules:
    """The config's classification: cookie globs and script URL substrings → category id."""

    def __init__(self, config: Config) -> None:
        self.required = frozenset(c.id for c in config.categories if c.required)
        own = config.consent.cookie_name
        self.cookies: list[tuple[re.Pattern[str], str]] = [
            (re.compile(fnmatch.translate(p)), NECESSARY) for p in (own, "__Host-" + own, *config.cookies.necessary)]
        self.scripts: list[tuple[str, str]] = []
        for cat in config.categories:
            self.cookies += [(re.compile(fnmatch.translate(p)), cat.id) for p in cat.cookies]
            self.scripts += [(s, cat.id) for s in cat.scripts]

    def cookie(self, name: str) -> str | None:
        return next((cat for regex, cat in self.cookies if regex.match(name)), None)

    def url(self, url: str) -> str | None:
        return next((cat for sub, cat in self.scripts if sub in url), None)

    def is_necessary(self, category: str) -> bool:
        return category == NECESSARY or category in self.required


class Attributor:
    def __init__(self, catalog: CatalogLike | None = None, config: Config | None = None) -> None:
        self.catalog = catalog
        self.rules = ConfigRules(config) if config else None

    def _combine(self, by_config: str | None, entry: EntryLike | None) -> Attribution:
        a = Attribution()
        if entry is not None:
            a = Attribution(vendor=entry.vendor or None, category=entry.purpose, purpose=entry.purpose,
                            description=entry.description or None, country=entry.country or None,
                            necessary=entry.purpose == NECESSARY, attributed_by="catalog")
        if by_config is not None and self.rules is not None:
            # the operator's decision wins over the catalog's opinion; the vendor is still the catalog's
            a.category = by_config
            a.necessary = self.rules.is_necessary(by_config)
            a.attributed_by = "config"
        return a

    def cookie(self, name: str) -> Attribution:
        if name in OWN_COOKIES and self.rules is None:  # with a config, its cookie_name decides
            return Attribution(vendor="consent-gateway", category=NECESSARY, purpose=NECESSARY,
                               description="the visitor's signed consent decision", necessary=True,
                               attributed_by="catalog")
        by_config = self.rules.cookie(name) if self.rules else None
        entry = self.catalog.cookie(name) if self.catalog else None
        return self._combine(by_config, entry)

    def storage(self, key: str) -> Attribution:
        # trackers reuse their cookie names as storage keys (_hjSession..., _ga): the cookie rules apply
        return self.cookie(key)

    def url(self, url: str) -> Attribution:
        by_config = self.rules.url(url) if self.rules else None
        entry = self.catalog.url(url) if self.catalog else None
        return self._combine(by_config, entry)


REASONS = {
    "before": "{what} before any decision",
    "reject": "{what} after reject",
}


def _label(a: Attribution) -> str:
    return a.purpose or a.category


def judge(phase: Phase, attributor: Attributor) -> None:
    """Attribute every item of the phase; before and after reject, list what consent should have held.

    A violation is a cookie or storage key known to be non-necessary, or a request or beacon to a
    known non-necessary tracker. Unknown items are not violations (they go to suggested.toml).
    """
    for c in phase.cookies:
        c.attribution = attributor.cookie(c.name)
    for s in phase.storage:
        s.attribution = attributor.storage(s.key)
    for r in phase.requests:
        r.attribution = attributor.url(r.url)
    for b in phase.beacons:
        b.attribution = attributor.url(b.url)
    if phase.name not in REASONS:
        return
    reason = REASONS[phase.name]
    out: list[Violation] = []
    for c in phase.cookies:
        if c.attribution.necessary is False:
            what = f"{_label(c.attribution)} cookie set by {c.set_by}"
            if not c.stored:
                what += " (refused by this browser's third-party cookie setting)"
            out.append(Violation("cookie", c.name, c.log.get("location"), c.attribution.vendor,
                                 c.attribution.category, reason.format(what=what)))
    for s in phase.storage:
        if s.attribution.necessary is False:
            out.append(Violation("storage", s.key, s.origin, s.attribution.vendor, s.attribution.category,
                                 reason.format(what=f"{_label(s.attribution)} {s.storage} key")))
    flagged: set[str] = set()
    for r in phase.requests:
        if r.attribution.necessary is False:
            flagged.add(r.url)
            out.append(Violation("request", None, r.url, r.attribution.vendor, r.attribution.category,
                                 reason.format(what=f"{r.type} request to a {_label(r.attribution)} tracker")))
    for b in phase.beacons:
        if b.attribution.necessary is False and b.url not in flagged:
            out.append(Violation("beacon", None, b.url, b.attribution.vendor, b.attribution.category,
                                 reason.format(what=f"{b.kind} to a {_label(b.attribution)} tracker")))
    phase.violations = out
