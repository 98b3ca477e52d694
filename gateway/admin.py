"""The operator dashboard's data and charts: server-rendered SVG, no script, no CDN."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.catalog import Catalog
from gateway.catalog.report import snippet

WIDTH, HEIGHT, PAD = 640, 200, 32


def summarize_stats(raw: dict[str, Any], category_ids: tuple[str, ...]) -> dict[str, Any]:
    """Fold the store's grouped counts into what operators ask: rates, actions, devices, days."""
    by_action: Counter[str] = Counter()
    by_device: Counter[str] = Counter()
    by_browser: Counter[str] = Counter()
    granted: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = {}
    total = gpc = 0
    for day, action, cats, device, browser, is_gpc, n in raw["groups"]:
        total += n
        by_action[action] += n
        by_device[device] += n
        by_browser[browser] += n
        gpc += n if is_gpc else 0
        day_counts = per_day.setdefault(day, Counter())
        day_counts["_total"] += n
        for c in cats:
            granted[c] += n
            day_counts[c] += n
    return {
        "decisions": total,
        "chains": raw["chains"],
        "by_action": dict(by_action.most_common()),
        "opt_in_rate": {c: round(granted[c] / total, 4) if total else None for c in category_ids},
        "by_device": dict(by_device.most_common()),
        "by_browser": dict(by_browser.most_common(10)),
        "gpc_decisions": gpc,
        "per_day": {d: {c: round(v[c] / v["_total"], 4) for c in category_ids} | {"decisions": v["_total"]}
                    for d, v in sorted(per_day.items())},
    }


PALETTE = ("#0b57d0", "#b3261e", "#146c2e", "#7c4dff", "#8a4b00", "#00696d")


def line_chart(per_day: dict[str, dict[str, float]], categories: tuple[str, ...]) -> dict[str, Any]:
    """Polylines of the opt-in rate per category, one point per day, 0–100 %."""
    days = list(per_day)
    n = max(len(days) - 1, 1)
    x = {d: PAD + (WIDTH - 2 * PAD) * i / n for i, d in enumerate(days)}
    series = []
    for i, c in enumerate(categories):
        xy = [(round(x[d], 1), round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * per_day[d][c], 1)) for d in days]
        pts = " ".join(f"{px},{py}" for px, py in xy)
        series.append({"id": c, "points": pts, "dots": xy, "colour": PALETTE[i % len(PALETTE)],
                       "last": round(100 * per_day[days[-1]][c]) if days else None})
    ticks = [{"y": HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / 100, "label": f"{v}%"} for v in (0, 50, 100)]
    labels = [{"x": x[d], "label": d[5:]} for d in (days[:1] + days[-1:] if len(days) > 1 else days)]
    return {"series": series, "ticks": ticks, "labels": labels, "width": WIDTH, "height": HEIGHT}


def bar_chart(counts: dict[str, int]) -> dict[str, Any]:
    top = max(counts.values(), default=0) or 1
    bars = [{"label": k, "value": v, "width": round(360 * v / top, 1), "y": 26 * i}
            for i, (k, v) in enumerate(counts.items())]
    return {"bars": bars, "height": 26 * len(bars) + 4}


MAX_COOKIE_ROWS = 100  # the inventory's most seen names on the page; `cookies report` has them all
MAX_UNKNOWN_ROWS = 15


def cookie_rows(inventory: list[tuple[str, str, str, int, str]], catalog: Catalog) -> list[dict[str, Any]]:
    """The inventory, most seen first, with the catalog's vendor and purpose (as `cookies report`)."""
    rows = []
    for name, label, source, count, last in sorted(inventory, key=lambda r: -r[3])[:MAX_COOKIE_ROWS]:
        entry = catalog.cookie(name)
        rows.append({"name": name, "category": label, "source": source, "count": count, "last": last,
                     "vendor": entry.vendor if entry else "", "purpose": entry.purpose if entry else ""})
    return rows


def dashboard_context(stats: dict[str, Any], inventory: list[tuple[str, str, str, int, str]], backlog: int,
                      categories: tuple[str, ...], policy_version: str, catalog: Catalog) -> dict[str, Any]:
    cookies = cookie_rows(inventory, catalog)
    unknown = cookie_rows([r for r in inventory if r[1] == "unknown"], catalog)[:MAX_UNKNOWN_ROWS]
    paste = snippet((r["name"], catalog.cookie(r["name"])) for r in unknown) if unknown else []
    return {
        "cookies": cookies,
        "snippet": "\n".join(paste),
        "stats": stats,
        "policy_version": policy_version,
        "backlog": backlog,
        "rates": line_chart(stats["per_day"], categories),
        "actions": bar_chart(stats["by_action"]),
        "devices": bar_chart(stats["by_device"]),
        "browsers": bar_chart(stats["by_browser"]),
        "unknown_cookies": unknown,
        "categories": categories,
    }
