"""`[consent] mode = "report"`: the shop page of tests/e2e/test_real_sites.py passes untouched
(only the banner is added), no cookie is stripped, dropped or expired, and the would-block counts
are what enforce mode holds on the same page."""

from __future__ import annotations

import difflib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.app import ConsentGateway
from gateway.testing.servers import UvicornThread
from tests.e2e.test_real_sites import FRAMEWORK_COOKIES, echo, home, shipped_config

COOKIES = "_ga=GA1.2.3; _hjSessionUser_1=x; mystery=1; PHPSESSID=p"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
           "Accept-Language": "en"}


@pytest.fixture(scope="module")
def origin() -> Iterator[UvicornThread]:
    server = UvicornThread(Starlette(routes=[Route("/", home), Route("/echo", echo)])).start()
    yield server
    server.stop()


def run(origin: UvicornThread, mode: str) -> tuple[httpx.Response, dict[str, object], ConsentGateway, set[str]]:
    with tempfile.TemporaryDirectory(prefix="cg-report-") as state:
        app = ConsentGateway(shipped_config(origin.url, Path(state), mode))
        server = UvicornThread(app, lifespan="on").start()
        try:
            with httpx.Client(base_url=server.url, timeout=10, headers=BROWSER) as c:
                page = c.get("/", headers={"Cookie": COOKIES})
                echoed = c.get("/echo", headers={"Cookie": COOKIES}).json()
        finally:
            server.stop()  # flushes the cookie inventory to the log database
        with sqlite3.connect(Path(state) / "consent.db") as db:
            inventory = {f"{n}:{label}" for n, label in db.execute("SELECT name, label FROM cookie_inventory")}
    return page, echoed, app, inventory


def tags(app: ConsentGateway, key: str) -> dict[str, int]:
    return {k: v for k, v in app.metrics.tallies[key].items() if k.split("\x1f")[2] in ("script", "iframe", "pixel")}


def test_report_mode_passes_the_page_and_counts_what_enforce_holds(origin: UvicornThread) -> None:
    original = httpx.get(origin.url + "/").content
    page, echoed, report, inventory = run(origin, "report")
    _, enforced_echo, enforce, _ = run(origin, "enforce")

    # byte for byte the origin's page, plus what the gateway inserts (its banner, config and guard)
    ops = difflib.SequenceMatcher(None, original, page.content, autojunk=False).get_opcodes()
    inserted = [page.content[j1:j2] for op, _, _, j1, j2 in ops if op == "insert"]
    assert all(op in ("equal", "insert") for op, *_ in ops), [op for op in ops if op[0] not in ("equal", "insert")]
    assert inserted and all(b"consent" in chunk for chunk in inserted), inserted
    assert b'id="consent-banner"' in page.content

    # nothing withheld on the wire: every cookie reaches the site, none is dropped or expired
    assert set(echoed["cookies"]) == {"_ga", "_hjSessionUser_1", "mystery", "PHPSESSID"}  # type: ignore[arg-type]
    assert set(enforced_echo["cookies"]) == {"PHPSESSID"}  # type: ignore[arg-type]
    set_cookies = page.headers.get_list("set-cookie")
    assert not [c for c in set_cookies if "Max-Age=0" in c]
    assert {c.split("=")[0] for c in set_cookies} >= set(FRAMEWORK_COOKIES)
    assert "permissions-policy" not in page.headers

    # the same tags: what enforce mode held is what report mode would have held, per vendor
    would = tags(report, "would_block")
    assert would and would == tags(enforce, "held")
    assert sum(would.values()) >= 13 and not report.metrics.tallies["neutralised"]
    assert would["personalization\x1fHotjar\x1fscript"] == 1 and would["personalization\x1fMeta Pixel\x1fpixel"] == 1
    # and the cookies enforce mode stripped, twice (the page and /echo)
    cookies = {k: v for k, v in report.metrics.tallies["would_block"].items() if k.endswith("\x1fcookie")}
    assert cookies == {"personalization\x1fGoogle Analytics\x1fcookie": 2, "personalization\x1fHotjar\x1fcookie": 2,
                       "unknown\x1f\x1fcookie": 2}
    assert sum(cookies.values()) == sum(enforce.metrics.tallies["stripped"].values())
    exposition = report.metrics.render().decode()
    assert 'consent_would_block_total{category="personalization",kind="script",vendor="Hotjar"} 1.0' in exposition
    assert {"mystery:unknown", "_ga:personalization", "_hjSessionUser_1:personalization"} <= inventory
