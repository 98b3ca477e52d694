"""Partial updates in real Chromium: an htmx-style page swaps in fragments through the gateway.

The page's own small fetch/swap stands in for htmx (same request header, same swap: the fragment's
HTML replaces a target's content and its scripts are re-created so they run, as htmx does). Each
fragment carries a tracker script and pixel and sets an optional cookie. A fragment must add no
second banner or head config, and its tracker must stay held.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.app import ConsentGateway
from gateway.demo.run import demo_config
from gateway.testing.plugin import ConsentPage
from gateway.testing.servers import UvicornThread, free_port

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Cart</title></head><body>
<h1>Cart</h1><div id="cart"><p>empty</p></div>
<script>
window.swaps = 0;
async function swap() {  // what hx-get="/cart" hx-target="#cart" does
  const r = await fetch("/cart?n=" + window.swaps, {headers: {"HX-Request": "true", "HX-Target": "cart"}});
  const target = document.getElementById("cart");
  target.innerHTML = await r.text();
  for (const old of target.querySelectorAll("script")) {  // htmx re-creates scripts so they run
    const s = document.createElement("script");
    for (const a of old.attributes) s.setAttribute(a.name, a.value);
    s.textContent = old.textContent;
    old.replaceWith(s);
  }
  window.swaps++;
}
</script></body></html>"""

# What a server-rendered partial looks like, tracker included, and no <html>/<body> of its own.
FRAGMENT = ('<ul><li>item {n}</li></ul><select name=q><option>1'
            '<script async src="/static/demo-tracker.js"></script>'
            '<img src="/static/demo-tracker.gif?frag={n}" width=1 height=1 alt="">')


def site() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def cart(request: Request) -> Response:
        resp = HTMLResponse(FRAGMENT.format(n=int(request.query_params.get("n", "0"))))
        resp.set_cookie("_ga", "GA1.2.3", path="/")  # an optional cookie, from a fragment
        return resp

    async def tracker(request: Request) -> Response:
        return Response("window.demoTrackerRuns = (window.demoTrackerRuns || 0) + 1;", media_type="text/javascript")

    return Starlette(routes=[Route("/", page), Route("/cart", cart), Route("/static/demo-tracker.js", tracker),
                             Route("/static/demo-tracker.gif", tracker)])


@pytest.fixture(scope="module")
def fragment_gateway() -> Iterator[str]:
    origin = UvicornThread(site()).start()
    with tempfile.TemporaryDirectory(prefix="cg-fragments-") as state:
        gateway = UvicornThread(ConsentGateway(demo_config(free_port(), origin.port, Path(state))),
                                lifespan="on").start()
        yield gateway.url
        gateway.stop()
    origin.stop()


@pytest.mark.local_gateway
def test_htmx_swaps_add_no_banner_and_hold_the_tracker(consent_new_page: Callable[..., ConsentPage],
                                                       fragment_gateway: str) -> None:
    p = consent_new_page(base_url=fragment_gateway, locale="en")
    fetched: list[str] = []
    p.page.on("request", lambda r: fetched.append(r.url) if "/static/demo-tracker" in r.url else None)
    p.goto("/")
    assert p.banner.count() == 1 and p.banner.is_visible()

    def counts() -> Any:
        return p.page.evaluate("""() => [document.querySelectorAll('#consent-banner').length,
            document.querySelectorAll('#consent-gateway-config').length,
            document.querySelectorAll('.cg-reopen').length, window.demoTrackerRuns || 0]""")

    for n in range(3):
        p.page.evaluate("swap()")
        p.page.wait_for_function(f"() => window.swaps === {n + 1}")
        assert p.page.locator("#cart li").inner_text() == f"item {n}"
        assert counts() == [1, 1, 1, 0]
    # the swapped-in tracker is there, held: no src to load, a type no browser runs
    held = p.page.locator('#cart script[data-consent-category="personalization"]')
    assert held.count() == 1 and held.get_attribute("src") is None
    assert fetched == []  # neither the script nor the pixel was requested
    assert "_ga" not in p.browser_cookies()
    # the one banner still works after the swaps
    p.reject_all()
    assert p.banner.count() == 0
