"""ConsentMiddleware around real Starlette and FastAPI apps under real uvicorn: the same stages as
the proxy, no hop."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.applications import Starlette
from starlette.responses import HTMLResponse as StarletteHTML
from starlette.responses import JSONResponse as StarletteJSON
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.config import parse_config
from gateway.testing.servers import UvicornThread
from tests.conftest import config_text

PAGE = ('<!doctype html><html><head><title>Shop</title>'
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head>'
        '<body><h1>Shop</h1></body></html>')


def starlette_app() -> Any:
    async def page(request: Any) -> Any:
        r = StarletteHTML(PAGE)
        r.set_cookie("_ga", "GA1.1.1")
        r.set_cookie("sid", "s")
        return r

    async def seen(request: Any) -> Any:
        return StarletteJSON({"cookies": dict(request.cookies), "categories": request.headers.get(
            "x-consent-categories")})

    return Starlette(routes=[Route("/", page), Route("/seen", seen)])


def fastapi_app() -> tuple[Any, dict[str, bool]]:
    state = {"started": False}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["started"] = True
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> Any:
        r = HTMLResponse(PAGE)
        r.set_cookie("_ga", "GA1.1.1")
        return r

    @app.get("/seen")
    async def seen(request: Request) -> Any:
        return JSONResponse({"cookies": dict(request.cookies), "categories": request.headers.get(
            "x-consent-categories")})

    return app, state


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[UvicornThread] = []

    def start(app: Any) -> str:
        config = parse_config(config_text("http://127.0.0.1:1", tmp_path / f"log{len(servers)}.db"))
        servers.append(UvicornThread(ConsentMiddleware(app, config), lifespan="on").start())
        return servers[-1].url

    yield start
    for s in servers:
        s.stop()


@pytest.mark.parametrize("kind", ["starlette", "fastapi"])
def test_the_wrapped_app_gets_the_proxys_enforcement(serve: Any, kind: str) -> None:
    app, state = (starlette_app(), None) if kind == "starlette" else fastapi_app()
    url = serve(app)
    if state is not None:
        assert state["started"]  # the app's own lifespan ran inside ours
    with httpx.Client(base_url=url) as c:
        r = c.get("/")
        assert r.status_code == 200 and 'id="consent-banner"' in r.text
        assert 'data-src="https://www.googletagmanager.com/gtag/js?id=G-1"' in r.text  # held before parse
        set_cookies = r.headers.get_list("set-cookie")
        assert not any(v.startswith("_ga=") for v in set_cookies)  # dropped, no consent
        seen = c.get("/seen", headers={"Cookie": "_ga=1; sid=2; csrftoken=3"}).json()
        assert seen == {"cookies": {"csrftoken": "3"}, "categories": ""}
        d = c.post("/_consent", data={"action": "accept_all"}, headers={"Origin": url, "Accept": "application/json"})
        assert d.status_code == 200 and d.json()["categories"]["personalization"] is True
        seen = c.get("/seen", headers={"Cookie": f"consent_gateway={c.cookies['consent_gateway']}; _ga=1"}).json()
        assert seen["cookies"] == {"_ga": "1"} and seen["categories"] == "identity,personalization"
        assert c.get("/_consent/health/ready").json()["upstream"] == "ok"


def test_an_app_that_raises_gets_the_error_page_not_a_traceback(serve: Any) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")

    url = serve(broken)
    r = httpx.get(url + "/")
    assert r.status_code == 502 and "boom" not in r.text and "Traceback" not in r.text


def test_the_wrapped_app_gets_an_asgi_head_with_lower_case_names(serve: Any) -> None:
    """ASGI names are lower-case bytes (Starlette's request.headers finds nothing else), so the
    fields the request policy writes must be written lower-case, and transfer-encoding, which a
    wrapped app must not see, must be named exactly so that it is left out."""
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        names = [n.decode("latin-1") for n, _ in scope["headers"]]
        payload = json.dumps({"names": names, "body": body.decode()}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    url = serve(echo)
    with httpx.Client(base_url=url) as c:
        c.cookies.set("csrftoken", "1")
        for request in (c.build_request("POST", "/", content=b"abc"),
                        c.build_request("POST", "/", content=iter([b"ab", b"c"]))):  # chunked upload
            got = c.send(request).json()
            assert got["body"] == "abc"
            assert all(n == n.lower() for n in got["names"]), got["names"]
            assert "transfer-encoding" not in got["names"]
            for name in ("host", "cookie", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                         "x-consent-categories"):
                assert got["names"].count(name) == 1, (name, got["names"])
        assert "content-length" in c.post("/", content=b"abc").json()["names"]
