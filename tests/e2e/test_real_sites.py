# ruff: noqa: E501  (the vendors' snippets are kept with their real, long lines)
"""A new operator's first deploy: the shipped defaults in front of a realistic shop page.

The page carries the snippets real sites paste, in their real shapes (async tags, inline loaders that
build the URL, <noscript> pixels, a document.write counter, a video iframe), and the origin sets the
session cookies of common frameworks. The gateway runs gateway/default.toml with only the upstream,
the keys and the log changed. Every third-party request is answered by a Playwright route that
records it; nothing leaves the machine.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from gateway.app import ConsentGateway
from gateway.config import default_config_path, parse_config
from gateway.testing.plugin import ConsentPage
from gateway.testing.servers import UvicornThread

GTAG = """<script async src="https://www.googletagmanager.com/gtag/js?id=G-SHOP12345"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-SHOP12345');
</script>"""
GTM = """<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-SHOP123');</script>"""
GTM_NOSCRIPT = """<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-SHOP123"
height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>"""
META = """<script>
!function(f,b,e,v,n,t,s)
{if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '1234567890');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"
/></noscript>"""
HOTJAR = """<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:3456789,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>"""
CLARITY = """<script type="text/javascript">
    (function(c,l,a,r,i,t,y){
        c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
        t=l.createElement(r);t.async=1;t.src="https://www.clarity.ms/tag/"+i;
        y=l.getElementsByTagName(r)[0];y.parentNode.insertBefore(t,y);
    })(window, document, "clarity", "script", "shopclar1");
</script>"""
LINKEDIN = """<script type="text/javascript">
_linkedin_partner_id = "1234567";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script><script type="text/javascript">
(function(l) {
if (!l){window.lintrk = function(a,b){window.lintrk.q.push([a,b])};
window.lintrk.q=[]}
var s = document.getElementsByTagName("script")[0];
var b = document.createElement("script");
b.type = "text/javascript";b.async = true;
b.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";
s.parentNode.insertBefore(b, s);})(window.lintrk);
</script>
<noscript>
<img height="1" width="1" style="display:none;" alt="" src="https://px.ads.linkedin.com/collect/?pid=1234567&fmt=gif" />
</noscript>"""
TIKTOK = """<script>
!function (w, d, t) {
  w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie"],ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);ttq.instance=function(t){for(var e=ttq._i[t]||[],n=0;n<ttq.methods.length;n++)ttq.setAndDefer(e,ttq.methods[n]);return e},ttq.load=function(e,n){var i="https://analytics.tiktok.com/i18n/pixel/events.js";ttq._i=ttq._i||{},ttq._i[e]=[],ttq._i[e]._u=i,ttq._t=ttq._t||{},ttq._t[e]=+new Date,ttq._o=ttq._o||{},ttq._o[e]=n||{};var o=document.createElement("script");o.type="text/javascript",o.async=!0,o.src=i+"?sdkid="+e+"&lib="+t;var a=document.getElementsByTagName("script")[0];a.parentNode.insertBefore(o,a)};
  ttq.load('CSHOPTT123');
  ttq.page();
}(window, document, 'ttq');
</script>"""
BAIDU = """<script>
var _hmt = _hmt || [];
(function() {
  var hm = document.createElement("script");
  hm.src = "https://hm.baidu.com/hm.js?0123456789abcdef0123456789abcdef";
  var s = document.getElementsByTagName("script")[0];
  s.parentNode.insertBefore(hm, s);
})();
</script>"""
CNZZ = """<script type="text/javascript">document.write(unescape("%3Cspan id='cnzz_stat_icon_1281234567'%3E%3C/span%3E%3Cscript src='https://s4.cnzz.com/z_stat.php%3Fid%3D1281234567%26show%3Dpic' type='text/javascript'%3E%3C/script%3E"));</script>"""
LA51 = """<script charset="UTF-8" id="LA_COLLECT" src="//sdk.51.la/js-sdk-pro.min.js"></script>
<script>window.LA && LA.init({id:"JshopLa51",ck:"JshopLa51"})</script>"""
TAJS = """<script type="text/javascript" src="https://tajs.qq.com/stats?sId=66012345" charset="UTF-8"></script>"""
SENSORS = """<script>
(function(para) {
  var p = para.sdk_url, n = para.name, w = window, d = document, s = 'script',x = null,y = null;
  if(typeof(w['sensorsDataAnalytic201505']) !== 'undefined') {
      return false;
  }
  w['sensorsDataAnalytic201505'] = n;
  w[n] = w[n] || function(a) {return function() {(w[n]._q = w[n]._q || []).push([a, arguments]);}};
  var ifs = ['track','quick','register','registerPage','registerOnce','trackSignup', 'trackAbtest', 'setProfile','setOnceProfile','appendProfile', 'incrementProfile', 'deleteProfile', 'unsetProfile', 'identify','login','logout','trackLink','clearAllRegister','getAppStatus'];
  for (var i = 0; i < ifs.length; i++) {
    w[n][ifs[i]] = w[n].call(null, ifs[i]);
  }
  if (!w[n]._t) {
    x = d.createElement(s), y = d.getElementsByTagName(s)[0];
    x.async = 1;
    x.src = p;
    x.setAttribute('charset','UTF-8');
    w[n].para = para;
    y.parentNode.insertBefore(x, y);
  }
})({
  sdk_url: 'https://static.sensorsdata.cn/sdk/1.26.18/sensorsdata.min.js',
  heatmap_url: 'https://static.sensorsdata.cn/sdk/1.26.18/heatmap.min.js',
  name: 'sensors',
  server_url: 'https://shop-data.example.com:8106/sa?project=default'
});
sensors.quick('autoTrack');
</script>"""
YOUTUBE = """<iframe id="product-video" width="560" height="315"
src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="YouTube video player" frameborder="0"
allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture"
referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>"""

