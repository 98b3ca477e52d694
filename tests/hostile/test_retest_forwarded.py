"""Re-test of issue 10: X-Forwarded-For sent as several lines is one list, read from the right.

A proxy may add its own X-Forwarded-For line instead of appending to the client's (HAProxy's
`option forwardfor` does). Only the first line was read, and that one is the client's: behind such
a proxy any visitor chose their own address, for the decision limit, the admin lockout, the log's
ip_prefix and the chain sent on to the site. RFC 9110 §5.3: the lines are one comma-separated list.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.conftest import RunningGateway
from tests.support.servers import RawFactory

REAL = "203.0.113.9"


def test_a_forged_first_line_does_not_pick_the_address(make_gateway: Callable[..., RunningGateway]) -> None:
    gw = make_gateway(gateway='trusted_proxies = ["127.0.0.1"]',
                      consent='decisions_per_minute = 6\ndecision_burst = 2\ndefault_locale = "en"')
    statuses = []
    with gw.client() as c:
        for i in range(5):
            c.cookies.clear()
            headers = [("Origin", gw.origin), ("Accept", "application/json"),
                       ("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", REAL)]
            r = c.post("/_consent", data={"action": "accept_all", "next": "/"}, headers=headers)
            statuses.append(r.status_code)
    assert statuses[:2] == [200, 200] and 429 in statuses[2:], statuses


def test_the_site_gets_the_whole_chain(make_gateway: Callable[..., RunningGateway], raw_server: RawFactory) -> None:
    heads: list[bytes] = []

    def origin(conn: socket.socket, request: bytes) -> None:
        heads.append(request)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    raw = raw_server(origin)
    gw = make_gateway(upstream=f"http://127.0.0.1:{raw.port}", gateway='trusted_proxies = ["127.0.0.1"]')
    with gw.client() as c:
        r = c.get("/", headers=[("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", REAL)])
    assert r.status_code == 200
    assert b"\r\nx-forwarded-for: 198.51.100.1, 203.0.113.9, 127.0.0.1\r\n" in heads[0].lower(), heads[0]
