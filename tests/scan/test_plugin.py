"""The pytest plugin's `consent_scan` fixture, as a QA suite would use it on its own site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_a_qa_suite_asserts_reject_leaves_nothing_behind(consent_scan: Callable[..., Any]) -> None:
    report = consent_scan(pages=0)  # the deployment under test: here the local demo behind a gateway
    assert report.banner.kind == "gateway"
    assert report.phases.before.violations == []
    assert report.phases.reject.violations == []
    accepted = {c.name for c in report.phases.accept.cookies}
    assert {"_ga", "_ga_DEMO"} <= accepted  # what the consent allowed


def test_it_runs_next_to_the_plugins_own_browser(consent_scan: Callable[..., Any], scan_site: str,
                                                  consent_browser: Any) -> None:
    page = consent_browser.new_page()  # Playwright's sync API holds this thread's event loop
    try:
        report = consent_scan(scan_site + "/hostile/throws", banner_wait=0.5)
    finally:
        page.close()
    assert report.passed and not report.banner.found
