"""The sample site behind the demo: a login cookie, an analytics cookie, a tracker tag and a pixel.

It knows nothing about consent, like the sites the gateway is put in front of.
"""

from __future__ import annotations

import json
import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{head_extra}
<title>{title} · Demo Shop</title>
<style{nonce}>
body {{ font: 16px/1.6 system-ui, "Noto Sans CJK SC", sans-serif; margin: 0; color: #1b1b1b; }}
header, main {{ max-width: 46rem; margin: 0 auto; padding: 1rem; }}
header {{ display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; }}
.inline {{ display: inline; }}
.status {{ padding: .5rem .75rem; background: #f2f5f8; border-radius: 6px; }}
</style>
<!-- a tracker tag, as a site would paste it -->
<script{nonce} async src="/static/demo-tracker.js?id=DEMO-1"></script>
<script{nonce} type="text/plain" data-consent-category="personalization">
  window.siteTaggedRan = true;
</script>
</head>
<body>
<header><strong>Demo Shop</strong> <a href="/">Home</a> <a href="/products">Products</a>
<a href="/privacy">Privacy</a></header>
<main>
<h1>{title}</h1>
<p class="status" id="login-status">{login}</p>
<p class="status" id="tracker-status">Tracker: not running</p>
{body}
<img src="/static/demo-tracker.gif?id=DEMO-1&amp;page={title}" width="1" height="1" alt="">
</main>
</body>
</html>
"""


def _page(request: Request, title: str, body: str, nonce: str = "", csp_in_meta: bool = False) -> HTMLResponse:
    user = request.cookies.get("sid")
    login = ("Signed in (sid cookie present). <form method=post action=/logout class=inline>"
             "<button>Sign out</button></form>") if user else (
        "Not signed in. <form method=post action=/login class=inline>"
        "<button id=login>Sign in as demo</button></form>")
    policy = (f"script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self' 'nonce-{nonce}'; "
              "object-src 'none'; base-uri 'none'") if nonce else ""
    head_extra = f'\n<meta http-equiv="Content-Security-Policy" content="{policy}">' if csp_in_meta else ""
    resp = HTMLResponse(PAGE.format(title=title, login=login, body=body, head_extra=head_extra,
                                    nonce=f' nonce="{nonce}"' if nonce else ""))
    if nonce and not csp_in_meta:
        resp.headers["content-security-policy"] = policy
    # Server-side analytics: the site sets these on every page, consent or not.
    if "_ga" not in request.cookies:
        resp.set_cookie("_ga", "GA1.1." + secrets.token_hex(6), max_age=400 * 86400, path="/")
    resp.set_cookie("Hm_lvt_demo", "1700000000", max_age=365 * 86400, path="/")
    resp.set_cookie("csrftoken", "demo-csrf", path="/", samesite="lax")
    return resp


async def home(request: Request) -> Response:
    body = ("<p>Welcome. This page sets an analytics cookie from the server, loads a tracker script, "
            "and lets you sign in with an HttpOnly session cookie.</p>"
            "<p>Categories the gateway told the site: <code id=seen-categories>"
            f"{request.headers.get('x-consent-categories') or '(none)'}</code></p>")
    return _page(request, "Home", body)


async def products(request: Request) -> Response:
    items = "".join(f"<li>Product {i}</li>" for i in range(1, 13))
    return _page(request, "Products", f"<ul>{items}</ul>")


async def strict_csp(request: Request) -> Response:
    """A page under a nonce-based Content-Security-Policy, as security guides recommend."""
    return _page(request, "Strict CSP", "<p>This page allows only scripts that carry its nonce.</p>",
                 nonce=secrets.token_urlsafe(16), csp_in_meta=request.query_params.get("via") == "meta")


async def privacy(request: Request) -> Response:
    return _page(request, "Privacy", "<p>The demo site's privacy policy: sign-in cookies recognise registered "
                 "users; analytics cookies measure use to personalise pages, only with consent.</p>")


async def login(request: Request) -> Response:
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie("sid", secrets.token_urlsafe(16), httponly=True, path="/", samesite="lax")
    resp.set_cookie("remember_me", "1", max_age=30 * 86400, httponly=True, path="/")
    return resp


async def logout(request: Request) -> Response:
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie("sid", path="/")
    resp.delete_cookie("remember_me", path="/")
    return resp


TRACKER = """
(function () {
  window.demoTrackerRuns = (window.demoTrackerRuns || 0) + 1;
  document.cookie = "_ga_DEMO=GS1.1." + Date.now() + "; path=/; max-age=31536000";
  var s = document.getElementById("tracker-status");
  if (s) s.textContent = "Tracker: running (" + window.demoTrackerRuns + ")";
})();
"""


async def tracker(request: Request) -> Response:
    return Response(TRACKER, media_type="text/javascript")


# a 1x1 transparent GIF: the tracking pixel a site pastes next to (or instead of) a script
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


async def pixel(request: Request) -> Response:
    return Response(PIXEL, media_type="image/gif", headers={"cache-control": "no-store"})


async def echo(request: Request) -> Response:
    return JSONResponse({"headers": dict(request.headers), "cookies": request.cookies})


async def gbk(request: Request) -> Response:
    html = ("<!doctype html><html><head><title>GBK</title></head><body><p>中文页面</p>"
            '<script src="/static/demo-tracker.js"></script></body></html>')
    return Response(html.encode("gbk"), media_type="text/html; charset=gbk")


async def ws_echo(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text(json.dumps({"cookie": ws.headers.get("cookie", ""),
                                   "categories": ws.headers.get("x-consent-categories")}))
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except Exception:  # noqa: BLE001 - the browser left
        return


def create_site() -> Starlette:
    return Starlette(routes=[
        Route("/", home),
        Route("/products", products),
        Route("/privacy", privacy),
        Route("/strict-csp", strict_csp),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/demo-tracker.js", tracker),
        Route("/static/demo-tracker.gif", pixel),
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/gbk", gbk),
        WebSocketRoute("/ws", ws_echo),
    ])