PRODUCTS = "".join(
    f'<li class="product" data-sku="SKU-{i}"><a href="/p/{i}"><img src="/img/{i}.jpg" alt="Tea {i}" width="120" '
    f'height="120"></a><h3>Oolong tea no. {i}</h3><p class="price">¥{38 + i}.00</p>'
    f'<form method="post" action="/cart"><input type="hidden" name="_token" value="tok"><button>Add to cart</button>'
    f"</form></li>"
    for i in range(12)
)
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Teahouse shop</title>
<link rel="stylesheet" href="/static/shop.css">
{GTAG}
{GTM}
{META}
{HOTJAR}
{CLARITY}
{TIKTOK}
{BAIDU}
{SENSORS}
</head>
<body>
{GTM_NOSCRIPT}
<header><a href="/" id="logo">Teahouse</a><nav><a href="/cart" id="cart-link">Cart (2)</a></nav></header>
<main id="content">
<h1 id="headline">Spring teas</h1>
<ul id="products">{PRODUCTS}</ul>
<section id="video">{YOUTUBE}</section>
</main>
<footer id="footer"><p id="copyright">© Teahouse</p>
<div id="stats">{CNZZ}{LA51}{TAJS}</div>
</footer>
{LINKEDIN}
</body></html>"""

FRAMEWORK_COOKIES = {"PHPSESSID": "php0123456789", "laravel_session": "eyJpdiI6IjEifQ%3D%3D",
                     "XSRF-TOKEN": "eyJ2YWx1ZSI6IngifQ%3D%3D", "cart_id": "c-42", "lang": "en"}
# what each vendor's first request looks like once it runs (a URL prefix)
VENDORS = {
    "Google gtag.js": "https://www.googletagmanager.com/gtag/js?id=G-SHOP12345",
    "Google Tag Manager": "https://www.googletagmanager.com/gtm.js?id=GTM-SHOP123",
    "Meta Pixel": "https://connect.facebook.net/en_US/fbevents.js",
    "Hotjar": "https://static.hotjar.com/c/hotjar-3456789.js?sv=6",
    "Microsoft Clarity": "https://www.clarity.ms/tag/shopclar1",
    "LinkedIn Insight": "https://snap.licdn.com/li.lms-analytics/insight.min.js",
    "TikTok Pixel": "https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=CSHOPTT123",
    "Baidu Tongji": "https://hm.baidu.com/hm.js?0123456789abcdef",
    "CNZZ": "https://s4.cnzz.com/z_stat.php?id=1281234567&show=pic",
    "51.la": "http://sdk.51.la/js-sdk-pro.min.js",  # protocol-relative on an http page
    "Tencent Analytics": "https://tajs.qq.com/stats?sId=66012345",
    "Sensors Data": "https://static.sensorsdata.cn/sdk/1.26.18/sensorsdata.min.js",
    "YouTube": "https://www.youtube.com/embed/dQw4w9WgXcQ",
}
# what s4.cnzz.com answers with show=pic: its icon, written in place by document.write
CNZZ_JS = ("document.write('<a id=\"cnzz-link\" href=\"https://www.cnzz.com/stat/website.php?web_id=1281234567\" "
           "title=\"站长统计\"><img id=\"cnzz-icon\" src=\"https://icon.cnzz.com/img/pic.gif\" alt=\"\"></a>');")


async def home(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    for name, value in FRAMEWORK_COOKIES.items():
        response.set_cookie(name, value, path="/", httponly=name in ("PHPSESSID", "laravel_session"))
    return response


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"cookies": sorted(request.cookies), "consent": request.headers.get("x-consent-categories")})


def shipped_config(upstream: str, state: Path, mode: str | None = None) -> Any:
    """gateway/default.toml with only the upstream, the keys and the log changed (and the mode, for
    report-mode tests)."""
    text = default_config_path().read_text(encoding="utf-8")
    text = re.sub(r'(?m)^upstream = "[^"]*"', f'upstream = "{upstream}"', text)
    text = re.sub(r'(?m)^secret_keys = \[[^\]]*\]', 'secret_keys = ["real-sites-test-key-0123456789abcdef"]', text)
    text = re.sub(r'(?m)^url = "sqlite:[^"]*"', f'url = "sqlite:///{state}/consent.db"\nchain_key = '
                  '"real-sites-chain-key-0123456789"', text)
    if mode is not None:
        text = re.sub(r'(?m)^mode = "enforce"', f'mode = "{mode}"', text)
    return parse_config(text, source="default.toml (test copy)")


@pytest.fixture(scope="module")
def shop_origin() -> Iterator[UvicornThread]:
    origin = UvicornThread(Starlette(routes=[Route("/", home), Route("/echo", echo)])).start()
    yield origin
    origin.stop()


@pytest.fixture
def shipped_gateway(shop_origin: UvicornThread) -> Iterator[Callable[..., str]]:
    started: list[UvicornThread] = []
    with tempfile.TemporaryDirectory(prefix="cg-real-") as state:

        def start(mode: str | None = None) -> str:
            config = shipped_config(shop_origin.url, Path(state) / str(len(started)), mode)
            (Path(state) / str(len(started))).mkdir()
            started.append(UvicornThread(ConsentGateway(config), lifespan="on").start())
            return str(started[-1].url)

        yield start
        for s in started:
            s.stop()


def record_third_parties(p: ConsentPage, gateway_url: str) -> list[str]:
    """Answer every request that is not for the gateway, in every frame, and record its URL."""
    requested: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(gateway_url):
            route.continue_()
            return
        requested.append(url)
        if url.startswith("https://s4.cnzz.com/z_stat.php"):
            route.fulfill(status=200, content_type="text/javascript", body=CNZZ_JS)
        elif route.request.resource_type == "script":
            route.fulfill(status=200, content_type="text/javascript", body="/* vendor */")
        elif route.request.resource_type in ("document", "subdocument"):
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><p>embed</p>")
        else:
            route.fulfill(status=204, body="")

    p.context.route("**/*", handle)
    return requested


def vendors_in(requested: list[str]) -> set[str]:
    return {name for name, prefix in VENDORS.items() if any(u.startswith(prefix) for u in requested)}


def content_intact(p: ConsentPage) -> None:
    assert p.page.title() == "Teahouse shop"
    assert p.page.locator("#headline").inner_text() == "Spring teas"
    assert p.page.locator("#products li.product").count() == 12
    assert p.page.locator("#copyright").inner_text() == "© Teahouse"
    assert p.page.locator("#product-video").count() == 1


@pytest.mark.local_gateway
def test_shipped_defaults_hold_every_vendor_and_keep_framework_sessions(
        shipped_gateway: Callable[..., str], consent_new_page: Callable[..., ConsentPage]) -> None:
    url = shipped_gateway()
    p = consent_new_page(locale="en", base_url=url)
    requested = record_third_parties(p, url)
    p.goto("/")
    p.page.wait_for_load_state("networkidle")
    assert requested == [], f"before consent: {sorted(vendors_in(requested))} leaked"
    content_intact(p)

    # the framework's session, CSRF, cart and language cookies are kept and reach the site
    jar = p.browser_cookies()
    assert set(FRAMEWORK_COOKIES) <= set(jar), sorted(jar)
    seen = p.context.request.get(url + "/echo").json()
    assert set(FRAMEWORK_COOKIES) <= set(seen["cookies"]), seen

    p.accept_all()
    p.page.wait_for_function("() => !!document.getElementById('cnzz-icon')", timeout=15_000)
    # "networkidle" can come before a loader that inserts its script a tick later (LinkedIn's did once):
    # wait, bounded, until every vendor has asked, then check
    for _ in range(150):
        if vendors_in(requested) == set(VENDORS):
            break
        p.page.wait_for_timeout(100)
    assert vendors_in(requested) == set(VENDORS), f"missing after accept: {set(VENDORS) - vendors_in(requested)}"
    content_intact(p)  # not blanked, not replaced
    assert p.page.evaluate("() => document.querySelector('#stats #cnzz_stat_icon_1281234567 + script + a') !== null")
    assert set(FRAMEWORK_COOKIES) <= set(p.browser_cookies())


@pytest.mark.local_gateway
def test_after_reject_and_reload_no_vendor_is_requested(
        shipped_gateway: Callable[..., str], consent_new_page: Callable[..., ConsentPage]) -> None:
    url = shipped_gateway()
    p = consent_new_page(locale="en", base_url=url)
    requested = record_third_parties(p, url)
    p.goto("/")
    p.reject_all()
    p.page.reload()
    p.page.wait_for_load_state("networkidle")
    assert requested == [], f"after reject: {sorted(vendors_in(requested))} leaked"
    content_intact(p)
    assert set(FRAMEWORK_COOKIES) <= set(p.browser_cookies())
    assert set(FRAMEWORK_COOKIES) <= set(p.context.request.get(url + "/echo").json()["cookies"])


@pytest.mark.local_gateway
def test_report_mode_lets_every_vendor_run_and_still_asks(
        shipped_gateway: Callable[..., str], consent_new_page: Callable[..., ConsentPage]) -> None:
    url = shipped_gateway(mode="report")
    p = consent_new_page(locale="en", base_url=url)
    requested = record_third_parties(p, url)
    p.goto("/")
    p.page.wait_for_function("() => !!document.getElementById('cnzz-icon')", timeout=15_000)
    p.page.wait_for_load_state("networkidle")
    assert vendors_in(requested) == set(VENDORS)  # all of them, before any choice
    assert p.banner.is_visible()
    # guard.js holds nothing either: a tag a script inserts later still loads
    with p.page.expect_request("https://static.hotjar.com/c/late.js"):
        p.page.evaluate("() => { const s = document.createElement('script'); "
                        "s.src = 'https://static.hotjar.com/c/late.js'; document.head.appendChild(s); }")
    p.reject_all()
    assert p.state()["decided"] is True
