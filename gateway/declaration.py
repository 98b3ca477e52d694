"""Who receives what: the cookie declaration's data, for /_consent/cookies and the banner's
second layer. Built from the config's rules, the catalog and the cookie inventory the gateway has
seen; refreshed from the log store at most every REFRESH seconds, every list bounded.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.catalog import Catalog, Entry
from gateway.catalog.report import DEFAULT_CATEGORY
from gateway.config import Config
from gateway.metrics import OTHER

NECESSARY = "necessary"
REFRESH = 60.0  # seconds between two reads of the inventory
MAX_VENDORS = 100  # per category
MAX_COOKIES = 200  # per vendor
MAX_BANNER_VENDORS = 12  # named in the banner; the rest are "and N more"


@functools.lru_cache(maxsize=4)
def _load(enabled: bool, extra: tuple[str, ...]) -> Catalog:
    return Catalog.load(enabled=enabled, extra=extra)


def catalog_for(config: Config) -> Catalog:
    """THE catalog the operator- and visitor-facing parts use (declaration, banner, placeholders,
    dashboard): one accessor, so the app can hand them the catalog its enforcement loaded."""
    return _load(config.catalog.enabled, tuple(config.catalog.extra))


def category_for_purpose(purpose: str, config: Config) -> str | None:
    """The site category a catalog purpose maps to, if the config has that category."""
    target = DEFAULT_CATEGORY.get(purpose)
    if target == NECESSARY or (target is not None and config.category(target) is not None):
        return target
    return None


class InventoryStore(Protocol):
    async def inventory(self) -> list[tuple[str, str, str, int, str]]: ...


@dataclass
class Vendor:
    name: str  # "" = the site itself
    country: str = ""
    purposes: set[str] = field(default_factory=set)
    cookies: dict[str, str] = field(default_factory=dict)  # name or pattern -> retention ("" unknown)

    def add_cookie(self, name: str, retention: str) -> None:
        if name in self.cookies or len(self.cookies) < MAX_COOKIES:
            self.cookies[name] = self.cookies.get(name) or retention


class Declaration:
    """category id (or "necessary") -> vendors, and what changed since the last look."""

    def __init__(self, config: Config, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self.version = 0
        self._next_refresh = 0.0
        self._seen: tuple[tuple[str, str], ...] = ()  # (cookie name, label) from the inventory
        self.groups = self._build()

    # --- building ---------------------------------------------------------------------------

    def _vendor(self, groups: dict[str, dict[str, Vendor]], category: str, entry: Entry | None) -> Vendor | None:
        vendors = groups.setdefault(category, {})
        key = entry.vendor if entry else ""
        found = vendors.get(key)
        if found is None:
            if len(vendors) >= MAX_VENDORS:
                return None
            found = vendors[key] = Vendor(key, entry.country if entry else "")
        if entry is not None:
            found.purposes.add(entry.purpose)
            found.country = found.country or entry.country
        return found

    def _cookie(self, groups: dict[str, dict[str, Vendor]], category: str, name: str) -> None:
        entry = self.catalog.cookie(name)
        vendor = self._vendor(groups, category, entry)
        if vendor is not None:
            # a catalog glob names the family once: _hjSessionUser_123 and _456 are _hjSessionUser_*
            vendor.add_cookie(entry.pattern if entry else name, entry.retention if entry else "")

    def _build(self) -> dict[str, dict[str, Vendor]]:
        config = self.config
        groups: dict[str, dict[str, Vendor]] = {NECESSARY: {}}
        for c in config.categories:
            groups[c.id] = {}
        own = self._vendor(groups, NECESSARY, None)
        assert own is not None
        own.add_cookie(config.consent.cookie_name, f"{config.consent.max_age_days} days")
        for name in config.cookies.necessary:
            self._cookie(groups, NECESSARY, name)
        for c in config.categories:
            for name in c.cookies:
                self._cookie(groups, c.id, name)
            for pattern in c.scripts:
                entry = self.catalog.url(pattern)
                if entry is not None:
                    self._vendor(groups, c.id, entry)
        for name, label in self._seen:
            category = label if label == NECESSARY or config.category(label) is not None else None
            if category is None:
                entry = self.catalog.cookie(name)  # no rule yet: where the catalog's purpose puts it
                category = category_for_purpose(entry.purpose, config) if entry else None
            if category is not None:
                self._cookie(groups, category, name)
        return groups

    # --- refreshing ---------------------------------------------------------------------------

    def update(self, inventory: Sequence[tuple[str, str, str, int, str]]) -> bool:
        """Take the inventory's names; True when what a visitor is shown changed."""
        seen = tuple(sorted({(row[0], row[1]) for row in inventory if row[0] != OTHER}))
        if seen == self._seen:
            return False
        self._seen = seen
        self.groups = self._build()
        self.version += 1
        return True

    async def refresh(self, store: InventoryStore, *, force: bool = False) -> bool:
        """Read the inventory when the last read is older than REFRESH; True when it changed."""
        now = time.monotonic()
        if now < self._next_refresh and not force:
            return False
        self._next_refresh = now + REFRESH
        try:
            rows = await store.inventory()
        except Exception:  # noqa: BLE001 - the log is away: keep what we know
            return False
        return self.update(rows)

    # --- reading ------------------------------------------------------------------------------

    def banner_vendors(self) -> dict[str, tuple[str, ...]]:
        """The outside vendors of each category, by name (the site itself is not one)."""
        return {c: tuple(sorted(v for v in vendors if v)) for c, vendors in self.groups.items()}


LIFETIME = re.compile(r"^(\d+)\s*(second|sec|minute|min|hour|day|week|month|year)s?$", re.I)


def lifetime(text: str, texts: dict[str, Any]) -> str:
    """A catalog retention in the visitor's language: "13 months" -> "13 个月"; others as written."""
    words = texts.get("lifetimes", {})
    raw = text.strip().lower()
    if not raw or raw == "unknown":
        return str(words.get("unknown", "–"))
    if raw in words:
        return str(words[raw])
    m = LIFETIME.match(raw)
    if m:
        unit = {"sec": "second", "min": "minute"}.get(m.group(2).lower(), m.group(2).lower())
        if unit in words:
            return f"{m.group(1)} {words[unit]}"
    return text


def country_name(code: str, texts: dict[str, Any]) -> str:
    if not code:
        return str(texts.get("declaration", {}).get("unknown_country", "–"))
    return str(texts.get("countries", {}).get(code, code))
