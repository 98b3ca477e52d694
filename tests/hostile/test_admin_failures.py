"""Wrong admin credentials: each one logged (no token, no full address), then the address locked."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import RunningGateway

TOKEN = "the-right-admin-token-0123456789"
ADMIN = f'[admin]\nenabled = true\ntoken = "{TOKEN}"\nusername = "ops"\npassword = "right-password-0123"\n'


def test_repeated_failures_are_logged_and_locked_out(make_gateway: Callable[..., RunningGateway],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    gw = make_gateway(extra=ADMIN)
    wrong = "wrong-token-guess-000000000000"
    with caplog.at_level(logging.INFO, "consent_gateway"), gw.client() as c:
        assert c.get("/_consent/metrics").status_code == 401  # no credential: a prompt, not a failure
        codes = [c.get("/_consent/metrics", headers={"Authorization": f"Bearer {wrong}{i}"}).status_code
                 for i in range(12)]
        assert codes == [401] * 10 + [429] * 2
        locked = c.get("/_consent/admin", headers={"Authorization": f"Bearer {TOKEN}"})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60  # even the right one
        basic = base64.b64encode(b"ops:guess").decode()
        assert c.get("/_consent/metrics", headers={"Authorization": f"Basic {basic}"}).status_code == 429
    # another address is not locked out by this one
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=gw.url, transport=transport, timeout=10) as other:
        ok = other.get("/_consent/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "consent_gateway.admin"]
    failures = [x for x in lines if "refused" in x]
    assert len(failures) == 10 and "127.0.0.0/24" in failures[0] and "bearer" in failures[0]
    assert sum("locked" in x for x in lines) == 1
    text = "\n".join(lines)
    assert wrong not in text and TOKEN not in text and "127.0.0.1" not in text and "guess" not in text
    assert gw.app.metrics.tallies["admin_failures"]["refused"] == 10
