"""Liveness and readiness: status codes carry the answer, GET and HEAD alike."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from gateway.testing.servers import free_port
from tests.conftest import RunningGateway

Make = Callable[..., RunningGateway]


def test_live_and_ready_answer_get_and_head(make_gateway: Make) -> None:
    gw = make_gateway()
    with gw.client() as c:
        for path in ("/_consent/health/live", "/_consent/health/ready", "/_consent/health"):
            assert c.get(path).status_code == 200, path
            head = c.head(path)
            assert head.status_code == 200 and head.content == b"", path
        ready = c.get("/_consent/health/ready").json()
        assert ready["ready"] is True and ready["upstream"] == "ok" and ready["log"] == "ok"


def test_ready_means_the_site_answers(make_gateway: Make) -> None:
    port = free_port()
    gw = make_gateway(upstream=f"http://127.0.0.1:{port}")
    with gw.client() as c:
        r = c.get("/_consent/health/ready")
        assert r.status_code == 503 and r.json()["upstream"].startswith("connect failed")
        assert c.head("/_consent/health/ready").status_code == 503
        assert c.get("/_consent/health/live").status_code == 200  # never restart for the site's outage
        # the site comes up: ready again at the next probe, without any visitor traffic
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(8)
        try:
            deadline = time.monotonic() + 10
            while c.get("/_consent/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "readiness did not follow the site"
                time.sleep(0.2)
        finally:
            server.close()
