"""Activation without a reload in real Chromium: snippets that call document.write keep the page.

The page carries the real CNZZ snippet (`document.write(unescape(...))` of a span and a script whose
answer itself calls document.write) and a nested write (a written script that writes a script that
writes). Third-party hosts are answered by Playwright routes; nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.testing.plugin import ConsentPage
from gateway.testing.servers import UvicornThread
from tests.conftest import RunningGateway

CNZZ_SNIPPET = (
    "document.write(unescape(\"%3Cspan id='cnzz_stat_icon_1234'%3E%3C/span%3E%3Cscript "
    "src='https://s4.cnzz.com/z_stat.php%3Fid%3D1234%26show%3Dpic' type='text/javascript'%3E%3C/script%3E\"));"
)
# what s4.cnzz.com/z_stat.php?show=pic answers: the counter's link and icon, written in place
CNZZ_JS = ("window.cnzzRuns = (window.cnzzRuns || 0) + 1;"
           "document.write('<a id=\"cnzz-link\" href=\"https://www.cnzz.com/stat/website.php?web_id=1234\" "
           "title=\"站长统计\"><img id=\"cnzz-icon\" src=\"https://icon.cnzz.com/img/pic.gif\" alt=\"\"></a>');")
NESTED_JS = ("window.nestedRuns = (window.nestedRuns || 0) + 1;"
             "document.write('<div id=\"nested-1\">one</div><script>"
             "document.write(\"<div id=\\\\\"nested-2\\\\\">two</div>\");<\\/script>');"
             "document.write('<div id=\"nested-3\">three</div>');")
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body>
<main>
<p id="before">Before the counter</p>
<div id="counter"><script type="text/javascript">{CNZZ_SNIPPET}</script></div>
<p id="middle">Between the snippets</p>
<div id="ad"><script>document.write('<script src="https://ads.nested.example/tag.js"><\\/script>');</script></div>
<div id="gone"><script>/* nested.example */ var me = document.currentScript; me.parentNode.removeChild(me);
document.write('<p id="self-removed">still in place</p>');</script></div>
<p id="after">After the ad</p>
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
    scripts = ["cnzz.com", "nested.example"]
"""


async def shop(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture
def shop_gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    origin = UvicornThread(Starlette(routes=[Route("/", shop)])).start()
    yield make_gateway(upstream=origin.url, categories=CATEGORIES)
    origin.stop()


def _route_third_parties(p: ConsentPage, gateway_url: str) -> list[str]:
    requested: list[str] = []

    def handle(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(gateway_url):
            route.continue_()  # type: ignore[attr-defined]
            return
        requested.append(url)
        if url.startswith("https://s4.cnzz.com/z_stat.php"):
            route.fulfill(status=200, content_type="text/javascript", body=CNZZ_JS)  # type: ignore[attr-defined]
        elif url.startswith("https://ads.nested.example/"):
            route.fulfill(status=200, content_type="text/javascript", body=NESTED_JS)  # type: ignore[attr-defined]
        else:
            route.fulfill(status=204, body="")  # type: ignore[attr-defined]

    p.page.route("**/*", handle)
    return requested


ORDER = """() => Array.from(document.querySelectorAll('main [id]')).map(e => e.id)"""


@pytest.mark.local_gateway
def test_accept_runs_document_write_snippets_in_place(shop_gateway: RunningGateway,
                                                      consent_new_page: Callable[..., ConsentPage]) -> None:
    p = consent_new_page(locale="en", base_url=shop_gateway.url)
    requested = _route_third_parties(p, shop_gateway.url)
    p.goto("/")
    p.page.wait_for_load_state("networkidle")
    assert requested == []  # held on the wire before consent
    assert p.page.evaluate(ORDER) == ["before", "counter", "middle", "ad", "gone", "after"]

    p.accept_all()
    p.page.wait_for_function("() => !!document.getElementById('nested-3') && !!document.getElementById('cnzz-icon')",
                             timeout=10_000)
    # the page is intact: same document, same content, nothing replaced
    assert p.page.title() == "Shop"
    assert p.page.locator("#before").inner_text() == "Before the counter"
    assert p.page.locator("#after").inner_text() == "After the ad"
    assert p.page.locator(".cg-reopen").count() == 1  # the gateway's own markup survived too
    # written nodes sit where their script stood, nested writes in order
    assert p.page.evaluate(ORDER) == ["before", "counter", "cnzz_stat_icon_1234", "cnzz-link", "cnzz-icon",
                                      "middle", "ad", "nested-1", "nested-2", "nested-3", "gone", "self-removed",
                                      "after"]
    assert p.page.evaluate("() => document.getElementById('gone').firstElementChild.id") == "self-removed"
    assert p.page.evaluate("() => document.getElementById('counter').querySelector('span + script + a') !== null")
    assert p.page.evaluate("() => [window.cnzzRuns, window.nestedRuns]") == [1, 1]  # each ran once
    assert any(u.startswith("https://s4.cnzz.com/z_stat.php?id=1234&show=pic") for u in requested)
    assert "https://icon.cnzz.com/img/pic.gif" in requested


@pytest.mark.local_gateway
def test_a_late_write_never_blanks_the_page(shop_gateway: RunningGateway,
                                            consent_new_page: Callable[..., ConsentPage]) -> None:
    """A written script's timer that writes after load: appended, never a new document."""
    p = consent_new_page(locale="en", base_url=shop_gateway.url)
    _route_third_parties(p, shop_gateway.url)
    p.goto("/")
    p.accept_all()
    p.page.wait_for_function("() => !!document.getElementById('nested-3')", timeout=10_000)
    p.page.evaluate("() => new Promise(r => setTimeout(() => { document.write('<p id=\"late\">late</p>'); r(); }))")
    p.page.wait_for_function("() => !!document.getElementById('late')", timeout=5_000)
    assert p.page.locator("#before").count() == 1 and p.page.title() == "Shop"
