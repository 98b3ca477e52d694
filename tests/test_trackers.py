"""Which tracker a URL or inline script is: the operator's substrings first, then the catalog."""

from __future__ import annotations

from gateway.catalog import Catalog
from gateway.clientrules import catalog_urls
from gateway.config import default_config_path, load_config
from gateway.trackers import Held, TrackerRules

CONFIG = load_config(default_config_path(), env={})
CATALOG = CONFIG.catalog.catalog
assert CATALOG is not None
OPERATOR = tuple((p, c.id) for c in CONFIG.categories for p in c.scripts)
NOTHING = frozenset({"identity", "personalization"})  # nothing granted: both withheld


def rules(withheld: frozenset[str] = NOTHING, operator: tuple[tuple[str, str], ...] = OPERATOR) -> TrackerRules:
    return TrackerRules(operator, withheld, CATALOG.matcher, catalog_urls(CONFIG))  # type: ignore[union-attr]


def test_catalog_holds_what_the_operator_never_listed() -> None:
    r = rules()
    assert r.match("https://static.hotjar.com/c/hotjar-123.js?sv=6") == Held("personalization", "Hotjar")
    assert r.match("https://www.clarity.ms/tag/abc") == Held("personalization", "Microsoft Clarity")
    assert r.match("https://www.facebook.com/tr?id=1&ev=PageView&noscript=1") == Held("personalization", "Meta Pixel")
    assert r.match("https://www.youtube.com/embed/xyz") == Held("personalization", "YouTube")


def test_loaders_that_concatenate_are_caught_by_the_host_in_the_text() -> None:
    hotjar = ("(function(h,o,t,j,a,r){h._hjSettings={hjid:123,hjsv:6};"
              "r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;})(window,document,"
              "'https://static.hotjar.com/c/hotjar-','.js?sv=');")
    tiktok = ('!function (w, d, t) {w.TiktokAnalyticsObject=t;ttq.load=function(e,n){'
              'var r="https://analytics.tiktok.com/i18n/pixel/events.js";}}(window, document, "ttq");')
    assert rules().match(hotjar) == Held("personalization", "Hotjar")
    assert rules().match(tiktok) == Held("personalization", "TikTok Pixel")


def test_host_boundaries() -> None:
    r = rules()
    for url in ("https://nothotjar.com/x.js", "https://evil-hotjar.com/x.js", "https://hotjar.com.evil/x.js",
                "https://hotjar.community/x.js", "https://www.facebook.com/track", "https://www.facebook.com/shop"):
        assert r.match(url) is None, url
    assert r.match("https:%2F%2Fstatic.hotjar.com%2Fc") is not None
    assert r.match('{"u":"https:\\/\\/www.facebook.com\\/tr?id=1"}') is not None


def test_granted_categories_hold_nothing() -> None:
    assert rules(frozenset()).match("https://static.hotjar.com/c/hotjar-1.js") is None
    assert not rules(frozenset())


def test_an_operator_rule_takes_the_url_from_the_catalog() -> None:
    mine = (("static.hotjar.com", "identity"), ("www.googletagmanager.com", "personalization"))
    # the operator calls Hotjar identity: granted identity means it runs, whatever the catalog says
    r = rules(frozenset({"personalization"}), mine)
    assert r.match("https://static.hotjar.com/c/hotjar-1.js") is None
    assert r.match("https://www.googletagmanager.com/gtag/js") == Held("personalization", "")
    assert r.match("https://www.clarity.ms/tag/x") == Held("personalization", "Microsoft Clarity")


def test_leftmost_withheld_pattern_names_the_category() -> None:
    text = "a('https://res.wx.qq.com/open/js/jweixin-1.6.0.js'); b('https://hm.baidu.com/hm.js?x')"
    assert rules(operator=()).match(text) == Held("identity", "WeChat JS-SDK")  # functional -> identity
    assert rules(frozenset({"personalization"}), ()).match(text) == Held("personalization", "Baidu Tongji")
    assert rules().match(text) == Held("personalization", "")  # hm.baidu.com is an operator rule: it decides


def test_catalog_off_holds_only_the_operators() -> None:
    empty = Catalog.load(enabled=False)
    r = TrackerRules(OPERATOR, NOTHING, empty.matcher, {})
    assert r.match("https://static.hotjar.com/c/hotjar-1.js") is None
    assert r.match("https://hm.baidu.com/hm.js") == Held("personalization", "")


def test_catalog_starts_is_one_sorted_pass() -> None:
    low = b"<img src=https://www.facebook.com/tr?id=1> x hotjar.com <a href=//nothotjar.com>"
    starts = rules().catalog_starts(low)
    assert starts == sorted(starts) and len(starts) == 2
    assert low[starts[0]:].startswith(b"facebook.com/tr") and low[starts[1]:].startswith(b"hotjar.com")
