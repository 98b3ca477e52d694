"""The dashboard's data: the log's groups over a range, the cookie inventory with the catalog's vendor
and purpose, and report mode's would-block counts."""

from __future__ import annotations

import datetime as dt

from gateway.admin import dashboard_context, first_day, range_stats, summarize_stats, would_block_rows
from gateway.catalog import Catalog

CATALOG = Catalog.load()
IDS = ("identity", "personalization")
DAY = dt.date(2026, 1, 1)
STATS = range_stats({"groups": [], "chains": 1}, IDS, DAY, DAY)
ROW = "2026-01-01T00:00:00Z"
GROUPS = [("2025-12-31", "accept_all", ["identity", "personalization"], "desktop", "Chrome", False, 4),
          ("2026-01-01", "accept_all", ["identity", "personalization"], "mobile", "Safari", True, 3),
          ("2026-01-01", "save", ["identity"], "desktop", "Firefox", False, 2),
          ("2026-01-02", "reject_all", [], "desktop", "Chrome", False, 1),
          ("2026-01-03", "withdraw", [], "desktop", "Chrome", False, 9)]


def test_cookies_carry_vendor_purpose_and_category() -> None:
    inventory = [("_ga", "personalization", "request", 40, ROW), ("_hjSessionUser_7", "unknown", "request", 9, ROW),
                 ("mystery", "unknown", "set-cookie", 3, ROW), ("sid", "identity", "request", 50, ROW)]
    ctx = dashboard_context(STATS, inventory, 0, IDS, "1", CATALOG, DAY, DAY)
    rows = {r["name"]: r for r in ctx["cookies"]}
    assert [r["name"] for r in ctx["cookies"]] == ["sid", "_ga", "_hjSessionUser_7", "mystery"]  # by count
    assert (rows["_ga"]["vendor"], rows["_ga"]["purpose"], rows["_ga"]["category"]) == \
        ("Google Analytics", "analytics", "personalization")
    assert rows["_hjSessionUser_7"]["vendor"] == "Hotjar" and rows["_hjSessionUser_7"]["category"] == "unknown"
    assert rows["mystery"]["vendor"] == "" and rows["mystery"]["purpose"] == ""
    assert [r["name"] for r in ctx["unknown_cookies"]] == ["_hjSessionUser_7", "mystery"]
    # the same ready-to-paste TOML as `cookies report`
    assert '"_hjSessionUser_*"' in ctx["snippet"] and '"mystery"' in ctx["snippet"]


def test_the_table_is_bounded() -> None:
    inventory = [(f"c{i}", "unknown", "request", i, ROW) for i in range(1000)]
    ctx = dashboard_context(STATS, inventory, 0, ("identity",), "1", CATALOG, DAY, DAY)
    assert len(ctx["cookies"]) == 100 and ctx["cookies"][0]["name"] == "c999"
    assert len(ctx["unknown_cookies"]) == 15 and ctx["snippet"].count("\n") < 20


def test_range_counts_only_the_days_inside_it() -> None:
    s = range_stats({"groups": GROUPS, "chains": 2}, IDS, dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert s["decisions"] == 6 and s["chains"] == 2  # 2025-12-31 and 2026-01-03 are outside
    assert s["by_action"] == {"accept_all": 3, "save": 2, "reject_all": 1}
    assert s["opt_in_rate"] == {"identity": round(5 / 6, 4), "personalization": 0.5}
    assert s["gpc_decisions"] == 3 and s["by_device"] == {"mobile": 3, "desktop": 3}
    assert s["per_day"]["2026-01-01"] == {"_total": 5, "@accept_all": 3, "@save": 2, "identity": 5,
                                          "personalization": 3}
    assert set(s["per_day"]) == {"2026-01-01", "2026-01-02"}
    assert first_day(GROUPS) == dt.date(2025, 12, 31) and first_day([]) is None


def test_log_stats_keeps_its_shape() -> None:
    # `consent-gateway log stats --json` prints this; the dashboard's own counts must not leak into it
    s = summarize_stats({"groups": GROUPS, "chains": 1}, IDS)
    assert s["decisions"] == 19
    assert s["per_day"]["2026-01-01"] == {"identity": 1.0, "personalization": 0.6, "decisions": 5}
    assert list(s["per_day"]) == ["2025-12-31", "2026-01-01", "2026-01-02", "2026-01-03"]


def test_charts_of_the_range() -> None:
    s = range_stats({"groups": GROUPS, "chains": 1}, IDS, dt.date(2025, 12, 31), dt.date(2026, 1, 3))
    charts = dashboard_context(s, [], 0, IDS, "1", CATALOG, dt.date(2025, 12, 31), dt.date(2026, 1, 3))["charts"]
    assert charts["unit"] == "day"
    stacked = {a["id"]: a["values"] for a in charts["actions"]["series"]}
    assert stacked == {"@accept_all": [4, 3, 0, 0], "@save": [0, 2, 0, 0], "@reject_all": [0, 0, 1, 0],
                       "@withdraw": [0, 0, 0, 9]}
    rates = {line["id"]: line["rates"] for line in charts["rates"]["series"]}
    assert rates["personalization"] == [100.0, 60.0, 0.0, 0.0]


def test_would_block_rows_largest_first_and_bounded() -> None:
    tally = {f"personalization\x1fVendor {i}\x1fscript": i for i in range(40)}
    tally["broken"] = 99  # a malformed key from a snapshot is skipped
    rows = would_block_rows(tally)
    assert len(rows) == 20 and rows[0] == {"category": "personalization", "vendor": "Vendor 39", "kind": "script",
                                           "count": 39}
    assert all(r["count"] > 0 for r in rows) and would_block_rows({}) == []
