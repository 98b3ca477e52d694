"""`consent-gateway scan`: what a site does before any decision, after reject and after accept.

    from gateway.scan import scan
    report = scan("https://www.example.com/", pages=3)
    assert report.phases.reject.violations == []

Three visitors, each a fresh Chromium profile (phases.py), recorded (record.py), attributed with
the tracker catalog and the gateway config (attribute.py), written as report.json, report.html and
suggested.toml (report.py, html.py). Used by the CLI (cli.py) and the pytest plugin's `consent_scan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway import __version__
from gateway.config import Config
from gateway.scan.attribute import Attributor, CatalogLike, load_catalog
from gateway.scan.browser import Limits, ScanError, launch
from gateway.scan.model import Banner, Page, Phases, Report
from gateway.scan.phases import Options, Progress, run_phase

__all__ = ["Report", "ScanError", "ascan", "scan"]


def _quiet(phase: str, page: Page) -> None:
    pass


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    if not ok:
        raise ScanError(f"{url!r} is not an http:// or https:// URL")
    return url


async def ascan(url: str, *, pages: int = 3, browser_args: Sequence[str] = (), locale: str = "en",
                timeout: float = 120, config: Config | None = None, catalog: CatalogLike | None = None,
                catalog_files: Sequence[str | Path] = (), chromium: str | None = None,
                progress: Progress | None = None, banner_wait: float = 5.0, browser: Any = None) -> Report:
    """The scan, in the running event loop. Raises ScanError when the scan itself fails.

    `banner_wait`: how long to look for a banner that a CMP's script inserts late. `browser`: a
    Playwright (async) Browser to share between scans; the scan then neither launches nor closes one.
    """
    check_url(url)
    if catalog is None:
        catalog = load_catalog(catalog_files)
    page_wait = max(3.0, min(20.0, timeout / 8))
    opts = Options(url=url, pages=max(0, min(pages, 50)), locale=locale, limits=Limits(page_wait=page_wait),
                   banner_wait=min(banner_wait, page_wait), attributor=Attributor(catalog, config),
                   progress=progress or _quiet)
    try:
        if browser is not None:
            return await asyncio.wait_for(_report(browser, opts), timeout)
        return await asyncio.wait_for(_run(opts, list(browser_args), chromium), timeout)
    except TimeoutError:
        raise ScanError(f"{url}: the scan did not finish within {timeout:g} s") from None


async def _run(opts: Options, browser_args: list[str], chromium: str | None) -> Report:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        raise ScanError("the scan needs Playwright: pip install 'consent-gateway[scan]'") from None
    async with async_playwright() as p:
        browser = await launch(p, browser_args, chromium)
        try:
            return await _report(browser, opts)
        finally:
            with contextlib.suppress(Exception):  # the Playwright driver kills it on exit anyway
                await asyncio.wait_for(browser.close(), 10)


async def _report(browser: Any, opts: Options) -> Report:
    scanned_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    before, kind = await run_phase(browser, "before", opts, None)
    phases = Phases(before)
    if kind is not None:
        (reject, _), (accept, _) = await asyncio.gather(run_phase(browser, "reject", opts, kind),
                                                        run_phase(browser, "accept", opts, kind))
        phases = Phases(before, reject, accept)
    else:
        before.notes.append("no consent banner found: the reject and accept visits were not run")
    return Report(url=opts.url, scanned_at=scanned_at, tool_version=__version__,
                  banner=Banner(kind is not None, kind.name if kind else None), phases=phases,
                  browser={"name": "chromium", "version": browser.version, "locale": opts.locale,
                           "pages": opts.pages})


def scan(url: str, **kwargs: Any) -> Report:
    """`ascan` for synchronous callers (a CLI, a pytest test).

    Runs in its own thread with its own event loop: Playwright's sync API (the pytest plugin's
    browser) keeps a loop alive in the calling thread, where asyncio.run() would refuse to start.
    """
    result: list[Report] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(ascan(url, **kwargs)))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            error.append(e)

    worker = threading.Thread(target=run, name="consent-scan", daemon=True)
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]
