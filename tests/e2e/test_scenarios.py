"""Consent scenarios in real Chromium, through a real gateway in front of the demo site.

Run against any deployment with `pytest tests/e2e --gateway-url https://…` (see README.md here).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from gateway.testing.plugin import TEST_DOMAIN, ConsentPage, LocalDemo

Factory = Callable[..., ConsentPage]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def tracker_runs(p: ConsentPage) -> int:
    return int(p.page.evaluate("() => window.demoTrackerRuns || 0"))


def test_first_visit(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    banner = p.banner
    assert banner.is_visible()
    # a non-modal first layer (the page stays usable); the settings layer is modal (test_mobile_banner)
    assert banner.get_attribute("role") == "dialog" and banner.get_attribute("aria-modal") is None
    assert p.page.evaluate("() => document.getElementById('consent-banner').contains(document.activeElement)")
    for action in ("accept_all", "reject_all", "save"):
        assert banner.locator(f'[data-consent-action="{action}"]').is_visible()
    assert tracker_runs(p) == 0
    jar = p.browser_cookies()
    assert "_ga" not in jar and "Hm_lvt_demo" not in jar  # set by the site's server, dropped on the wire
    assert "csrftoken" in jar  # necessary
    assert p.state()["decided"] is False
    # Consent Mode defaults were pushed before any tag
    first = p.page.evaluate("() => Array.from(window.dataLayer[0])")
    assert first[0] == "consent" and first[1] == "default" and first[2]["analytics_storage"] == "denied"
    assert first[2]["ad_storage"] == "denied"


def test_reject_all(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.reject_all()
    assert p.banner.count() == 0  # hidden without a reload
    assert tracker_runs(p) == 0
    assert p.state()["categories"] == {"identity": False, "personalization": False}
    p.goto("/products")
    assert p.banner.count() == 0 and tracker_runs(p) == 0
    assert set(p.browser_cookies()) == {"consent_gateway", "csrftoken"}


def test_accept_all_runs_trackers_without_reload(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.page.evaluate("() => { window.noReload = true; }")
    p.accept_all()
    p.page.wait_for_function("() => window.demoTrackerRuns === 1")
    assert p.page.evaluate("() => window.noReload") is True
    assert p.page.evaluate("() => window.siteTaggedRan") is True  # the site's own tagged script
    assert p.page.locator("#tracker-status").inner_text() == "Tracker: running (1)"
    assert "_ga_DEMO" in p.browser_cookies()  # the tracker's document.cookie write now passes
    update = p.page.evaluate("() => Array.from(window.dataLayer).map(a => Array.from(a))"
                             ".filter(a => a[1] === 'update').pop()")
    assert update[2]["analytics_storage"] == "granted" and update[2]["ad_storage"] == "denied"
    p.goto("/products")
    assert tracker_runs(p) == 1 and p.banner.count() == 0
    assert "_ga" in p.browser_cookies()  # the server's analytics cookie is allowed now


def test_tracking_pixel_is_never_fetched_before_consent(consent_page: ConsentPage) -> None:
    """The preload scanner fetches images before any script runs; only the wire can hold a pixel."""
    p = consent_page
    fetched: list[str] = []
    p.page.on("request", lambda r: fetched.append(r.url))
    p.goto("/")
    p.page.wait_for_load_state("networkidle")
    pixel = p.page.locator('main img[data-consent-category="personalization"]')
    assert pixel.count() == 1 and pixel.get_attribute("src") is None
    assert not [u for u in fetched if "demo-tracker.gif" in u]
    with p.page.expect_response(lambda r: "demo-tracker.gif" in r.url and r.status == 200):
        p.accept_all()  # granted without a reload: the banner script puts the src back
    p.page.wait_for_function("() => document.querySelector('main img').naturalWidth === 1")
    p.goto("/products")  # granted: the gateway leaves it alone
    assert p.page.locator("main img").get_attribute("src", timeout=2000).startswith("/static/demo-tracker.gif")


@pytest.mark.parametrize("via", ["header", "meta"])
def test_site_with_a_strict_nonce_csp(consent_page: ConsentPage, via: str) -> None:
    """Our scripts carry the page's nonce, so the site's own policy does not switch them off."""
    p = consent_page
    p.page.add_init_script("""document.addEventListener('securitypolicyviolation',
        e => (window.__cspViolations = window.__cspViolations || [])
          .push(e.violatedDirective + ' ' + e.blockedURI));""")
    response = p.goto(f"/strict-csp?via={via}")
    if via == "header":
        assert "'strict-dynamic'" in response.headers["content-security-policy"]
    else:
        assert "content-security-policy" not in response.headers
        assert p.page.locator('meta[http-equiv="Content-Security-Policy"]').count() == 1
    assert p.page.evaluate("() => typeof window.consentGateway.blockedCategory") == "function"  # guard ran
    assert tracker_runs(p) == 0
    p.accept_all()  # by fetch, without a reload: the banner script ran too
    p.page.wait_for_function("() => window.demoTrackerRuns === 1 && window.siteTaggedRan === true")
    assert p.page.evaluate("() => window.__cspViolations || []") == []


def test_browser_ad_apis_follow_consent(consent_page: ConsentPage) -> None:
    """The Topics API is off by the page's Permissions-Policy until personalisation is granted."""
    p = consent_page
    topics = "() => document.featurePolicy.allowsFeature('browsing-topics')"
    p.goto("/")
    assert p.page.evaluate(topics) is False
    p.accept_all()
    p.goto("/products")
    assert p.page.evaluate(topics) is True


