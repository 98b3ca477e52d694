"""The pytest plugin's `consent_scan` fixture, as a QA suite would use it on its own site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_a_qa_suite_asserts_reject_leaves_nothing_behind(consent_scan: Callable[..., Any]) -> None:
    report = consent_scan(pages=1)  # the deployment under test: here the local demo behind a gateway
    assert report.banner.kind == "gateway"
    assert report.phases.before.violations == []
    assert report.phases.reject.violations == []
    accepted = {c.name for c in report.phases.accept.cookies}
    assert {"_ga", "_ga_DEMO"} <= accepted  # what the consent allowed


def test_it_runs_next_to_the_plugins_own_browser(consent_scan: Callable[..., Any], scan_gateway: str,
                                                  browser: Any, browser_args: list[str]) -> None:
    page = browser.new_page()  # Playwright's sync API holds this thread's event loop
    try:
        report = consent_scan(scan_gateway + "/", pages=0, browser_args=browser_args)
    finally:
        page.close()
    assert report.passed
