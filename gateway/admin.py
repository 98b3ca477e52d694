"""The operator dashboard's data: the log's decisions over a date range, folded for the charts
(gateway/charts.py), the cookie inventory with the catalog's vendor and purpose, and what report
mode would have blocked. The page itself (sign-in, language, rendering) is gateway/adminpages.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.catalog import Catalog
from gateway.catalog.report import snippet
from gateway.charts import choose_unit, fold, line_chart, stacked_chart

ACTIONS = ("accept_all", "save", "reject_all", "withdraw")  # stacked bottom to top
ACTION_KEY = "@"  # per-day action counts are keyed "@accept_all": never a category id
Group = tuple[str, str, list[str], str, str, bool, int]  # day, action, granted, device, browser, gpc, n


def first_day(groups: Iterable[Group]) -> dt.date | None:
    days = [g[0] for g in groups]
    try:
        return dt.date.fromisoformat(min(days)) if days else None
    except ValueError:
        return None


def _summary(groups: Iterable[Group], chains: int,
             category_ids: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Counter[str]]]:
    """Rates, actions, devices and browsers of the groups, and their counts per day ("_total",
    each granted category, each action as "@action")."""
    by_action: Counter[str] = Counter()
    by_device: Counter[str] = Counter()
    by_browser: Counter[str] = Counter()
    granted: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = {}
    total = gpc = 0
    for day, action, cats, device, browser, is_gpc, n in groups:
        total += n
        by_action[action] += n
        by_device[device] += n
        by_browser[browser] += n
        gpc += n if is_gpc else 0
        counts = per_day.setdefault(day, Counter())
        counts["_total"] += n
        counts[ACTION_KEY + action] += n
        for c in cats:
            granted[c] += n
            counts[c] += n
    return {
        "decisions": total,
        "chains": chains,
        "by_action": dict(by_action.most_common()),
        "opt_in_rate": {c: round(granted[c] / total, 4) if total else None for c in category_ids},
        "by_device": dict(by_device.most_common()),
        "by_browser": dict(by_browser.most_common(10)),
        "gpc_decisions": gpc,
    }, per_day


def summarize_stats(raw: dict[str, Any], category_ids: tuple[str, ...]) -> dict[str, Any]:
    """The whole log's summary with the opt-in rate per day (the shape of `log stats --json`)."""
    summary, per_day = _summary(raw["groups"], raw["chains"], category_ids)
    summary["per_day"] = {d: {c: round(v[c] / v["_total"], 4) for c in category_ids} | {"decisions": v["_total"]}
                          for d, v in sorted(per_day.items())}
    return summary


def range_stats(raw: dict[str, Any], category_ids: tuple[str, ...], start: dt.date, end: dt.date) -> dict[str, Any]:
    """The dashboard's summary between start and end (whole UTC days, inclusive), with the counts
    per day the charts fold."""
    low, high = start.isoformat(), end.isoformat()
    summary, per_day = _summary((g for g in raw["groups"] if low <= g[0] <= high), raw["chains"], category_ids)
    summary["per_day"] = per_day
    return summary


def time_charts(per_day: Mapping[str, Mapping[str, int]], category_ids: tuple[str, ...],
                start: dt.date, end: dt.date) -> dict[str, Any]:
    unit = choose_unit(start, end)
    buckets = fold(per_day, start, end, unit)
    actions = [ACTION_KEY + a for a in ACTIONS]
    return {"unit": unit, "rates": line_chart(buckets, category_ids, unit),
            "actions": stacked_chart(buckets, actions, unit)}


def bar_chart(counts: dict[str, int]) -> dict[str, Any]:
    top = max(counts.values(), default=0) or 1
    bars = [{"label": k, "value": v, "width": round(360 * v / top, 1), "y": 26 * i}
            for i, (k, v) in enumerate(counts.items())]
    return {"bars": bars, "height": 26 * len(bars) + 4}


MAX_COOKIE_ROWS = 100  # the inventory's most seen names on the page; `cookies report` has them all
MAX_UNKNOWN_ROWS = 15
MAX_WOULD_BLOCK_ROWS = 20


def cookie_rows(inventory: list[tuple[str, str, str, int, str]], catalog: Catalog) -> list[dict[str, Any]]:
    """The inventory, most seen first, with the catalog's vendor and purpose (as `cookies report`)."""
    rows = []
    for name, label, source, count, last in sorted(inventory, key=lambda r: -r[3])[:MAX_COOKIE_ROWS]:
        entry = catalog.cookie(name)
        rows.append({"name": name, "category": label, "source": source, "count": count, "last": last,
                     "vendor": entry.vendor if entry else "", "purpose": entry.purpose if entry else ""})
    return rows


def would_block_rows(tally: Mapping[str, int]) -> list[dict[str, Any]]:
    """consent_would_block's counts (category, vendor, kind), largest first."""
    found = []
    for joined, n in tally.items():
        parts = joined.split("\x1f")
        if len(parts) == 3 and n > 0:
            found.append((-n, parts[0], parts[1], parts[2]))
    return [{"category": c, "vendor": v, "kind": k, "count": -n} for n, c, v, k in sorted(found)[:MAX_WOULD_BLOCK_ROWS]]


def inventory_context(inventory: list[tuple[str, str, str, int, str]], catalog: Catalog) -> dict[str, Any]:
    cookies = cookie_rows(inventory, catalog)
    unknown = cookie_rows([r for r in inventory if r[1] == "unknown"], catalog)[:MAX_UNKNOWN_ROWS]
    paste = snippet((r["name"], catalog.cookie(r["name"])) for r in unknown) if unknown else []
    return {"cookies": cookies, "unknown_cookies": unknown, "snippet": "\n".join(paste)}


def dashboard_context(stats: dict[str, Any], inventory: list[tuple[str, str, str, int, str]], backlog: int,
                      categories: tuple[str, ...], policy_version: str, catalog: Catalog,
                      start: dt.date, end: dt.date) -> dict[str, Any]:
    return {
        **inventory_context(inventory, catalog),
        "stats": stats,
        "policy_version": policy_version,
        "backlog": backlog,
        "charts": time_charts(stats["per_day"], categories, start, end),
        "actions": bar_chart(stats["by_action"]),
        "devices": bar_chart(stats["by_device"]),
        "browsers": bar_chart(stats["by_browser"]),
        "categories": categories,
        "start": start,
        "end": end,
    }
