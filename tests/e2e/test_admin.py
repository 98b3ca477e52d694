"""The operator dashboard in real Chromium, with data from real decisions through the gateway."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from gateway.testing.plugin import ARTIFACTS
from tests.conftest import RunningGateway

ADMIN = '\n[admin]\nenabled = true\nusername = "operator"\npassword = "correct horse battery"\n'
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


@pytest.mark.local_gateway
def test_dashboard_renders_with_data(make_gateway: Callable[..., RunningGateway], consent_browser: object) -> None:
    gw = make_gateway(extra=ADMIN)
    plan = [("accept_all", (), None), ("accept_all", (), IPHONE), ("reject_all", (), None),
            ("save", ("identity",), IPHONE), ("withdraw", (), None)]
    for action, cats, ua in plan:
        with gw.client(headers={"User-Agent": ua} if ua else {}) as c:
            gw.decide(c, action, cats)
            c.get("/page", headers={"Cookie": "tracking_xyz=1; _ga=2"})
    with gw.client() as c:
        assert c.get("/_consent/admin").status_code == 401
        # a visitor's cookies never open it
        assert c.get("/_consent/admin", headers={"Cookie": "consent_gateway=x; admin=1"}).status_code == 401
    gw.server.call(gw.app._flush_inventory())  # it flushes every 10 s; now, for the test

    credentials = base64.b64encode(b"operator:correct horse battery").decode()
    context = consent_browser.new_context(  # type: ignore[attr-defined]
        extra_http_headers={"Authorization": f"Basic {credentials}"}, viewport={"width": 1100, "height": 1400})
    page = context.new_page()
    response = page.goto(gw.url + "/_consent/admin")
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.locator("#total").inner_text() == "5"
    assert page.locator('[data-rate="identity"]').inner_text() == "60.0%"
    assert page.locator('[data-rate="personalization"]').inner_text() == "40.0%"
    assert page.locator("polyline").count() == 2
    assert page.locator("#cookies >> text=tracking_xyz").count() == 1
    ga = page.locator('#cookies tr[data-cookie="_ga"] td')
    assert [ga.nth(i).inner_text() for i in range(4)] == ["_ga", "personalization", "Google Analytics", "analytics"]
    assert '"tracking_xyz"' in page.locator("#snippet").inner_text()
    assert page.locator('svg >> text="mobile"').count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
    context.close()


def test_dashboard_is_off_unless_enabled(gateway: RunningGateway) -> None:
    with gateway.client() as c:
        assert c.get("/_consent/admin", headers={"Authorization": "Bearer anything-at-all-123"}).status_code == 404
