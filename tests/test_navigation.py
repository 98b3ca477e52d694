"""Page, frame or fragment (gateway/navigation.py), and what each gets through a real gateway."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable

import pytest

from gateway.navigation import VARY, Page, classify
from tests.conftest import RunningGateway
from tests.support.servers import RawFactory
from tests.support.tagsoup import check, has_body, soup

NEUTRALISED = 'data-src="https://www.googletagmanager.com/gtag/js?id=G-1"'


@pytest.mark.parametrize(("headers", "page"), [
    ({}, Page.DOCUMENT),
    ({b"sec-fetch-dest": b"document", b"sec-fetch-mode": b"navigate"}, Page.DOCUMENT),
    ({b"sec-fetch-dest": b"Document"}, Page.DOCUMENT),
    ({b"sec-fetch-dest": b"empty"}, Page.FRAGMENT),
    ({b"sec-fetch-dest": b"empty", b"hx-request": b"true"}, Page.FRAGMENT),
    ({b"sec-fetch-dest": b"script"}, Page.FRAGMENT),
    ({b"sec-fetch-dest": b"iframe", b"sec-fetch-site": b"same-origin"}, Page.FRAME),
    ({b"sec-fetch-dest": b"iframe", b"sec-fetch-site": b"cross-site"}, Page.FRAME),
    ({b"sec-fetch-dest": b"frame"}, Page.FRAME),
    # <link rel=prefetch> fetches a page as "empty"; the browser may show that response as the page
    ({b"sec-fetch-dest": b"empty", b"sec-purpose": b"prefetch"}, Page.DOCUMENT),
    ({b"sec-fetch-dest": b"document", b"sec-purpose": b"prefetch;prerender"}, Page.DOCUMENT),
    ({b"purpose": b"prefetch"}, Page.DOCUMENT),
    ({b"sec-fetch-dest": b"iframe", b"sec-purpose": b"prefetch"}, Page.FRAME),
    # no Sec-Fetch headers (older browsers): the libraries' markers
    ({b"hx-request": b"true"}, Page.FRAGMENT),
    ({b"turbo-frame": b"cart"}, Page.FRAGMENT),
    ({b"x-pjax": b"true"}, Page.FRAGMENT),
    ({b"x-requested-with": b"XMLHttpRequest"}, Page.FRAGMENT),
    # an Android WebView names its app here on real navigations
    ({b"x-requested-with": b"com.example.app"}, Page.DOCUMENT),
    # a browser's own Sec-Fetch-Dest outranks a marker: a navigation cannot carry page-set headers
    ({b"sec-fetch-dest": b"document", b"x-requested-with": b"com.example.app"}, Page.DOCUMENT),
])
def test_classify(headers: dict[bytes, bytes], page: Page) -> None:
    assert classify(headers) is page


def test_vary_names_every_header_read() -> None:
    read = {b"sec-fetch-dest", b"sec-purpose", b"purpose", b"hx-request", b"turbo-frame", b"x-pjax",
            b"x-requested-with"}
    assert {v.strip().lower() for v in VARY.split(b",")} == read | {b"cookie"}


@pytest.mark.parametrize(("headers", "head", "banner"), [
    ({}, True, True),
    ({"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}, True, True),
    ({"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}, False, False),
    ({"HX-Request": "true"}, False, False),
    ({"Turbo-Frame": "cart"}, False, False),
    ({"X-Requested-With": "XMLHttpRequest"}, False, False),
    ({"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "same-origin"}, True, False),
    ({"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}, True, False),
])
def test_what_each_gets(gateway: RunningGateway, headers: dict[str, str], head: bool, banner: bool) -> None:
    with gateway.client() as c:
        r = c.get("/page", headers=headers)
    assert r.status_code == 200
    assert ('id="consent-gateway-config"' in r.text) is head
    assert ('id="consent-banner"' in r.text) is banner
    assert r.text.count(NEUTRALISED) == 1  # trackers stay held in fragments and frames too
    assert not any(c.startswith("_ga=") for c in r.headers.get_list("set-cookie"))
    assert r.headers["vary"] == VARY.decode()


def test_tag_soup_through_a_real_gateway(make_gateway: Callable[..., RunningGateway],
                                         raw_server: RawFactory) -> None:
    """Generated pages, sent by the origin in 7-byte chunks: the oracle's property end to end."""
    rng = random.Random(15)
    # without tracker tags: the gateway neutralises those, which the oracle's plain rewrite does not
    docs = [d for d in (soup(rng) for _ in range(80)) if has_body(d) and b"hm.baidu.com" not in d][:40]

    def handler(conn: socket.socket, request: bytes) -> None:
        doc = docs[int(request.split(b" ")[1].split(b"=")[1])]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for i in range(0, len(doc), 7):
            piece = doc[i:i + 7]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            if i % 28 == 0:
                time.sleep(0.001)  # let some chunks arrive on their own
        conn.sendall(b"0\r\n\r\n")

    raw = raw_server(handler)
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}")
    with gw.client() as c:
        for i, doc in enumerate(docs):
            r = c.get(f"/?doc={i}")  # one path: the banner's own links name it
            assert r.status_code == 200
            body = r.content
            assert check(doc, body) == (True, True), doc
