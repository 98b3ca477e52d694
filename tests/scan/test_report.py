"""report.json's documented schema, a self-contained bilingual report.html, a pasteable suggested.toml."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.scan.model import Report
from gateway.scan.report import write
from tests.conftest import config_text

COOKIE_FIELDS = {"name", "domain", "path", "expires", "expires_days", "httpOnly", "secure", "sameSite", "session",
                 "firstPartyStorage", "set_by", "log", "value", "stored", "attribution"}
VIOLATION_FIELDS = {"kind", "name", "url", "vendor", "category", "reason"}


@pytest.fixture(scope="module")
def written(gated: Report, direct: Report, tmp_path_factory: Any) -> dict[str, Path]:
    out = {"gated": tmp_path_factory.mktemp("gated"), "direct": tmp_path_factory.mktemp("direct")}
    write(gated, out["gated"])
    write(direct, out["direct"])
    return out


def test_report_json_follows_the_documented_schema(written: dict[str, Path]) -> None:
    data = json.loads((written["gated"] / "report.json").read_text())
    assert {"url", "scanned_at", "tool_version", "banner", "phases"} <= set(data)
    assert data["banner"] == {"found": True, "kind": "gateway"}
    assert set(data["phases"]) == {"before", "reject", "accept"}
    for phase in data["phases"].values():
        assert {"cookies", "requests", "storage", "beacons", "violations"} <= set(phase)
        assert phase["screenshot"].startswith("screenshots/") and (written["gated"] / phase["screenshot"]).is_file()
        for c in phase["cookies"]:
            assert set(c) == COOKIE_FIELDS
            assert set(c["attribution"]) >= {"vendor", "category", "purpose"}
    direct = json.loads((written["direct"] / "report.json").read_text())
    assert direct["phases"]["reject"] is None and direct["phases"]["accept"] is None
    violations = direct["phases"]["before"]["violations"]
    assert violations and all(set(v) == VIOLATION_FIELDS for v in violations)


def test_report_html_is_self_contained_and_bilingual(written: dict[str, Path], consent_browser: Any) -> None:
    html = (written["direct"] / "report.html").read_text()
    assert "<link" not in html and 'src="http' not in html and "<img src=\"data:image/jpeg;base64," in html
    page = consent_browser.new_page()
    fetched: list[str] = []
    page.route("**/*", lambda route: (fetched.append(route.request.url), route.continue_()))
    try:
        page.goto((written["direct"] / "report.html").as_uri())
        assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []
        verdict = page.locator("#verdict")
        assert "FAIL" in verdict.inner_text()
        page.click('[data-set-lang="zh-CN"]')
        assert "未通过" in verdict.inner_text() and "FAIL" not in verdict.inner_text()
        assert "Google Analytics" in page.locator("#violations").inner_text()
    finally:
        page.close()


def test_suggested_toml_pastes_into_a_gateway_config(written: dict[str, Path], tmp_path: Path) -> None:
    text = (written["direct"] / "suggested.toml").read_text()
    rules = tomllib.loads(text)
    [review] = rules["categories"]
    assert "theme" in review["cookies"]  # the site's own storage key: no catalog knows it
    assert "_ga" not in review["cookies"]  # the catalog does
    assert review["scripts"] == []  # every tracker host of the snippet page is in the catalog
    config = parse_config(config_text("http://127.0.0.1:9", tmp_path / "log.db") + "\n" + text)
    assert "review" in config.category_ids


def test_the_vendor_table_marks_only_cells_with_violations(direct: Report, gated: Report) -> None:
    from gateway.scan.html import vendor_matrix

    rows = dict(vendor_matrix(direct))
    assert rows["Google Analytics"][0].violations > 0  # type: ignore[union-attr]
    assert rows["Google Analytics"][1] is None  # no reject phase without a banner
    for vendor, cells in vendor_matrix(gated):
        before, reject, accept = cells
        assert before is not None and reject is not None and accept is not None
        assert before.violations == reject.violations == accept.violations == 0, vendor


def test_suggested_toml_names_the_sites_own_unknown_pixel() -> None:
    from gateway.scan.model import Banner, Beacon, Phase, Phases
    from gateway.scan.report import suggested_toml

    before = Phase("before", beacons=[Beacon("https://shop.example/t.gif?id=1", "shop.example", "pixel", True),
                                      Beacon("https://px.example.net/p?x=1", "px.example.net", "sendBeacon", False)])
    report = Report("https://shop.example/", "2026-01-01T00:00:00Z", "0", Banner(False), Phases(before))
    [review] = tomllib.loads(suggested_toml(report))["categories"]
    assert review["scripts"] == ["/t.gif", "px.example.net"]
