"""The dashboard's data: the cookie inventory with the catalog's vendor and purpose."""

from __future__ import annotations

from gateway.admin import dashboard_context, summarize_stats
from gateway.catalog import Catalog

CATALOG = Catalog.load()
STATS = summarize_stats({"groups": [], "chains": 1}, ("identity", "personalization"))
ROW = "2026-01-01T00:00:00Z"


def test_cookies_carry_vendor_purpose_and_category() -> None:
    inventory = [("_ga", "personalization", "request", 40, ROW), ("_hjSessionUser_7", "unknown", "request", 9, ROW),
                 ("mystery", "unknown", "set-cookie", 3, ROW), ("sid", "identity", "request", 50, ROW)]
    ctx = dashboard_context(STATS, inventory, 0, ("identity", "personalization"), "1", CATALOG)
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
    ctx = dashboard_context(STATS, inventory, 0, ("identity",), "1", CATALOG)
    assert len(ctx["cookies"]) == 100 and ctx["cookies"][0]["name"] == "c999"
    assert len(ctx["unknown_cookies"]) == 15 and ctx["snippet"].count("\n") < 20
