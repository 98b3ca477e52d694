"""The operator dashboard in real Chromium: decisions through the gateway, a sign-in through the
form, 560 days of decisions in the real log, the range and the language switched by clicking."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import random
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger import Decision, Ledger
from gateway.testing.plugin import ARTIFACTS
from tests.conftest import RunningGateway

ADMIN = '\n[admin]\nenabled = true\nusername = "operator"\npassword = "correct horse battery"\n'
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DAYS = 560
# the screenshots of the dashboard at 500+ days; CONSENT_GATEWAY_SHOTS puts copies where a reviewer looks
SHOTS = [ARTIFACTS] + ([Path(os.environ["CONSENT_GATEWAY_SHOTS"])] if os.environ.get("CONSENT_GATEWAY_SHOTS") else [])


@pytest.mark.local_gateway
def test_dashboard_renders_with_data(make_gateway: Callable[..., RunningGateway], consent_browser: Any) -> None:
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

    # scripts (and a browser told to send it) keep using the Authorization header
    credentials = base64.b64encode(b"operator:correct horse battery").decode()
    context = consent_browser.new_context(
        extra_http_headers={"Authorization": f"Basic {credentials}", "Accept-Language": "en"},
        viewport={"width": 1100, "height": 1400})
    page = context.new_page()
    response = page.goto(gw.url + "/_consent/admin")
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.locator("#total").inner_text() == "5"
    assert page.locator('[data-rate="identity"]').inner_text() == "60.0%"
    assert page.locator('[data-rate="personalization"]').inner_text() == "40.0%"
    # all five decisions are today's: one point per category, a dot each (no line to draw yet)
    assert page.locator("#rates-chart circle").count() == 2
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
        assert c.post("/_consent/admin/login", data={"token": "anything-at-all-123"},
                      headers={"Origin": gateway.origin}).status_code == 404


def history(today: dt.date, days: int) -> list[Decision]:
    """`days` days of decisions up to today: traffic that grows, a weekly rhythm, and a policy
    change a year ago after which fewer visitors accept personalisation."""
    rnd = random.Random(520)
    out = []
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        n = 6 + (days - back) // 60 + (4 if day.weekday() < 5 else 0) + rnd.randint(0, 3)
        accept = 0.62 if back > 365 else 0.45
        for i in range(n):
            roll = rnd.random()
            action = ("accept_all" if roll < accept else "reject_all" if roll < accept + 0.3
                      else "save" if roll < 0.97 else "withdraw")
            granted = {"accept_all": ("identity", "personalization"), "save": ("identity",)}.get(action, ())
            out.append(Decision(
                record_id=uuid.uuid4().hex, ts=f"{day.isoformat()}T{8 + i % 12:02d}:{i % 60:02d}:00.000Z",
                consent_id=uuid.uuid4().hex, action=action, granted=granted,
                denied=tuple(c for c in ("identity", "personalization") if c not in granted),
                policy_version="2024-10", locale="en", path="/", ip_prefix="203.0.113.0/24",
                browser=rnd.choice(("Chrome", "Safari", "Firefox", "Edge")), os="Linux",
                device=rnd.choice(("desktop", "mobile")), is_bot=False, gpc=rnd.random() < 0.05))
    return out


async def seed(ledger: Ledger, decisions: list[Decision]) -> None:
    """Through the gateway's own ledger: sealed in its HMAC chain like any decision."""
    for i in range(0, len(decisions), 500):
        await asyncio.gather(*(ledger.append(d) for d in decisions[i:i + 500]))


