"""Accept-Language negotiation (RFC 9110 12.5.4), shared by the banner and the dashboard.

The header is the visitor's: at most 32 items are read, a malformed item is skipped, and q=0
excludes. The best-ranked tag we have wins; then a tag's primary subtag matches any language we
have with the same one (zh, zh-Hans, zh-TW -> zh-CN); "*" or nothing usable gives the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_ITEMS = 32
_ITEM = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def negotiate(header: str, known: Mapping[str, str], fallback: str) -> str:
    """`known` maps lower-cased tags to the names we use (e.g. "zh-cn" -> "zh-CN")."""
    ranked = []
    for i, item in enumerate(header.split(",", MAX_ITEMS)[:MAX_ITEMS]):
        m = _ITEM.match(item)
        if not m:
            continue
        try:
            q = float(m.group(2)) if m.group(2) else 1.0
        except ValueError:
            continue
        if q > 0:
            ranked.append((-q, i, m.group(1).lower()))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return fallback
        if tag in known:
            return known[tag]
        base = tag.split("-")[0]
        for known_lower, name in known.items():
            if known_lower.split("-")[0] == base:
                return name
    return fallback
