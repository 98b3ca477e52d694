"""The receipt page in real Chromium: logged times shown in the visitor's time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.testing.plugin import ConsentPage


def test_receipt_shows_local_time(consent_browser: Any, consent_gateway_url: str) -> None:
    context = consent_browser.new_context(locale="en-GB", timezone_id="Asia/Shanghai",
                                          extra_http_headers={"Accept-Language": "en"})
    try:
        p = ConsentPage(context, consent_gateway_url)
        p.goto("/")
        p.reject_all()
        p.goto("/_consent/receipt")
        stamp = p.page.locator("time[data-local]").first
        stamp.wait_for()
        p.page.wait_for_function("() => !document.querySelector('time[data-local]').textContent.endsWith('UTC')")
        logged = dt.datetime.fromisoformat(str(stamp.get_attribute("datetime")).replace("Z", "+00:00"))
        shanghai = logged.astimezone(dt.timezone(dt.timedelta(hours=8)))
        shown = stamp.inner_text()
        hour12 = str(int(shanghai.strftime("%I")))  # the page's lang is en: a 12-hour clock
        assert f"{hour12}:{shanghai:%M}" in shown and str(shanghai.year) in shown, (shown, logged)
        assert str(shanghai.day) in shown
        assert (stamp.get_attribute("title") or "").endswith("UTC")  # the UTC time stays one hover away
    finally:
        context.close()
