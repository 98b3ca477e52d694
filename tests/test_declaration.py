"""The cookie declaration's data: config rules, catalog and inventory, bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.config import parse_config
from gateway.declaration import (
    MAX_COOKIES,
    MAX_VENDORS,
    Declaration,
    catalog_for,
    country_name,
    lifetime,
)
from tests.conftest import config_text

CONFIG = parse_config(config_text("http://127.0.0.1:1", Path("/tmp/u.db")))
ZH = {"lifetimes": {"session": "关闭浏览器即删除", "month": "个月", "year": "年", "unknown": "未注明"},
      "countries": {"US": "美国"}, "declaration": {"unknown_country": "未注明"}}


def row(name: str, label: str) -> tuple[str, str, str, int, str]:
    return (name, label, "request", 1, "2026-01-01T00:00:00Z")


def test_rules_catalog_and_inventory_make_the_groups() -> None:
    d = Declaration(CONFIG, catalog_for(CONFIG))
    pers = d.groups["personalization"]
    assert {"Google Analytics", "Baidu Tongji"} <= set(pers)  # from the config's cookies and scripts
    assert pers["Google Analytics"].country == "US" and "_ga_*" in pers["Google Analytics"].cookies
    assert "consent_gateway" in d.groups["necessary"][""].cookies  # the gateway's own, the site's
    assert "sid" in d.groups["identity"][""].cookies  # a rule the catalog does not know: the site's

    assert d.update([row("_hjSessionUser_1", "unknown"), row("_hjSessionUser_2", "unknown"),
                     row("PHPSESSID", "unknown"), row("totally_unknown", "unknown"), row("(other)", "unknown")])
    hotjar = d.groups["personalization"]["Hotjar"]
    assert list(hotjar.cookies) == ["_hjSessionUser_*"]  # one family, not one line per visitor id
    assert any("PHPSESSID" in v.cookies for v in d.groups["necessary"].values())
    everything = {c for g in d.groups.values() for v in g.values() for c in v.cookies}
    assert "totally_unknown" not in everything and "(other)" not in everything
    assert not d.update([row("_hjSessionUser_1", "unknown"), row("_hjSessionUser_2", "unknown"),
                         row("PHPSESSID", "unknown"), row("totally_unknown", "unknown"), row("(other)", "unknown")])


def test_sizes_are_bounded() -> None:
    d = Declaration(CONFIG, catalog_for(CONFIG))
    d.update([row(f"own_{i}", "personalization") for i in range(MAX_COOKIES + 50)]
             + [row(e.pattern.replace("*", "x"), "personalization") for e in catalog_for(CONFIG).entries
                if e.kind == "cookie"][:3000])
    groups = d.groups["personalization"]
    assert len(groups) <= MAX_VENDORS
    assert all(len(v.cookies) <= MAX_COOKIES for v in groups.values())


def test_refresh_reads_the_store_at_most_once_a_period() -> None:
    calls = []

    class Store:
        async def inventory(self) -> list[tuple[str, str, str, int, str]]:
            calls.append(1)
            return [row("_clck", "unknown")]

    d = Declaration(CONFIG, catalog_for(CONFIG))
    assert asyncio.run(d.refresh(Store()))
    assert not asyncio.run(d.refresh(Store()))
    assert len(calls) == 1 and "Microsoft" in d.banner_vendors()["personalization"]


def test_a_store_that_fails_keeps_what_is_known() -> None:
    class Broken:
        async def inventory(self) -> list[tuple[str, str, str, int, str]]:
            raise OSError("down")

    d = Declaration(CONFIG, catalog_for(CONFIG))
    assert not asyncio.run(d.refresh(Broken()))
    assert "Google Analytics" in d.banner_vendors()["personalization"]


def test_lifetimes_and_countries_in_the_visitors_language() -> None:
    assert lifetime("13 months", ZH) == "13 个月"
    assert lifetime("1 year", ZH) == "1 年"
    assert lifetime("session", ZH) == "关闭浏览器即删除"
    assert lifetime("", ZH) == "未注明"
    assert lifetime("1 hour or longer", ZH) == "1 hour or longer"  # left as written
    assert country_name("US", ZH) == "美国" and country_name("MT", ZH) == "MT" and country_name("", ZH) == "未注明"
