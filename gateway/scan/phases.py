"""One visitor per phase, each in a fresh browser context (a fresh profile):

- before: load the page, let it settle, scroll once, look for a banner, record;
- reject / accept: press the banner's button, reload, visit N same-site pages, record.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.scan import banners
from gateway.scan.attribute import Attributor, judge
from gateway.scan.browser import Limits, ScanError, evaluate, same_site_links, settle, visit
from gateway.scan.model import Page, Phase
from gateway.scan.record import Recorder

Progress = Callable[[str, Page], None]


@dataclass(frozen=True)
class Options:
    url: str
    pages: int
    locale: str
    limits: Limits
    banner_wait: float
    attributor: Attributor
    progress: Progress


async def run_phase(browser: Any, name: str, opts: Options, kind: banners.Kind | None) -> tuple[Phase, Any]:
    """Run one phase; returns it and, for "before", the banner kind found (else the one given)."""
    lang = opts.locale.split("-")[0]
    context = await browser.new_context(
        locale=opts.locale, viewport={"width": 1280, "height": 800},
        extra_http_headers={"Accept-Language": f"{opts.locale},{lang};q=0.9" if lang != opts.locale else lang})
    try:
        recorder = Recorder(opts.url)
        await recorder.attach(context)
        page = await context.new_page()
        phase = Phase(name)
        first = await visit(page, opts.url, opts.limits)
        _seen(phase, first, opts, name)
        if name == "before":
            kind = await banners.detect(page, opts.banner_wait)
        else:
            assert kind is not None
            await _decide(page, kind, name, opts)
            reloaded = await visit(page, opts.url, opts.limits)
            _seen(phase, reloaded, opts, name)
        await recorder.read_storage(page, opts.limits.eval_wait)
        phase.screenshot_bytes = await _screenshot(page, opts.limits)
        if name != "before":
            await _browse(page, phase, recorder, opts)
        await recorder.settle()
        jar = await asyncio.wait_for(context.cookies(), opts.limits.eval_wait * 2)
        _fill(phase, recorder, jar, opts.attributor)
        return phase, kind
    finally:
        with contextlib.suppress(Exception):  # the browser goes with the scan anyway
            await asyncio.wait_for(context.close(), 10)


def _seen(phase: Phase, page: Page, opts: Options, name: str) -> None:
    phase.pages.append(page)
    if page.note:
        phase.notes.append(f"{page.url}: {page.note}")
    opts.progress(name, page)


async def _decide(page: Any, kind: banners.Kind, name: str, opts: Options) -> None:
    if await banners.detect(page, opts.banner_wait) is None:
        raise ScanError(f"{opts.url}: the {kind.name} banner seen before did not show in the {name} visit")
    try:
        await banners.decide(page, kind, name, opts.limits.page_wait)
    except banners.BannerError as e:
        raise ScanError(f"{opts.url}: {e}") from None
    await settle(page, opts.limits)


async def _browse(page: Any, phase: Phase, recorder: Recorder, opts: Options) -> None:
    """Visit up to N same-site links found on the pages seen so far (a failing one is a note)."""
    start = page.url  # where the site's own redirects (http→https, → www) landed
    seen = {opts.url, start}
    queue = await same_site_links(page, start, opts.limits, seen, opts.pages)
    visited = 0
    while queue and visited < opts.pages:
        url = queue.pop(0)
        seen.add(url)
        visited += 1
        try:
            result = await visit(page, url, opts.limits)
        except ScanError as e:
            phase.notes.append(str(e))
            opts.progress(phase.name, Page(url, None, "failed"))
            continue
        _seen(phase, result, opts, phase.name)
        await recorder.read_storage(page, opts.limits.eval_wait)
        if len(queue) < opts.pages - visited:
            more = await same_site_links(page, start, opts.limits, seen | set(queue), opts.pages)
            queue += [u for u in more if u not in queue]


async def _screenshot(page: Any, limits: Limits) -> bytes | None:
    await evaluate(page, "() => window.scrollTo(0, 0)", limits)
    try:
        shot: bytes = await page.screenshot(type="jpeg", quality=70, timeout=limits.page_wait * 1000)
        return shot
    except Exception:  # noqa: BLE001 - a busy renderer: the report says there is no screenshot
        return None


def _fill(phase: Phase, recorder: Recorder, jar: list[dict[str, Any]], attributor: Attributor) -> None:
    now = dt.datetime.now(dt.UTC)
    phase.cookies = recorder.cookies(jar, now) + recorder.refused(jar, now)
    phase.requests = list(recorder.requests.values())
    phase.storage = list(recorder.storage.values())
    phase.beacons = list(recorder.beacons.values())
    judge(phase, attributor)
