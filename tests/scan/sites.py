"""Local stand-ins for a site with real tracker snippets, for the trackers themselves, for three CMPs,
and for hostile pages. The tracker hosts (www.googletagmanager.com, ...) are answered by one local
TLS server that Chromium reaches through --host-resolver-rules: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")

# The snippets as vendors document them (ids changed): gtag.js async + inline config, the Meta
# pixel base code with its noscript image, Hotjar's loader, Baidu Tongji's hm.js loader, a YouTube embed.
SNIPPETS = """
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-TEST123');
</script>
<script>
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
src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"/></noscript>
<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:1234567,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>
<script>
var _hmt = _hmt || [];
(function() {
  var hm = document.createElement("script");
  hm.src = "https://hm.baidu.com/hm.js?0123456789abcdef0123456789abcdef";
  var s = document.getElementsByTagName("script")[0];
  s.parentNode.insertBefore(hm, s);
})();
</script>
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
{snippets}
</head><body>
<h1>{title}</h1>
<nav><a href="/logout">Sign out</a> <a href="https://elsewhere.example/">Elsewhere</a>
<a href="/">Home</a> <a href="/about">About</a> <a href="/contact#form">Contact</a></nav>
<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="YouTube video player"
 frameborder="0" allowfullscreen></iframe>
<form method="post" action="/subscribe"><input name="email"><button>Subscribe</button></form>
<script>localStorage.setItem("theme", "dark");</script>
</body></html>"""


FORBIDDEN: list[str] = []  # requests a careful scan never makes


def page(request: Request) -> Response:
    if request.url.path == "/logout":
        FORBIDDEN.append("GET /logout")
    title = {"/": "Home", "/about": "About", "/contact": "Contact"}.get(request.url.path, "Bye")
    resp = HTMLResponse(PAGE.format(title=title, snippets=SNIPPETS))
    resp.set_cookie("csrftoken", "site-csrf", path="/", samesite="lax")
    return resp


async def subscribe(request: Request) -> Response:
    FORBIDDEN.append("POST /subscribe")
    return Response("thanks")


# --- the trackers, answered by Host -----------------------------------------------------------

GTAG = """(function () {
  var id = "GA1.1." + Math.floor(Math.random() * 1e9) + "." + Math.floor(Date.now() / 1000);
  document.cookie = "_ga=" + id + "; path=/; max-age=63072000; SameSite=Lax";
  document.cookie = "_ga_TEST123=GS1.1." + Date.now() + "; path=/; max-age=63072000";
  navigator.sendBeacon("https://www.google-analytics.com/g/collect?v=2&tid=G-TEST123&en=page_view");
})();"""
FBEVENTS = """(function () {
  document.cookie = "_fbp=fb.1." + Date.now() + ".42; path=/; max-age=7776000";
  new Image().src = "https://www.facebook.com/tr/?id=1234567890&ev=PageView&noscript=0";
})();"""
HOTJAR = """(function () {
  document.cookie = "_hjSessionUser_1234567=eyJpZCI6IjEifQ; path=/; max-age=31536000";
  localStorage.setItem("_hjSessionUser_1234567", "eyJpZCI6IjEifQ");
  fetch("https://in.hotjar.com/api/v2/client/sites/1234567/visit-data", {method: "POST", body: "{}"});
})();"""
HM = """(function () {
  var now = Math.floor(Date.now() / 1000);
  document.cookie = "Hm_lvt_0123456789abcdef0123456789abcdef=" + now + "; path=/; max-age=31536000";
  document.cookie = "Hm_lpvt_0123456789abcdef0123456789abcdef=" + now + "; path=/";
  new Image().src = "https://hm.baidu.com/hm.gif?si=0123456789abcdef0123456789abcdef&rnd=" + now;
})();"""
YOUTUBE = "<!doctype html><title>video</title><p>a video</p>"


async def tracker(request: Request) -> Response:
    host = (request.headers.get("host") or "").split(":")[0]
    path = request.url.path
    js = "text/javascript"
    if host == "www.googletagmanager.com" and path == "/gtag/js":
        return Response(GTAG, media_type=js)
    if host == "connect.facebook.net" and path.endswith("/fbevents.js"):
        return Response(FBEVENTS, media_type=js)
    if host == "static.hotjar.com" and path.startswith("/c/hotjar-"):
        return Response(HOTJAR, media_type=js)
    if host == "hm.baidu.com" and path == "/hm.js":
        return Response(HM, media_type=js)
    if host in ("www.facebook.com", "hm.baidu.com") and path.rstrip("/") in ("/tr", "/hm.gif"):
        resp = Response(GIF, media_type="image/gif")
        if host == "www.facebook.com":
            resp.set_cookie("fr", "0abc.def", domain=".facebook.com", max_age=7776000, secure=True,
                            samesite="none", httponly=True)
        return resp
    if host == "www.youtube.com" and path.startswith("/embed/"):
        resp = HTMLResponse(YOUTUBE)
        resp.set_cookie("YSC", "x1y2", domain=".youtube.com", secure=True, samesite="none", httponly=True)
        resp.set_cookie("VISITOR_INFO1_LIVE", "v1", domain=".youtube.com", max_age=15552000, secure=True,
                        samesite="none", httponly=True)
        return resp
    if host == "in.hotjar.com" or host == "www.google-analytics.com":
        return Response(status_code=204, headers={"access-control-allow-origin": "*"})
    return Response("not a tracker we know", status_code=404)


def create_trackers() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", tracker, methods=["GET", "POST"])])


# --- CMPs: each page mimics the vendor's first-layer markup and ids -------------------------------

CMP_MARKUP = {
    "cookiebot": ('<div id="CybotCookiebotDialog" role="dialog"><p>This website uses cookies</p>'
                  '<button id="CybotCookiebotDialogBodyButtonDecline">Deny</button>'
                  '<button id="CybotCookiebotDialogBodyButtonCustomize">Customize</button>'
                  '<button id="CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll">Allow all</button></div>',
                  "#CybotCookiebotDialog", "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll",
                  "#CybotCookiebotDialogBodyButtonDecline"),
    "onetrust": ('<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk" class="otFlat" role="region">'
                 '<div id="onetrust-policy-text">We use cookies</div><div id="onetrust-button-group">'
                 '<button id="onetrust-pc-btn-handler">Cookie Settings</button>'
                 '<button id="onetrust-reject-all-handler">Reject All</button>'
                 '<button id="onetrust-accept-btn-handler">Accept All Cookies</button></div></div></div>',
                 "#onetrust-banner-sdk", "#onetrust-accept-btn-handler", "#onetrust-reject-all-handler"),
    "cookieconsent": ('<div id="cc-main"><div class="cm cm--box" role="dialog" aria-modal="true">'
                      '<div class="cm__body"><h2 class="cm__title">We use cookies</h2>'
                      '<div class="cm__btns"><div class="cm__btn-group">'
                      '<button type="button" class="cm__btn" data-role="all">Accept all</button>'
                      '<button type="button" class="cm__btn" data-role="necessary">Reject all</button></div>'
                      '<div class="cm__btn-group"><button type="button" class="cm__btn cm__btn--secondary" '
                      'data-role="show">Manage preferences</button></div></div></div></div></div>',
                      "#cc-main .cm", '#cc-main [data-role="all"]', '#cc-main [data-role="necessary"]'),
}

CMP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{kind}</title></head><body>
<h1>A site using {kind}</h1><p><a href="/cmp/{kind}/more">More</a></p>
<div id="cmp-slot"></div>
<script>
(function () {{
  var choice = (document.cookie.match(/(?:^|; )cmp_choice=([a-z]+)/) || [])[1];
  function load() {{
    var s = document.createElement("script");
    s.src = "https://www.googletagmanager.com/gtag/js?id=G-TEST123"; document.head.appendChild(s);
  }}
  if (choice === "all") {{ load(); return; }}
  if (choice) return;
  // like the real CMPs, the banner is inserted by script a moment after the page loads
  setTimeout(function () {{
    var slot = document.getElementById("cmp-slot");
    slot.innerHTML = {markup};
    function decide(value) {{
      document.cookie = "cmp_choice=" + value + "; path=/; max-age=31536000";
      document.querySelector({container}).style.display = "none";
      if (value === "all") load();
    }}
    document.querySelector({accept}).addEventListener("click", function () {{ decide("all"); }});
    document.querySelector({reject}).addEventListener("click", function () {{ decide("necessary"); }});
  }}, 300);
}})();
</script></body></html>"""


