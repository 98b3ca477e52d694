"""CPU microseconds per request for each stage of the proxy path, in process, on the bench's request.

proxy_bench.py measures the whole server; this splits the gateway's own work into its stages
(reading the request, the cookie filters, the request head, the response policy, the rewrite of the 12 KB page, metrics,
the access log), each timed alone over many repetitions with the process's CPU clock. What the
server spends beyond their sum is uvicorn, the upstream client and the socket writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from gateway.accesslog import AccessRecord
from gateway.app import ConsentGateway
from gateway.cli import JsonFormatter
from gateway.config import parse_config
from gateway.context import read_request
from gateway.cookies import drop_response_cookies, strip_request_cookies
from gateway.rewrite import HtmlRewriter

COOKIE = b"_ga=GA1.2.3; sid=abc; csrftoken=t; other=1"
SET_COOKIES = [(b"set-cookie", b"_ga=GA1.2.3; Path=/; Max-Age=3600"), (b"set-cookie", b"sid=abc; Path=/; HttpOnly")]


def _scope(browser: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8080"), (b"user-agent", browser.encode()), (b"accept", b"*/*"),
               (b"accept-language", b"en"), (b"cookie", COOKIE)]
    return {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/page.html",
            "raw_path": b"/page.html", "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}


def _cpu_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five: the least disturbed by other load
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def stage_costs(config_text: str, page: bytes, browser: str, n: int = 400) -> dict[str, float]:
    """CPU us per request of each stage, for a visitor without consent (the bench's wrk request)."""
    app = ConsentGateway(parse_config(config_text))
    rt = app.runtime
    scope = _scope(browser)
    ctx = read_request(scope, rt.codec, rt.resolver)
    granted = ctx.state.granted
    filtered = strip_request_cookies(ctx.cookies, rt.rules, granted)
    proxy = rt.proxy
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(page)).encode()), *SET_COOKIES]
    dropped = drop_response_cookies(headers, rt.rules, granted, proxy.scopes)
    # the access line as `serve` writes it (cli.JsonFormatter), to /dev/null as the bench's server does
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("consent_gateway")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def decide() -> object:
        return proxy.policy.decide(200, headers, granted=granted, held=[c.name for c in filtered.stripped],
                                   secure=False, host=ctx.client.host)

    response_plan = proxy.policy.decide(200, headers, granted=granted, held=[], secure=False, host=ctx.client.host)

    def rewrite() -> bytes:
        plan = proxy.pages.plan(ctx, granted, False, "/page.html", response_plan.charset, response_plan.policies)
        rewriter = HtmlRewriter(plan)
        return rewriter.feed(page) + rewriter.finish()

    def metrics() -> None:
        rt.proxy.metrics.cookies(filtered.stripped, dropped.dropped, rt.rules)
        rt.proxy.metrics.seen(filtered.kept, rt.rules, "request")
        rt.proxy.metrics.request(200, "html")

    out = rewrite()  # what is timed must do the real work: the banner in, the tracker held
    assert b'id="consent-banner"' in out and b'data-consent-category="personalization"' in out, "no rewrite"
    stages: dict[str, Callable[[], object]] = {
        "read_request (headers, cookies, consent)": lambda: read_request(scope, rt.codec, rt.resolver),
        "strip_request_cookies": lambda: strip_request_cookies(ctx.cookies, rt.rules, granted),
        "request_head": lambda: proxy.request_head(scope, ctx, filtered.cookie_header, granted),
        "drop_response_cookies": lambda: drop_response_cookies(headers, rt.rules, granted, proxy.scopes),
        "response policy (drop, expire, headers)": decide,
        "rewrite 12 KB + banner": rewrite,
        "metrics (cookies, inventory, request)": metrics,
        "access log line (JSON, written)": lambda: rt.access_log.emit("GET", "/page.html", "127.0.0.1", granted,
                                                        AccessRecord(), time.perf_counter()),
    }
    return {name: _cpu_us(fn, n) for name, fn in stages.items()}
