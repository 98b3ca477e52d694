"""Click-to-load embeds in real Chromium: a held iframe leaves a placeholder of its own size; its
button loads exactly that embed and changes no consent; the layout does not move.

Third-party hosts are answered by a Playwright route that records them; nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.testing.plugin import ConsentPage
from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Videos</title>
<style>body { margin: 8px; font: 16px/1.5 sans-serif; }</style></head>
<body>
<main>
<p id="before">Before the video</p>
<div><iframe id="video" width="560" height="315" src="https://www.youtube.com/embed/abc123?rel=0" frameborder="0"
 allowfullscreen></iframe></div>
<p id="middle">Between</p>
<iframe id="map" style="width: 400px; height: 220px; border: 0" src="https://maps.google.com/maps?q=x&amp;output=embed">
</iframe> <span id="beside">beside the map</span>
<p><iframe id="vimeo" src="https://player.vimeo.com/video/42"></iframe></p>
<p id="after">After the embeds</p>
</main>
</body></html>"""

CATEGORIES = """
    [[categories]]
    id = "identity"
    cookies = ["sid"]
    scripts = []

    [[categories]]
    id = "personalization"
    cookies = ["_ga"]
    scripts = ["youtube.com", "maps.google.com", "player.vimeo.com"]
"""
EMBEDS = ("video", "map", "vimeo")
BOX = "sel => { const r = document.querySelector(sel).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"
# each iframe shows, with its src back, and its cross-origin document has loaded
LOADED = """ids => ids.every(i => { const f = document.getElementById(i);
    return !f.hidden && f.getAttribute('src') && f.contentDocument === null; })"""
WATCH_SHIFTS = """() => { window.shifts = []; new PerformanceObserver(list => list.getEntries().forEach(
    e => window.shifts.push(e.value))).observe({type: "layout-shift"}); }"""


async def videos(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture
def video_gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    origin = UvicornThread(Starlette(routes=[Route("/", videos)])).start()
    yield make_gateway(upstream=origin.url, categories=CATEGORIES)
    origin.stop()


def route_third_parties(p: ConsentPage, gateway_url: str) -> tuple[list[str], list[str]]:
    """(third-party URLs requested, requests to the gateway's /_consent endpoints)."""
    third: list[str] = []
    own: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(gateway_url):
            if "/_consent" in url and "/static/" not in url:
                own.append(f"{route.request.method} {url[len(gateway_url):]}")
            route.continue_()
            return
        third.append(url)
        route.fulfill(status=200, content_type="text/html",
                      body="<body style='margin:0;background:#333;color:#fff'>embed</body>")

    p.page.route("**/*", handle)
    return third, own


def boxes(p: ConsentPage) -> dict[str, list[float]]:
    """Each embed's box: its placeholder while held, the iframe once shown; and the text after."""
    out = {}
    for i in EMBEDS:
        shown = p.page.evaluate(f"() => !document.getElementById('{i}').hidden")
        sel = f"#{i}" if shown else f"[data-consent-placeholder]:has(+ #{i})"
        out[i] = p.page.evaluate(BOX, sel)
    for i in ("middle", "beside", "after"):
        out[i] = p.page.evaluate(BOX, f"#{i}")
    return out


def natural_boxes(consent_browser: Any, gateway: RunningGateway) -> dict[str, list[float]]:
    """The same page with every embed loaded, as if there were no gateway: the boxes to keep."""
    context = consent_browser.new_context(viewport={"width": 1280, "height": 800}, java_script_enabled=False)
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.fulfill(status=200, content_type="text/html", body="<body>e</body>")
                   if not route.request.url.startswith(gateway.url) else route.continue_())
        page.set_content(PAGE)
        return {i: page.evaluate(BOX, f"#{i}") for i in (*EMBEDS, "middle", "beside", "after")}
    finally:
        context.close()


