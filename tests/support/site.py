"""The upstream the proxy tests talk to: each route is one situation a real site creates."""

from __future__ import annotations

import asyncio
import functools
import gzip
import zlib

import brotli
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

TRACKER_PAGE = (
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>t</title>"
    "<script async src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>"
    "<script src=\"/own.js\"></script>"
    "</head><body><p>hello</p><!-- </body> --></body></html>"
)


async def page(request: Request) -> Response:
    resp = HTMLResponse(TRACKER_PAGE, headers={"etag": '"v1"'})
    resp.set_cookie("_ga", "GA1.2.3", max_age=3600, path="/", domain="127.0.0.1")
    resp.set_cookie("sid", "s3cr3t", httponly=True, path="/")
    resp.set_cookie("csrftoken", "tok", path="/")
    resp.set_cookie("mystery", "x", path="/")
    return resp


async def echo(request: Request) -> Response:
    return JSONResponse({"headers": [[k, v] for k, v in request.headers.items()],
                         "path": request.url.path, "query": request.url.query,
                         "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                         "body": (await request.body()).decode("latin-1")})


async def json_cookies(request: Request) -> Response:
    # Cookies on a non-HTML response must be filtered too.
    resp = JSONResponse({"ok": True})
    resp.set_cookie("_gid", "1", path="/")
    resp.set_cookie("remember_me", "1", httponly=True, path="/account")
    return resp


def _compressed(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    if coding == "raw-deflate":
        c = zlib.compressobj(wbits=-15)
        return c.compress(body) + c.flush()
    if coding == "br":
        return brotli.compress(body)
    raise ValueError(coding)


async def compressed(request: Request) -> Response:
    coding = request.path_params["coding"]
    body = _compressed(TRACKER_PAGE.encode(), coding)
    return Response(body, media_type="text/html; charset=utf-8",
                    headers={"content-encoding": "deflate" if coding == "raw-deflate" else coding,
                             "etag": '"c1"'})


@functools.cache
def bomb_body() -> bytes:
    # ~100 MB of zeros in ~100 KB of gzip: must be capped, not expanded. Built once.
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(c.compress(zeros) for _ in range(100)) + c.flush()


async def bomb(request: Request) -> Response:
    return Response(bomb_body(), media_type="text/html", headers={"content-encoding": "gzip"})


async def gbk(request: Request) -> Response:
    html = "<html><head><title>中文</title></head><body><p>你好</p></body></html>"
    return Response(html.encode("gbk"), media_type="text/html; charset=gbk")


async def gbk_meta(request: Request) -> Response:
    html = '<html><head><meta charset="gb2312"><title>中文</title></head><body><p>你好</p></body></html>'
    # no charset in the header (Starlette would add utf-8 to a media_type): the <meta> decides
    return Response(html.encode("gbk"), headers={"content-type": "text/html"})


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    headers = {"content-type": "text/html"}
    if code == 206:
        headers["content-range"] = "bytes 0-9/100"
        return Response(b"<html><bod", status_code=206, headers=headers)
    return Response(b"" if code in (204, 304) else b"<html><body>x</body></html>", status_code=code,
                    headers=headers)


async def stream_bytes(request: Request) -> Response:
    total = int(request.query_params["n"])
    block = b"x" * 65536

    async def gen():  # type: ignore[no-untyped-def]
        sent = 0
        while sent < total:
            n = min(len(block), total - sent)
            yield block[:n]
            sent += n

    return StreamingResponse(gen(), media_type="application/octet-stream",
                             headers={"content-length": str(total)})


async def upload(request: Request) -> Response:
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
    return JSONResponse({"received": n})


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "5")))
    return HTMLResponse("<html><body>late</body></html>")


async def chunked_html(request: Request) -> Response:
    parts = ["<html><head><title>c</title></head><body><p>", "one</p><scr", "ipt src=\"https://hm.baidu.com/hm.js",
             "?x\"></script><p>two</p></bo", "dy></html>"]

    async def gen():  # type: ignore[no-untyped-def]
        for p in parts:
            yield p.encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(gen(), media_type="text/html")


async def no_body_tag(request: Request) -> Response:
    return HTMLResponse("<p>fragment without html, head or body")


async def set_own_cookie(request: Request) -> Response:
    resp = Response("ok")
    resp.set_cookie("consent_gateway", "forged-by-the-site", path="/")
    return resp


async def utf16(request: Request) -> Response:
    html = ('<!doctype html><html><head><meta charset="utf-16"><title>十六</title>'
            '<script src="https://hm.baidu.com/hm.js?x"></script></head><body><p>中文 😀</p></body></html>')
    return Response(b"\xff\xfe" + html.encode("utf-16-le"), media_type="text/html")


async def set_path_cookie(request: Request) -> Response:
    resp = Response("ok")
    resp.set_cookie("_gid", "GA1.2.5", path="/shop", max_age=60)
    return resp


async def ws_echo(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"cookie": ws.headers.get("cookie", ""), "categories": ws.headers.get("x-consent-categories"),
                        "forwarded_for": ws.headers.get("x-forwarded-for"),
                        "forwarded_proto": ws.headers.get("x-forwarded-proto"),
                        "proxy_authorization": ws.headers.get("proxy-authorization"),
                        "query": ws.url.query})
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except Exception:  # noqa: BLE001
        return


def create_app() -> Starlette:
    return Starlette(routes=[
        Route("/page", page),
        Route("/echo", echo, methods=["GET", "POST", "HEAD"]),
        Route("/echo/{rest:path}", echo, methods=["GET", "POST"]),
        Route("/json-cookies", json_cookies),
        Route("/compressed/{coding}", compressed),
        Route("/bomb", bomb),
        Route("/gbk", gbk),
        Route("/gbk-meta", gbk_meta),
        Route("/status/{code}", status),
        Route("/bytes", stream_bytes),
        Route("/upload", upload, methods=["POST"]),
        Route("/slow", slow),
        Route("/chunked-html", chunked_html),
        Route("/fragment", no_body_tag),
        Route("/set-own-cookie", set_own_cookie),
        Route("/set-path-cookie", set_path_cookie),
        Route("/utf16", utf16),
        WebSocketRoute("/ws", ws_echo),
    ])
