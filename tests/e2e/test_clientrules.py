"""guard.js in real Chromium answers every question exactly as the server does, from one table.

The same names and URLs go through the server's rules (CookieRules, the HTML rewriter) and through
guard.js loaded from the gateway's own asset; any difference is a consent the browser and the
wire enforce differently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gateway.banner import Banner
from gateway.clientrules import catalog_urls
from gateway.config import Config, parse_config
from gateway.cookies import CookieRules
from gateway.rewrite import HtmlRewriter, RewritePlan
from gateway.trackers import TrackerRules
from tests.conftest import config_text

CATS = """
[[categories]]
id = "identity"
cookies = ["csrftoken", "sid", "remember_*", "wp_*"]
scripts = ["accounts.example", "cdn.example/shared"]

[[categories]]
id = "personalization"
cookies = ["_ga", "_ga_*", "remember_ads", "Hm_lvt_*", "wp_stats*"]
scripts = ["www.googletagmanager.com", "accounts.example/pixel", "hm.baidu.com", "cdn.example"]
"""
NAMES = ["csrftoken", "csrf_x", "sess", "sid", "remember_me", "remember_ads", "_ga", "_ga_ABC", "_gax",
         "Hm_lvt_0123", "wp_stats_1", "wp_other", "unknown_thing", "consent_gateway",
         "__Host-consent_gateway", "SID", "", "a.b", "_ga_",
         # from the catalog: exact names, globs of both kinds, one a rule above takes, one too long
         "PHPSESSID", "laravel_session", "XSRF-TOKEN", "cart_id", "lang", "_hjSessionUser_123", "UM_distinctid",
         "JSESSIONID", "JSESSIONID_x", "_gcl_au", "wp_stats_x", "_fbp", "_hj" + "x" * 300]
URLS = ["https://www.googletagmanager.com/gtag/js?id=G-1", "https://WWW.GOOGLETAGMANAGER.COM/x",
        "https://accounts.example/login.js", "https://accounts.example/pixel.gif",
        "https://cdn.example/shared/lib.js", "https://cdn.example/ads.js", "https://hm.baidu.com/hm.js?x",
        "https://example.org/app.js", "/static/local.js",
        # the catalog, with its host boundaries
        "https://static.hotjar.com/c/hotjar-1.js?sv=6", "https://nothotjar.com/x.js", "https://evil-hotjar.com/x.js",
        "https://hotjar.com.evil/x.js", "https://hotjar.community/x.js", "https://HOTJAR.COM:443/x",
        "https://www.facebook.com/tr?id=1&ev=PageView&noscript=1", "https://www.facebook.com/track",
        "https://www.facebook.com/tr/", "https://www.youtube.com/embed/abc", "https://www.clarity.ms/tag/x",
        "https://res.wx.qq.com/open/js/jweixin-1.6.0.js", "https://x.example/r?u=https:%2F%2Fstatic.hotjar.com%2Fc",
        "https://accounts.example/login.js?next=https://connect.facebook.net/en_US/fbevents.js",
        "https://connect.facebook.net/en_US/fbevents.js", "https://s4.cnzz.com/z_stat.php?id=1",
        "https://hm.baidu.com.evil/x", "https://tajs.qq.com/stats?sId=1", "//sdk.51.la/js-sdk-pro.min.js"]
GRANTS = [frozenset(s) for s in ([], ["identity"], ["personalization"], ["identity", "personalization"])]


def make_config(unknown: str) -> Config:
    text = config_text("http://127.0.0.1:1", Path("/tmp/u.db"), categories=CATS)
    text = text.replace('necessary = ["csrftoken"]', 'necessary = ["csrf*", "sess"]')
    return parse_config(text.replace('unknown = "block"', f'unknown = "{unknown}"'))


def server_blocks(config: Config, url: str, granted: frozenset[str]) -> str | None:
    """The category under which the rewriter holds a script tag with this URL, or None."""
    assert config.catalog.catalog is not None
    trackers = TrackerRules(tuple((p, c.id) for c in config.categories for p in c.scripts),
                            frozenset(c for c in config.category_ids if c not in granted),
                            config.catalog.catalog.matcher, catalog_urls(config))
    r = HtmlRewriter(RewritePlan(trackers.blocked, b"", lambda _cs: b"", "utf-8", trackers=trackers))
    out = r.feed(f'<script src="{url}"></script>'.encode()) + r.finish()
    m = re.search(rb'data-consent-category="([^"]+)"', out)
    return m.group(1).decode() if m else None


def browser_answers(browser: Any, config: Config) -> dict[str, Any]:
    guard = Banner(config).static["guard.js"].body.decode()
    page_config = json.dumps({"granted": [], "decided": False, "endpoint": "/_consent"})
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(f'<script id="consent-gateway-config" type="application/json">{page_config}</script>'
                         f"<script>{guard}</script>")
        return page.evaluate("""([names, urls, grants]) => {
            const cfg = window.consentGateway, out = {cookies: {}, urls: {}, gcm: {}};
            for (const g of grants) {
              for (const k of Object.keys(cfg.grantedMap)) delete cfg.grantedMap[k];
              const map = {};
              for (const c of g) { cfg.grantedMap[c] = true; map[c] = true; }
              const key = g.join("+");
              out.cookies[key] = names.map(n => cfg.cookieAllowed(n));
              out.urls[key] = urls.map(u => cfg.blockedCategory(u));
              out.gcm[key] = cfg.consentModeFor(map);
            }
            return out;
        }""", [NAMES, URLS, [sorted(g) for g in GRANTS]])
    finally:
        context.close()


def test_browser_and_server_agree(consent_browser: Any) -> None:
    for unknown in ("block", "identity"):
        config = make_config(unknown)
        rules = CookieRules(config)
        got = browser_answers(consent_browser, config)
        for granted in GRANTS:
            key = "+".join(sorted(granted))
            expected_cookies = [rules.allowed(n, granted | rules.required) for n in NAMES]
            assert got["cookies"][key] == expected_cookies, (unknown, key)
            assert got["urls"][key] == [server_blocks(config, u, granted) for u in URLS], (unknown, key)
            signals = {s for c in granted for s in config.consent.consent_mode.get(c, ())} | {"security_storage"}
            assert {s for s, v in got["gcm"][key].items() if v == "granted"} == signals, key
    # the case that once differed: csrftoken is identity's exact name, not the necessary csrf* glob
    assert got["cookies"][""][NAMES.index("csrftoken")] is False
    assert got["cookies"][""][NAMES.index("csrf_x")] is True


def test_every_answer_pair_is_covered() -> None:
    # the table exercises each precedence step at least once on the server
    rules = CookieRules(make_config("block"))
    cats = {rules.category_of(n) for n in NAMES}
    assert {"necessary", "identity", "personalization", None} <= cats
    config = make_config("block")
    nothing = frozenset[str]()
    held = {u: server_blocks(config, u, nothing) for u in URLS}
    assert held["https://static.hotjar.com/c/hotjar-1.js?sv=6"] == "personalization"  # the catalog's
    assert held["https://nothotjar.com/x.js"] is None and held["https://hotjar.community/x.js"] is None
    assert held["https://res.wx.qq.com/open/js/jweixin-1.6.0.js"] == "identity"  # functional
    # an operator rule (identity's accounts.example) takes the URL: granted identity lets it run
    assert server_blocks(config, URLS[-6], frozenset({"identity"})) is None
    assert rules.category_of("PHPSESSID") == "necessary" and rules.category_of("_fbp") == "personalization"
    assert rules.category_of("wp_stats_x") == "identity"  # the operator's first glob (wp_*), not the catalog