@pytest.mark.local_gateway
def test_click_to_load_loads_exactly_that_embed(video_gateway: RunningGateway, consent_browser: Any,
                                                 consent_new_page: Callable[..., ConsentPage]) -> None:
    p = consent_new_page(locale="en", base_url=video_gateway.url)
    third, own = route_third_parties(p, video_gateway.url)
    p.goto("/")
    p.page.wait_for_load_state("networkidle")
    assert third == []  # nothing reaches YouTube, Google Maps or Vimeo before consent
    placeholders = p.page.locator("[data-consent-placeholder]")
    assert placeholders.count() == 3
    assert "YouTube" in placeholders.nth(0).inner_text() and placeholders.nth(0).locator("button").count() == 1

    # the placeholders take the iframes' boxes: the page is laid out as it would be without us
    natural = natural_boxes(consent_browser, video_gateway)
    held = boxes(p)
    assert held == natural

    p.page.evaluate(WATCH_SHIFTS)
    cookies_before = p.browser_cookies()
    own.clear()
    p.page.locator("[data-consent-placeholder]:has(+ #video) button").click()
    p.page.wait_for_function(LOADED, arg=["video"])

    assert third == ["https://www.youtube.com/embed/abc123?rel=0"]  # that embed, and no other
    assert p.page.locator("[data-consent-placeholder]").count() == 2
    assert p.page.evaluate("() => ['map', 'vimeo'].map(i => document.getElementById(i).hasAttribute('src'))") == \
        [False, False]
    # no consent changed: no decision posted, no cookie set, the state is still undecided
    assert own == [] and p.browser_cookies() == cookies_before
    assert p.state()["decided"] is False
    assert p.page.evaluate("() => window.consentGateway.grantedMap") == {}
    # and nothing moved
    assert boxes(p) == natural
    p.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert p.page.evaluate("() => window.shifts") == []


@pytest.mark.local_gateway
def test_allowing_the_category_replaces_every_placeholder(video_gateway: RunningGateway, consent_browser: Any,
                                                          consent_new_page: Callable[..., ConsentPage]) -> None:
    p = consent_new_page(locale="zh-CN", base_url=video_gateway.url)
    third, _ = route_third_parties(p, video_gateway.url)
    p.goto("/")
    assert "仅加载此内容" in p.page.locator("[data-consent-placeholder] button").first.inner_text()
    p.screenshot("click-to-load-zh-CN")
    p.page.evaluate(WATCH_SHIFTS)
    p.accept_all()
    p.page.wait_for_function("() => document.querySelectorAll('[data-consent-placeholder]').length === 0")
    p.page.wait_for_function(LOADED, arg=list(EMBEDS))
    assert sorted(third) == sorted(["https://www.youtube.com/embed/abc123?rel=0",
                                    "https://maps.google.com/maps?q=x&output=embed",
                                    "https://player.vimeo.com/video/42"])
    assert boxes(p) == natural_boxes(consent_browser, video_gateway)
    assert p.page.evaluate("() => window.shifts") == []


@pytest.mark.local_gateway
def test_without_javascript_the_placeholder_still_shows(video_gateway: RunningGateway,
                                                        consent_new_page: Callable[..., ConsentPage]) -> None:
    p = consent_new_page(locale="en", javascript=False, base_url=video_gateway.url)
    third, _ = route_third_parties(p, video_gateway.url)
    p.goto("/")
    p.page.wait_for_load_state("networkidle")
    assert third == []
    ph = p.page.locator("[data-consent-placeholder]:has(+ #video)")
    assert ph.is_visible() and "YouTube" in ph.inner_text()
    assert p.page.locator("#video").is_hidden()
    link = ph.locator("a")
    assert link.get_attribute("href") == "/_consent/receipt?next=/"
    # the category link leads to the settings, where the whole category can be allowed
    with p.page.expect_navigation():
        link.click()
    assert p.page.locator('input[name="categories"][value="personalization"]').count() == 1


@pytest.mark.local_gateway
def test_the_category_link_opens_the_settings(video_gateway: RunningGateway,
                                              consent_new_page: Callable[..., ConsentPage]) -> None:
    p = consent_new_page(locale="en", base_url=video_gateway.url)
    third, _ = route_third_parties(p, video_gateway.url)
    p.goto("/")
    # undecided: the banner is up; the link opens its settings at the embed's category
    p.page.locator("[data-consent-placeholder]:has(+ #map) a").click()
    assert p.banner.locator("details").evaluate("d => d.open")
    assert p.page.evaluate("() => document.activeElement.id") == "cg-cat-personalization"
    p.save("personalization")
    p.page.wait_for_function(LOADED, arg=list(EMBEDS))
    assert len(third) == 3

    # decided against: the link brings the settings back
    q = consent_new_page(locale="en", base_url=video_gateway.url)
    route_third_parties(q, video_gateway.url)
    q.goto("/")
    q.reject_all()
    q.page.locator("[data-consent-placeholder]:has(+ #video) a").click()
    q.banner.wait_for(state="visible")
    assert q.banner.locator("details").evaluate("d => d.open")
