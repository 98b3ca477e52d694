"""The in-process middleware in real Chromium: a FastAPI site under uvicorn, its tracker held until
the visitor accepts, then loaded without a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from gateway import ConsentMiddleware
from gateway.config import parse_config
from gateway.testing.plugin import ConsentPage
from gateway.testing.servers import UvicornThread
from tests.conftest import config_text

TRACKER = "https://www.googletagmanager.com/gtag/js?id=G-MW"


def test_fastapi_site_in_process(consent_browser: Any, tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return (f'<!doctype html><html lang="en"><head><title>FastAPI shop</title><script async src="{TRACKER}">'
                '</script></head><body><main><h1>Welcome</h1></main></body></html>')

    config = parse_config(config_text("http://127.0.0.1:1", tmp_path / "log.db"))
    server = UvicornThread(ConsentMiddleware(app, config), lifespan="on").start()
    context = consent_browser.new_context(locale="en")
    try:
        fetched: list[str] = []

        def answer(route: Any) -> None:
            fetched.append(route.request.url)
            route.fulfill(status=200, content_type="text/javascript", body="window.trackerRan = true;")

        context.route("https://www.googletagmanager.com/**", answer)
        p = ConsentPage(context, server.url)
        p.goto("/")
        assert p.banner.is_visible() and p.page.text_content("h1") == "Welcome"
        assert fetched == []  # held before the browser parsed it
        p.accept_all()
        p.page.wait_for_function("window.trackerRan === true")
        assert fetched == [TRACKER] and p.state()["categories"]["personalization"] is True
    finally:
        context.close()
        server.stop()