@pytest.mark.local_gateway
def test_sign_in_and_read_560_days(make_gateway: Callable[..., RunningGateway], consent_browser: Any) -> None:
    gw = make_gateway(extra=ADMIN)
    today = dt.datetime.now(dt.UTC).date()
    decisions = history(today, DAYS)
    gw.server.call(seed(gw.app.ledger, decisions), timeout=120)
    assert len(decisions) > 5000
    result = gw.server.call(gw.app.ledger.verify(), timeout=120)
    assert result.ok, result  # the seeded log is a real, verifiable one

    context = consent_browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB",
                                          extra_http_headers={"Accept-Language": "en-GB,en;q=0.9"})
    try:
        page = context.new_page()
        page.goto(gw.url + "/_consent/admin?range=all")
        assert page.url.startswith(gw.url + "/_consent/admin/login?next=")  # sent to the form
        page.fill("#username", "operator")
        page.fill("#password", "wrong password here")
        page.click("#login-password button")
        assert page.locator("#login-error").inner_text() == "That credential was not accepted."
        page.fill("#username", "operator")
        page.fill("#password", "correct horse battery")
        page.click("#login-password button")
        page.wait_for_url(gw.url + "/_consent/admin?range=all")  # back where it was going
        cookie = next(c for c in context.cookies() if c["name"] == "consent_gateway_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/_consent/admin"

        check_long_range(page, today, "en")
        for shot in SHOTS:
            shot.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot / "admin-560-days-en.png"), full_page=True)

        page.click('a[data-preset="30d"]')
        page.wait_for_url(re.compile(r".*range=30d.*"))
        assert page.locator("#actions-chart").get_attribute("data-unit") == "day"
        assert page.locator("#actions-chart").get_attribute("data-points") == "30"
        page.fill('input[name="from"]', "2025-01-01")
        page.fill('input[name="to"]', "2025-03-31")
        page.click("#range button")
        assert page.locator("#range-note").inner_text().startswith("2025-01-01 to 2025-03-31")
        assert page.locator("#actions-chart").get_attribute("data-points") == "90"

        page.click('a[data-preset="all"]')
        page.click('#languages a[hreflang="zh-CN"]')
        page.wait_for_url(re.compile(r".*lang=zh-CN.*"))
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        check_long_range(page, today, "zh-CN")
        for shot in SHOTS:
            page.screenshot(path=str(shot / "admin-560-days-zh-CN.png"), full_page=True)

        bad = page.goto(gw.url + "/_consent/admin?from=2025-02-30")
        assert bad.status == 400 and "not a real date" in page.content()

        page.goto(gw.url + "/_consent/admin?lang=zh-CN")
        page.click("#sign-out")
        page.wait_for_url(re.compile(r".*/_consent/admin/login\?out=1.*"))
        assert "您已退出登录" in page.content()
        assert page.goto(gw.url + "/_consent/admin").url.startswith(gw.url + "/_consent/admin/login")
    finally:
        context.close()


def check_long_range(page: Any, today: dt.date, lang: str) -> None:
    """560 days: weekly points, a legend per chart, and years on the date axis."""
    for chart in ("#actions-chart", "#rates-chart"):
        svg = page.locator(chart)
        assert svg.get_attribute("data-unit") == "week"
        assert 75 <= int(svg.get_attribute("data-points")) <= 82
        labels = [svg.locator("text.xtick").nth(i).text_content() for i in range(svg.locator("text.xtick").count())]
        years = {label[:4] for label in labels}
        assert {str(today.year - 1), str(today.year)} <= years and all(re.match(r"20\d\d-", x) for x in labels)
    assert page.locator("#actions-chart polygon.area").count() == 4
    assert page.locator("#rates-chart path.line").count() == 2
    actions = page.locator('[data-legend="actions"] li')
    rates = page.locator('[data-legend="rates"] li')
    if lang == "zh-CN":
        assert actions.first.inner_text() == "全部接受" and page.locator("h1").inner_text() == "同意管理仪表盘"
    else:
        assert actions.first.inner_text() == "Accept all" and page.locator("h1").inner_text() == "Consent dashboard"
    assert actions.count() == 4 and rates.count() == 2
    # the legend's swatch has the colour of its series
    swatch = rates.first.locator("i").evaluate("e => getComputedStyle(e).backgroundColor")
    stroke = page.locator("#rates-chart path.line").first.get_attribute("stroke")
    assert swatch == "rgb({}, {}, {})".format(*(int(stroke[i:i + 2], 16) for i in (1, 3, 5)))
