"""Which tracker a URL or an inline script is, for one visitor: the operator's `scripts` substrings
first, then the built-in catalog's host[/path] patterns (gateway/catalog).

Precedence, the one guard.js follows too (gateway/clientrules.py hands it both tables): the first
operator substring, in config order, whose category is withheld holds the tag. A text that any
operator substring matches is the operator's alone, so a host the operator put in a granted
category is never held by the catalog. Any other text is held when a catalog pattern of a withheld
category is in it, with the catalog's host boundaries; the leftmost (then longest) names it.

The catalog's patterns are searched with one Aho–Corasick pass per buffer (UrlMatcher), whatever
their number; only the operator's few substrings are tried one by one.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.catalog import Entry
from gateway.catalog.matcher import UrlMatcher


@dataclass(frozen=True, slots=True)
class Held:
    category: str
    vendor: str  # the catalog's vendor; "" for the operator's own rules


class TrackerRules:
    """Built once per set of granted categories (the proxy caches them), never per request."""

    def __init__(self, operator: tuple[tuple[str, str], ...], withheld: frozenset[str],
                 matcher: UrlMatcher[Entry] | None = None, catalog: Mapping[str, str] | None = None) -> None:
        self.operator = operator  # (lower-case substring, category) for every category, config order
        self.withheld = withheld
        # the operator's withheld substrings, for the rewriter's scan of the page between tags
        self.blocked = tuple((p, c) for p, c in operator if c in withheld)
        # catalog pattern -> category, only the withheld ones: the others never hold anything
        self.catalog = {p: c for p, c in (catalog or {}).items() if c in withheld}
        self.matcher = matcher if self.catalog else None
        # No withheld pattern holds '<', '>' or an HTML space, so none starts or ends at a tag's
        # edge: the hits of one pass over a buffer that fall in a whole token are exactly the hits
        # of a pass over that token alone (the rewriter then needs no second pass per tag).
        self.token_local = not any(c in p for p in self.catalog for c in "<>\t\n\f\r ")

    def __bool__(self) -> bool:
        return bool(self.blocked) or self.matcher is not None

    def match(self, text: str) -> Held | None:
        """The category (and vendor) a tag fetching this URL, or an inline script with this text,
        is held under; None when nothing withheld matches."""
        low = text.lower()
        mine = False
        for pattern, category in self.operator:
            if pattern in low:
                if category in self.withheld:
                    return Held(category, "")
                mine = True
        if mine or self.matcher is None:
            return None
        best: tuple[int, int, str] | None = None
        for start, pattern in self.matcher.hits(text):
            if pattern in self.catalog and (best is None or (start, -len(pattern)) < best[:2]):
                best = (start, -len(pattern), pattern)
        if best is None:
            return None
        return Held(self.catalog[best[2]], self.matcher.patterns[best[2]].vendor)

    def catalog_starts(self, low: bytes) -> list[int]:
        """Sorted start offsets of withheld catalog patterns in a lower-cased buffer (one pass)."""
        if self.matcher is None or not low:
            return []
        return sorted({start for start, pattern in self.matcher.hits(low, lowered=True) if pattern in self.catalog})


def first_at_or_after(starts: list[int], start: int, end: int) -> int:
    """The first offset in `starts` within [start, end), or -1."""
    i = bisect.bisect_left(starts, start)
    return starts[i] if i < len(starts) and starts[i] < end else -1
