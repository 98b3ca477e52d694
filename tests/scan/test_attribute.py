"""Attribution and violations, without a browser: the operator's config first, then the catalog."""

from __future__ import annotations

from pathlib import Path

from gateway.catalog import Catalog
from gateway.config import parse_config
from gateway.scan.attribute import Attributor, judge
from gateway.scan.model import Cookie, Phase, Request, StorageItem
from tests.conftest import config_text


def _cookie(name: str) -> Cookie:
    return Cookie(name=name, domain="shop.example", path="/", expires=None, expires_days=None, httpOnly=False,
                  secure=False, sameSite="Lax", session=True, firstPartyStorage=True, set_by="http",
                  log={"type": "HTTP", "location": "https://shop.example/"})


def _phase(name: str) -> Phase:
    return Phase(name, cookies=[_cookie("_ga"), _cookie("csrftoken"), _cookie("zz_widget_state"), _cookie("sid")],
                 requests=[Request("https://www.googletagmanager.com/gtag/js?id=G-1", "www.googletagmanager.com",
                                   "script", "GET"),
                           Request("https://cdn.example.net/app.js", "cdn.example.net", "script", "GET")],
                 storage=[StorageItem("localStorage", "https://shop.example", "_hjSessionUser_1")])


def test_catalog_attribution_and_violations_before_a_decision() -> None:
    phase = _phase("before")
    judge(phase, Attributor(Catalog.load()))
    ga = phase.cookies[0].attribution
    assert (ga.vendor, ga.purpose, ga.necessary, ga.attributed_by) == ("Google Analytics", "analytics", False,
                                                                         "catalog")
    assert phase.cookies[2].attribution.attributed_by is None  # zz_widget_state: unknown, not a violation
    flagged = {(v.kind, v.name or v.url) for v in phase.violations}
    assert flagged == {("cookie", "_ga"), ("storage", "_hjSessionUser_1"),
                       ("request", "https://www.googletagmanager.com/gtag/js?id=G-1")}
    assert all(v.reason.endswith("before any decision") for v in phase.violations)


def test_the_operators_config_wins_and_the_catalog_still_names_the_vendor(tmp_path: Path) -> None:
    shop = '\n[[categories]]\nid = "shop"\nrequired = true\ncookies = ["zz_widget_*"]\n'
    config = parse_config(config_text("http://127.0.0.1:9", tmp_path / "log.db", extra=shop))
    phase = _phase("reject")
    judge(phase, Attributor(Catalog.load(), config))
    ga, csrf, cart, sid = (c.attribution for c in phase.cookies)
    assert (ga.category, ga.vendor, ga.attributed_by, ga.necessary) == ("personalization", "Google Analytics",
                                                                         "config", False)
    assert csrf.necessary is True and cart.necessary is True and cart.category == "shop"  # required category
    assert sid.category == "identity" and sid.necessary is False
    assert {v.name for v in phase.violations if v.kind == "cookie"} == {"_ga", "sid"}
    assert all(v.reason.endswith("after reject") for v in phase.violations)


def test_the_accept_phase_has_no_violations() -> None:
    phase = _phase("accept")
    judge(phase, Attributor(Catalog.load()))
    assert phase.violations == [] and phase.cookies[0].attribution.vendor == "Google Analytics"


def test_the_gateways_own_cookie_is_necessary_without_a_config() -> None:
    a = Attributor(Catalog.load()).cookie("consent_gateway")
    assert a.necessary is True and a.vendor == "consent-gateway"
