"""The CMP selectors, on small local pages that mimic each CMP's first-layer markup and behaviour."""

from __future__ import annotations

import pytest

from gateway.scan.model import Report
from tests.scan.conftest import scan_many

KINDS = ["cookiebot", "onetrust", "cookieconsent"]


@pytest.fixture(scope="module")
def reports(scan_site: str, browser_args: list[str]) -> dict[str, Report]:
    found = scan_many([f"{scan_site}/cmp/{k}" for k in KINDS], browser_args, pages=1, timeout=45)
    return dict(zip(KINDS, found, strict=True))


@pytest.mark.parametrize("kind", KINDS)
def test_a_cmp_banner_is_found_rejected_and_accepted(kind: str, reports: dict[str, Report]) -> None:
    report = reports[kind]
    assert isinstance(report, Report), report
    assert report.banner.found and report.banner.kind == kind
    assert report.phases.reject is not None and report.phases.accept is not None
    # the mimic loads gtag.js only after "accept all": the reject visit stays clean, the accept one does not
    assert report.phases.before.violations == []
    assert report.phases.reject.violations == [], report.phases.reject.violations
    accepted = {c.name for c in report.phases.accept.cookies}
    assert {"cmp_choice", "_ga"} <= accepted
    rejected = {c.name: c for c in report.phases.reject.cookies}
    assert "_ga" not in rejected and rejected["cmp_choice"].value == "necessary"
    assert [p.url for p in report.phases.accept.pages][-1].endswith(f"/cmp/{kind}/more")


def test_no_banner_means_no_reject_or_accept_phase(scan_site: str, browser_args: list[str]) -> None:
    [report] = scan_many([f"{scan_site}/hostile/throws"], browser_args, pages=1, timeout=30, banner_wait=1)
    assert not report.banner.found and report.phases.reject is None and report.phases.accept is None
    assert any("no consent banner" in n for n in report.phases.before.notes)


def test_links_are_followed_from_where_the_start_url_redirected(scan_site: str, browser_args: list[str]) -> None:
    [report] = scan_many([f"{scan_site}/moved/cmp/onetrust"], browser_args, pages=1, timeout=45)
    assert isinstance(report, Report), report
    assert report.phases.accept is not None
    assert [p.url.split("/", 3)[3] for p in report.phases.accept.pages] == ["cmp/onetrust"] * 2 + ["cmp/onetrust/more"]
