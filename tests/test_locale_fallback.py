"""Locale fallback through a real gateway: Accept-Language first, then [consent] fallback_locale."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import RunningGateway


def _lang_of(gw: RunningGateway, accept: str) -> str:
    with gw.client() as c:
        r = c.get("/page", headers={"Accept-Language": accept})
    assert r.status_code == 200
    return "zh-CN" if "本站的 Cookie 使用" in r.text else "en" if "Cookies on this site" in r.text else "?"


def test_french_visitor_gets_english_by_default(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent="# no locale keys")
    assert _lang_of(gw, "fr") == "en"
    assert _lang_of(gw, "fr, zh;q=0.5") == "zh-CN"
    assert _lang_of(gw, "en-GB") == "en"


def test_operator_can_choose_chinese(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(consent='fallback_locale = "zh-CN"')
    assert _lang_of(gw, "fr") == "zh-CN"
    assert _lang_of(gw, "de, en;q=0.2") == "en"
