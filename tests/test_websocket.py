"""WebSocket pass-through through a real gateway to a real upstream echo."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from tests.conftest import RunningGateway


def test_echo_with_filtered_handshake_cookies(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        gateway.decide(c, "save", ("identity",))
        consent = c.cookies["consent_gateway"]

    async def run() -> tuple[dict[str, str], str]:
        url = gateway.url.replace("http://", "ws://") + "/ws"
        headers = {"Cookie": f"consent_gateway={consent}; sid=1; _ga=2"}
        async with connect(url, additional_headers=headers, proxy=None) as ws:
            hello = json.loads(await ws.recv())
            await ws.send("ping ✓")
            return hello, str(await ws.recv())

    hello, echo = asyncio.run(run())
    assert echo == "ping ✓"
    assert hello["categories"] == "identity"
    names = [p.split("=")[0] for p in hello["cookie"].split("; ")]
    assert names == ["sid"]
    # the handshake is rebuilt by the proxy's request policy: forwarded fields are ours, not the client's
    assert hello["forwarded_for"] == "127.0.0.1" and hello["forwarded_proto"] == "http"


def handshake(gateway: RunningGateway, headers: dict[str, str]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        url = gateway.url.replace("http://", "ws://") + "/ws?q=a%20b"
        async with connect(url, additional_headers=headers, proxy=None) as ws:
            return dict(json.loads(await ws.recv()))

    return asyncio.run(run())


def test_a_crawlers_handshake_gets_no_optional_cookies(gateway: RunningGateway) -> None:
    # The same crawler rule as an HTTP request (test_proxy: a crawler gets no optional cookies and
    # is told so); the handshake used to build its own head and carried every granted category.
    with gateway.client() as c:
        gateway.decide(c, "accept_all")
        consent = c.cookies["consent_gateway"]
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    hello = handshake(gateway, {"Cookie": f"consent_gateway={consent}; sid=1; _ga=2", "User-Agent": bot,
                                "X-Forwarded-For": "6.6.6.6", "Proxy-Authorization": "Basic eA=="})
    assert hello["categories"] == "" and hello["cookie"] == ""  # sid is identity's: optional too
    assert hello["forwarded_for"] == "127.0.0.1"  # an untrusted client's X-Forwarded-For is not passed on
    assert hello["proxy_authorization"] is None and hello["query"] == "q=a%20b"
    person = handshake(gateway, {"Cookie": f"consent_gateway={consent}; sid=1; _ga=2"})
    assert person["categories"] == "identity,personalization" and "_ga=2" in person["cookie"]