def test_custom_identity_only(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.save("identity")
    assert p.state()["categories"] == {"identity": True, "personalization": False}
    with p.page.expect_navigation():
        p.page.locator("#login").click()
    jar = p.browser_cookies()
    assert jar["sid"]["httpOnly"] is True and "remember_me" in jar
    assert "_ga" not in jar and tracker_runs(p) == 0
    assert "Signed in" in p.page.locator("#login-status").inner_text()


def test_withdrawal_deletes_httponly_and_analytics_cookies(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.accept_all()
    with p.page.expect_navigation():
        p.page.locator("#login").click()
    jar = p.browser_cookies()
    assert jar["sid"]["httpOnly"] and "_ga" in jar and "_ga_DEMO" in jar
    p.withdraw()
    jar = p.browser_cookies()
    for gone in ("sid", "remember_me", "_ga", "_ga_DEMO", "Hm_lvt_demo"):
        assert gone not in jar, gone
    assert p.state()["decided"] is True and p.state()["categories"]["identity"] is False
    assert "Not signed in" in p.page.locator("#login-status").inner_text()


@pytest.mark.local_gateway
def test_withdrawal_deletes_parent_domain_cookies_set_by_scripts(consent_new_page: Factory,
                                                                 consent_gateway_url: str) -> None:
    """gtag.js sets its cookies on the parent domain; the Cookie header does not say which."""
    host = f"www.shop.{TEST_DOMAIN}"
    p = consent_new_page(base_url=consent_gateway_url.replace("127.0.0.1", host))
    p.goto("/")
    p.accept_all()
    p.page.evaluate(f"() => {{ document.cookie = '_gid=GA1.2.7; domain=shop.{TEST_DOMAIN}; path=/; max-age=3600'; }}")
    domains = [c["domain"] for c in p.context.cookies(p.base_url) if c["name"] == "_gid"]
    assert domains == [f".shop.{TEST_DOMAIN}"]
    p.withdraw()
    assert [c for c in p.context.cookies(p.base_url) if c["name"] in ("_gid", "_ga", "_ga_DEMO")] == []


@pytest.mark.local_gateway
def test_policy_version_bump_asks_again(consent_new_page: Factory, consent_local_demo: LocalDemo) -> None:
    p = consent_new_page()
    p.goto("/")
    p.accept_all()
    bumped = consent_local_demo.start_gateway(policy_version="2099-01")
    p.base_url = bumped  # same host: the browser sends the old consent cookie to it
    p.goto("/")
    assert p.banner.is_visible()
    assert p.state() == {**p.state(), "decided": False, "policy_version": "2099-01"}
    assert tracker_runs(p) == 0 and "_ga" not in p.browser_cookies()


@pytest.mark.local_gateway
def test_gpc(consent_new_page: Factory, consent_local_demo: LocalDemo) -> None:
    p = consent_new_page(locale="en", gpc=True)
    p.goto("/")
    assert p.banner.locator(".cg-gpc").is_visible()
    p.open_settings()
    assert not p.banner.locator('input[value="personalization"]').is_checked()
    assert p.state()["gpc"] is True
    p.accept_all()  # an explicit opt-in still counts, and is logged as made under GPC
    assert p.state()["categories"]["personalization"] is True
    consent_id = p.state()["consent_id"]
    db = consent_local_demo.state_dir / "consent.db"
    row = sqlite3.connect(db).execute("SELECT action, gpc FROM consent_log WHERE consent_id = ?",
                                      (consent_id,)).fetchone()
    assert row == ("accept_all", 1)


def test_javascript_disabled(consent_new_page: Factory) -> None:
    p = consent_new_page(javascript=False)
    p.goto("/products")
    assert p.banner.is_visible()
    p.accept_all()  # a plain form post, 303 back to the page
    assert p.page.url.endswith("/products")
    assert p.banner.count() == 0
    assert p.state()["categories"] == {"identity": True, "personalization": True}
    # the settings control is a plain link to the receipt, which leads back to this page
    p.page.locator('[data-consent-action="open"]').click()
    assert "/_consent/receipt" in p.page.url
    back = p.page.locator('a[href="/products"]')
    assert back.count() == 1


def test_javascript_disabled_custom_choice(consent_new_page: Factory) -> None:
    p = consent_new_page(javascript=False)
    p.goto("/")
    p.banner.locator("summary").click()  # <details> opens without JavaScript
    p.banner.locator('input[value="identity"]').check()
    p.accept_all  # noqa: B018 - not used: the save button submits the ticked boxes
    with p.page.expect_navigation():
        p.click_action("save")
    assert p.state()["categories"] == {"identity": True, "personalization": False}


@pytest.mark.parametrize("locale,title,button", [
    ("zh-CN", "本站的 Cookie 使用", "全部接受"),
    ("en", "Cookies on this site", "Accept all"),
])
def test_languages_and_screenshots(consent_new_page: Factory, locale: str, title: str, button: str) -> None:
    for name, kwargs in (("desktop", {}), ("mobile", {"viewport": {"width": 390, "height": 844}, "mobile": True})):
        p = consent_new_page(locale=locale, **kwargs)
        p.goto("/")
        assert p.banner.locator("h2").inner_text() == title
        assert p.banner.locator('[data-consent-action="accept_all"]').inner_text() == button
        assert p.banner.get_attribute("lang") == locale
        p.screenshot(f"banner-{locale}-{name}")
        p.open_settings()
        p.screenshot(f"banner-{locale}-{name}-settings")


def test_crawler_gets_no_banner_and_no_cookies(consent_new_page: Factory) -> None:
    p = consent_new_page(user_agent=GOOGLEBOT)
    p.goto("/")
    assert p.banner.count() == 0
    assert p.page.locator('[data-consent-action="open"]').count() == 0
    assert tracker_runs(p) == 0
    assert set(p.browser_cookies()) <= {"csrftoken"}


def test_mobile_viewport(consent_new_page: Factory) -> None:
    p = consent_new_page(viewport={"width": 360, "height": 640}, mobile=True)
    p.goto("/")
    box = p.banner.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 + 0.5
    buttons = p.banner.locator(".cg-button").all()
    box_of = {b.get_attribute("data-consent-action"): b.bounding_box() for b in buttons if b.is_visible()}
    accept, reject, choose = box_of["accept_all"], box_of["reject_all"], box_of["save"]
    # accept and reject side by side, the same size (equally prominent); the details below, full width
    assert accept["y"] == reject["y"] and accept["width"] == reject["width"]  # type: ignore[index]
    assert choose["y"] > accept["y"] and choose["width"] > accept["width"]  # type: ignore[index]
    for b in buttons:
        if b.is_visible():
            assert b.bounding_box()["height"] >= 44  # type: ignore[index]  # touch target size
    p.accept_all()
    assert p.banner.count() == 0


def test_keyboard_only(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    kb = p.page.keyboard
    inside = "() => document.getElementById('consent-banner').contains(document.activeElement)"
    assert p.page.evaluate(inside)  # the first layer takes focus first...
    seen = []
    for _ in range(12):  # ...but is not modal: Tab goes on to the page
        kb.press("Tab")
        seen.append(p.page.evaluate(inside))
    assert not all(seen)
    p.banner.locator('[data-consent-action="save"]').focus()
    kb.press("Enter")  # opens the settings: modal from here on
    assert p.banner.locator("details").evaluate("d => d.open")
    focused = p.page.evaluate("() => document.activeElement.value")
    assert focused == "identity"
    for _ in range(15):  # focus stays in the modal dialog
        kb.press("Tab")
        assert p.page.evaluate(inside)
    for _ in range(15):
        kb.press("Shift+Tab")
        assert p.page.evaluate(inside)
    p.banner.locator("#cg-cat-identity").focus()
    kb.press("Space")
    kb.press("Escape")  # closes the second layer only
    assert not p.banner.locator("details").evaluate("d => d.open") and p.banner.is_visible()
    kb.press("Enter")  # focus is back on the save control: reopen, focus on the first box
    with p.page.expect_response(lambda r: r.url.endswith("/_consent") and r.request.method == "POST"):
        kb.press("Enter")  # Enter in a checkbox saves the ticked boxes, never "accept all"
    p.wait_applied()
    assert p.state()["categories"] == {"identity": True, "personalization": False}
    assert p.banner.count() == 0
    # reopening is as easy: the settings control is reachable by keyboard
    p.page.locator('[data-consent-action="open"]').focus()
    kb.press("Enter")
    p.banner.wait_for(state="visible")
    assert p.page.evaluate(inside)


def test_no_layout_shift(consent_new_page: Factory) -> None:
    """The banner overlays the page: every page element sits where it sits without a banner."""
    rects = "() => ['h1', '#login-status', '#tracker-status', 'main p:last-of-type', 'main img', 'header']" \
            ".map(s => JSON.stringify(document.querySelector(s).getBoundingClientRect()))" \
            ".concat([document.body.getBoundingClientRect().height])  // takes no room in the flow either"
    with_banner = consent_new_page(locale="en")
    with_banner.page.add_init_script("""
      window.__cls = 0;
      new PerformanceObserver(l => l.getEntries().forEach(e => { window.__cls += e.value; }))
        .observe({type: 'layout-shift', buffered: true});
    """)
    with_banner.goto("/")
    with_banner.page.wait_for_timeout(300)
    assert with_banner.banner.is_visible()
    without = consent_new_page(locale="en")
    without.goto("/")
    without.reject_all()
    without.goto("/")
    assert without.banner.count() == 0
    for page in (with_banner.page, without.page):
        page.evaluate("() => document.fonts.ready.then(() => true)")  # measure settled text only
    assert with_banner.page.evaluate(rects) == without.page.evaluate(rects)
    # and the whole page stays within the "good" Core Web Vitals threshold
    assert with_banner.page.evaluate("() => window.__cls") < 0.1


def test_axe_no_serious_violations(consent_new_page: Factory) -> None:
    from axe_playwright_python.sync_playwright import Axe

    for locale, scheme in (("zh-CN", "light"), ("en", "light"), ("en", "dark")):
        p = consent_new_page(locale=locale, color_scheme=scheme)
        p.goto("/")
        results = Axe().run(p.page, context="#consent-banner")
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], [(v["id"], v["help"]) for v in bad]
        p.open_settings()
        results = Axe().run(p.page, context="#consent-banner")
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], [(v["id"], v["help"]) for v in bad]


def test_guard_blocks_dynamic_trackers_and_cookie_writes(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.page.evaluate("""() => {
      const s = document.createElement('script');
      s.src = '/static/demo-tracker.js?late=1';
      document.head.appendChild(s);
      const box = document.createElement('div');
      box.innerHTML = '<p><iframe src="/static/demo-tracker.js?frame=1"></iframe></p>';
      document.body.appendChild(box);
      document.cookie = '_ga_LATE=1; path=/';
      document.cookie = 'unrelated_ok=1; path=/';
    }""")
    p.page.wait_for_timeout(300)
    assert tracker_runs(p) == 0
    held = p.page.locator('script[data-src*="late=1"]')
    assert held.get_attribute("type") == "text/plain"
    frame = p.page.locator('iframe[data-src*="frame=1"]')  # nested in inserted HTML
    assert frame.get_attribute("src") is None and frame.get_attribute("data-consent-category") == "personalization"
    jar = p.browser_cookies()
    assert "_ga_LATE" not in jar
    p.accept_all()
    p.page.wait_for_function("() => window.demoTrackerRuns >= 2")  # the page's tag and the late one


def test_receipt_page(consent_page: ConsentPage) -> None:
    p = consent_page
    p.goto("/")
    p.save("identity")
    p.goto("/_consent/receipt")
    assert p.state()["consent_id"] in p.page.locator("#cg-consent-id").inner_text()
    assert p.page.locator(".cg-history tbody tr").count() == 1
    with p.page.expect_navigation():
        p.page.locator('#consent-banner [data-consent-action="withdraw"]').click()
    assert p.state()["categories"]["identity"] is False


@pytest.mark.local_gateway
def test_gpc_from_javascript_is_logged(consent_new_page: Factory, consent_local_demo: LocalDemo) -> None:
    p = consent_new_page(locale="en")
    p.page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    p.goto("/")
    p.accept_all()
    consent_id = p.state()["consent_id"]
    row = sqlite3.connect(consent_local_demo.state_dir / "consent.db").execute(
        "SELECT gpc FROM consent_log WHERE consent_id = ?", (consent_id,)).fetchone()
    assert row == (1,)
