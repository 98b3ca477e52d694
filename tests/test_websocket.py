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