def cmp_page(request: Request) -> Response:
    import json

    kind = request.path_params["kind"]
    markup, container, accept, reject = CMP_MARKUP[kind]
    return HTMLResponse(CMP_PAGE.format(kind=kind, markup=json.dumps(markup), container=json.dumps(container),
                                        accept=json.dumps(accept), reject=json.dumps(reject)))


# --- hostile pages ----------------------------------------------------------------------------------

def redirect_loop(request: Request) -> Response:
    n = int(request.query_params.get("n", "0"))
    return RedirectResponse(f"/hostile/loop?n={n + 1}", status_code=302)


async def never_finishes(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"<!doctype html><html><head><title>slow</title></head><body><p>first bytes"
        for _ in range(600):  # ten minutes at most, however long the browser waits
            await asyncio.sleep(1)
            yield b" ."
    return StreamingResponse(body(), media_type="text/html")


def big(request: Request) -> Response:
    row = "<p>" + "lorem ipsum dolor sit amet " * 8 + "</p>\n"
    html = "<!doctype html><html><head><title>big</title></head><body>" + row * (10 * 1024 * 1024 // len(row))
    resp = HTMLResponse(html + '<script>document.cookie = "_ga=GA1.1.1.1; path=/";</script></body></html>')
    return resp


def throws(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>throws</title><p>ok</p>"
                        "<script>null.boom();</script>"
                        "<script>throw new Error('site bug');</script>"
                        "<script>window.onerror = function () { throw new Error('again'); }; undefinedFn();</script>")


def docwrite_bomb(request: Request) -> Response:
    # writes a growing document, then keeps replacing it from timers: it never settles
    return HTMLResponse("""<!doctype html><title>bomb</title><script>
for (var i = 0; i < 20000; i++) document.write("<div>bomb " + i + "</div>");
var n = 0;
function again() {
  n++;
  document.open();
  document.write("<title>bomb " + n + "</title><script>setTimeout(" + again.toString() + ".bind(null), 50);"
    + "var n = " + n + ";<\\/script>" + "<p>x</p>".repeat(5000));
  document.close();
}
setTimeout(again, 50);
</script>""")


def to_loopback_ip(request: Request) -> Response:
    """A site whose start URL redirects to another host name (like example.com → www.example.com)."""
    port = request.url.port
    return RedirectResponse(f"http://127.0.0.1:{port}/{request.path_params['rest']}", status_code=301)


def create_site() -> Starlette:
    return Starlette(routes=[
        Route("/", page), Route("/about", page), Route("/contact", page), Route("/logout", page),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/cmp/{kind}", cmp_page), Route("/cmp/{kind}/more", cmp_page),
        Route("/moved/{rest:path}", to_loopback_ip),
        Route("/hostile/loop", redirect_loop), Route("/hostile/slow", never_finishes),
        Route("/hostile/big", big), Route("/hostile/throws", throws), Route("/hostile/bomb", docwrite_bomb),
    ])
