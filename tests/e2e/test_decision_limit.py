"""The banner under the per-address decision limit: a short notice, retries, never an error page."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from gateway.testing.plugin import ConsentPage, LocalDemo


@pytest.mark.local_gateway
def test_banner_retries_a_limited_decision(consent_new_page: Callable[..., ConsentPage],
                                           consent_local_demo: LocalDemo) -> None:
    # one token a second, no burst: the address's only token goes to a neighbour behind the same NAT
    url = consent_local_demo.start_gateway(decisions_per_minute=60, decision_burst=1)
    p = consent_new_page(base_url=url, locale="zh-CN")
    p.goto("/")
    statuses: list[int] = []
    p.page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/_consent") else None)
    r = httpx.post(url + "/_consent", data={"action": "accept_all"},
                   headers={"Origin": url, "Accept": "application/json"})
    assert r.status_code == 200
    p.click_action("accept_all")
    notice = p.banner.locator(".cg-retry")
    notice.wait_for(state="visible")
    assert "重试" in notice.inner_text() and notice.get_attribute("role") == "status"
    p.wait_applied()  # the retry went through: the decision is applied on the same page
    assert statuses[0] == 429 and statuses[-1] == 200
    assert p.page.url.rstrip("/") == url and p.banner.count() == 0
    assert p.state()["categories"]["personalization"] is True
