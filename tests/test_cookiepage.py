"""/_consent/cookies through a real gateway: config, catalog and the inventory seen in traffic."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunningGateway

PRIVACY_POLICY = Path("/work/shared/mission/privacy-policy.zh-CN.txt")


def seen(gw: RunningGateway, cookie: str) -> None:
    with gw.client() as c:
        assert c.get("/page", headers={"Cookie": cookie}).status_code == 200
    gw.server.call(gw.app._flush_inventory())  # it flushes every 10 s; now, for the test
    gw.server.call(gw.app.banner.refresh_vendors(gw.app.ledger.store, force=True))


def test_declaration_in_both_languages(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway()
    seen(gw, "_hjSessionUser_123=1; _hjSessionUser_456=2; PHPSESSID=abc; _ga=1")
    with gw.client() as c:
        en = c.get("/_consent/cookies", headers={"Accept-Language": "en-GB,en;q=0.9"})
        zh = c.get("/_consent/cookies", headers={"Accept-Language": "zh-CN"})
        zh_again = c.get("/_consent/cookies", headers={"Accept-Language": "zh"})
    assert en.status_code == zh.status_code == 200
    assert en.headers["content-language"] == "en" and zh.headers["content-language"] == "zh-CN"
    assert en.headers["content-security-policy"].startswith("default-src 'none'")
    assert zh_again.text == zh.text

    page = en.text
    assert '<html lang="en">' in page and "Cookies and third parties on this site" in page
    # per category: vendor, purpose, country, cookies and lifetimes
    pers = section(page, "personalization")
    assert 'data-vendor="Google Analytics"' in pers and 'data-country="US">United States<' in pers
    assert "<code>_ga</code> · 2 years" in pers and "Baidu Tongji" in pers  # a rule's script host
    assert "Hotjar" in pers and "<code>_hjSessionUser_*</code>" in pers  # seen in traffic, one family
    assert "_hjSessionUser_123" not in page
    necessary = section(page, "necessary")
    assert "<code>consent_gateway</code> · 180 days" in necessary and "PHPSESSID" in necessary
    assert "Strictly necessary" in necessary
    # PIPL Art. 39: the countries data goes to, with their vendors
    assert re.search(r'data-abroad="United States">United States: [^<]*Google Analytics', page)

    zpage = zh.text
    assert '<html lang="zh-CN">' in zpage and "本站使用的 Cookie 与第三方" in zpage
    assert 'data-country="US">美国<' in zpage and "<code>_ga</code> · 2 年" in zpage
    assert "个性化" in zpage and "数据去向与跨境提供" in zpage


def test_names_from_traffic_are_escaped(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(categories='[[categories]]\nid = "personalization"\ncookies = ["x*"]\n')
    seen(gw, "x<script>alert(1)</script>=1")
    with gw.client() as c:
        page = c.get("/_consent/cookies", headers={"Accept-Language": "en"}).text
    assert "<script>alert(1)" not in page
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_our_texts_are_not_the_privacy_policys() -> None:
    """The declaration's wording is our own: no sentence of the site's privacy policy in it."""
    import tomllib

    policy = PRIVACY_POLICY.read_text(encoding="utf-8")
    zh = tomllib.loads(Path("gateway/locales/zh-CN.toml").read_text(encoding="utf-8"))["declaration"]
    for text in zh.values():
        if isinstance(text, str):
            for sentence in re.split(r"[。；]", text):
                assert len(sentence) < 12 or sentence not in policy, sentence


def section(page: str, category: str) -> str:
    m = re.search(rf'<section id="category-{category}".*?</section>', page, re.S)
    assert m, category
    return m.group(0)
