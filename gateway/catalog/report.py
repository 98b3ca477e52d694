"""`consent-gateway cookies report`: the cookie inventory with the catalog's vendor and purpose,
and a ready-to-paste TOML snippet for the cookies the config has no rule for."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from gateway.catalog import Catalog, Entry

# The default mapping of catalog purposes to the site's categories, for a report without a
# config's `[catalog] purposes` (config.DEFAULT_PURPOSES is the same map).
DEFAULT_CATEGORY = {"necessary": "necessary", "functional": "identity", "analytics": "personalization",
                    "marketing": "personalization"}
UNKNOWN_CATEGORY = "personalization"  # a guess that blocks until consent: the safe side

Row = tuple[str, str, str, int, str]  # name, label, seen in, count, last seen


def printable(text: str, width: int) -> str:
    """Names come from visitors' requests: no terminal control sequences, bounded width."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= width else clean[:width - 1] + "…"


def render(rows: Sequence[Row], catalog: Catalog, purposes: Mapping[str, str | None] | None = None) -> str:
    if not rows:
        return "no cookies seen yet\n"
    lines = [f"{'cookie':<36} {'category':<16} {'vendor':<24} {'purpose':<11} {'seen in':<11} {'count':>9}"
             "  last seen"]
    unclassified: dict[str, Entry | None] = {}
    for name, label, source, count, last in rows:
        entry = catalog.cookie(name)
        vendor, purpose = (entry.vendor, entry.purpose) if entry else ("?", "?")
        flag = "  <- not classified" if label == "unknown" else ""
        lines.append(f"{printable(name, 36):<36} {printable(label, 16):<16} {printable(vendor, 24):<24} "
                     f"{purpose:<11} {printable(source, 11):<11} {count:>9}  {printable(last, 24)}{flag}")
        if label == "unknown":
            unclassified.setdefault(name, entry)
    if unclassified:
        lines += ["", *snippet(unclassified.items(), purposes)]
    return "\n".join(lines) + "\n"


def _toml_list(names: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "]"  # JSON strings are TOML strings


def snippet(unclassified: Iterable[tuple[str, Entry | None]],
            purposes: Mapping[str, str | None] | None = None) -> list[str]:
    """TOML for the config: known cookies go to the category their catalog purpose maps to (as
    the catalog's pattern, so `_hjSessionUser_123` becomes `_hjSessionUser_*`); unknown ones to
    UNKNOWN_CATEGORY, to be checked."""
    groups: dict[str, dict[str, str]] = {}  # category -> {pattern: comment}
    for name, entry in unclassified:
        if entry is None:
            groups.setdefault(UNKNOWN_CATEGORY, {})[name] = "not in the catalog: check what it is for"
        else:
            comment = f"{entry.vendor} ({entry.purpose})"
            target = (purposes or DEFAULT_CATEGORY).get(entry.purpose) or UNKNOWN_CATEGORY
            groups.setdefault(target, {})[entry.pattern] = comment
    out = ["# Ready to paste into your config: cookies seen with no rule. Merge each list into the",
           "# existing [cookies] necessary or [[categories]] entry of the same id."]
    for category in sorted(groups, key=lambda c: (c != "necessary", c)):
        items = groups[category]
        notes = "; ".join(f"{printable(p, 40)}: {c}" for p, c in items.items())
        out.append("")
        if category == "necessary":
            out += ["[cookies]", f"necessary = {_toml_list(items)}"]
        else:
            out += ["[[categories]]", f'id = "{category}"', f"cookies = {_toml_list(items)}"]
        out.append(f"# {printable(notes, 400)}")
    return out
