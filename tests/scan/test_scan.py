"""The scan end to end: the snippet site directly (violations) and through the gateway (clean)."""

from __future__ import annotations

from typing import Any

from gateway.scan.model import Report
from tests.scan.sites import FORBIDDEN

VENDORS = {"Google Analytics", "Meta Pixel", "Hotjar", "Baidu Tongji", "YouTube"}


def _vendors(items: list[Any]) -> set[str]:
    return {i.attribution.vendor for i in items if i.attribution.vendor}


def test_direct_scan_names_the_vendors_it_caught_before_any_decision(direct: Report) -> None:
    assert not direct.banner.found and direct.phases.reject is None and direct.phases.accept is None
    before = direct.phases.before
    names = {v.vendor for v in before.violations}
    print(sorted(names))
    assert {"Google Analytics", "Meta Pixel", "Hotjar", "Baidu Tongji"} <= names
    assert not direct.passed


def test_direct_scan_records_who_set_each_cookie(direct: Report) -> None:
    cookies = {c.name: c for c in direct.phases.before.cookies}
    print({n: (c.set_by, c.log, c.domain) for n, c in cookies.items()})
    assert cookies["csrftoken"].set_by == "http" and cookies["csrftoken"].attribution.necessary is True
    ga = cookies["_ga"]
    assert ga.set_by == "script" and ga.log["location"] == "https://www.googletagmanager.com/gtag/js?id=G-TEST123"
    # the snippet asks for two years; Chromium caps every expiry at 400 days
    assert ga.firstPartyStorage and not ga.session and 399 < (ga.expires_days or 0) <= 400
    assert ga.expires and ga.expires.endswith("Z")
    assert cookies["_fbp"].log["location"] == "https://connect.facebook.net/en_US/fbevents.js"
    assert cookies["_fbp"].attribution.vendor and cookies["_fbp"].attribution.necessary is False


def test_third_party_cookies_this_chromium_refused_are_reported_as_not_stored(direct: Report) -> None:
    # Chromium's own setting refuses third-party cookies; a browser that allows them would keep these
    cookies = {c.name: c for c in direct.phases.before.cookies}
    fr, ysc = cookies["fr"], cookies["YSC"]
    assert not fr.stored and fr.set_by == "http" and fr.log["location"].startswith("https://www.facebook.com/tr")
    assert fr.domain == ".facebook.com" and fr.httpOnly and fr.secure and fr.sameSite == "None"
    assert 89 < (fr.expires_days or 0) <= 90 and not fr.firstPartyStorage
    assert ysc.session and not ysc.stored and ysc.log["location"] == "https://www.youtube.com/embed/dQw4w9WgXcQ"
    assert all(c.stored for c in cookies.values() if c.firstPartyStorage)
    flagged = {v.name: v for v in direct.phases.before.violations if v.kind == "cookie"}
    assert "fr" in flagged and "refused" in flagged["fr"].reason


def test_direct_scan_records_requests_storage_and_beacons(direct: Report) -> None:
    before = direct.phases.before
    types = {(r.host, r.type) for r in before.requests}
    print(types)
    assert ("www.googletagmanager.com", "script") in types and ("www.youtube.com", "document") in types
    assert ("in.hotjar.com", "fetch") in types
    keys = {(s.storage, s.key) for s in before.storage}
    assert ("localStorage", "_hjSessionUser_1234567") in keys and ("localStorage", "theme") in keys
    beacons = {(b.host, b.kind) for b in before.beacons}
    print(beacons)
    assert ("www.google-analytics.com", "sendBeacon") in beacons
    assert ("www.facebook.com", "pixel") in beacons and ("hm.baidu.com", "pixel") in beacons


def test_through_the_gateway_nothing_before_or_after_reject_and_accept_shows_the_vendors(gated: Report) -> None:
    assert gated.banner.found and gated.banner.kind == "gateway"
    assert gated.phases.reject is not None and gated.phases.accept is not None
    assert gated.phases.before.violations == [], gated.phases.before.violations
    assert gated.phases.reject.violations == [], gated.phases.reject.violations
    accept = gated.phases.accept
    seen = _vendors(accept.cookies) | _vendors(accept.requests) | _vendors(accept.beacons)
    print(sorted(seen))
    assert VENDORS - {"YouTube"} <= seen
    assert accept.violations == []  # by definition
    # the first visit, the reload, then the first same-site link that is not a sign-out
    assert [p.url.split("/", 3)[3] for p in accept.pages] == ["", "", "about"]


def test_the_scan_never_signs_out_submits_a_form_or_leaves_the_site(direct: Report, gated: Report) -> None:
    assert FORBIDDEN == []
    for report in (direct, gated):
        for _, phase in report.phases.items():
            for page in phase.pages if phase else []:
                assert "elsewhere.example" not in page.url
