"""Chromium through Playwright: launch it, open a page and let it settle, find same-site links.

Uses the system Chromium (/usr/bin/chromium, what `./dev` installs) when present, never downloads
one. Every wait is bounded: a page that never finishes loading is recorded as it stands when the
cap runs out, and a page whose scripts keep the renderer busy cannot hang an evaluate.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from gateway.scan.model import Page
from gateway.scan.sites import same_site

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"]
# links a careful visitor does not follow: state changes and downloads
SKIP_LINK = re.compile(r"(log-?out|sign-?out|logoff|delete|remove|unsubscribe|/_consent)"
                       r"|\.(pdf|zip|gz|exe|dmg|apk|mp4|mp3|docx?|xlsx?)(\?|$)", re.I)
LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]'), a => a.href).slice(0, 2000)"
SCROLL_JS = "() => window.scrollTo(0, Math.min(document.body ? document.body.scrollHeight : 0, 20000))"


class ScanError(Exception):
    """The scan itself failed (bad URL, unreachable, timeout): one line for the person who ran it."""


@dataclass(frozen=True)
class Limits:
    page_wait: float  # load event cap per page, s
    idle_wait: float = 3.0  # network-idle cap after load, s
    eval_wait: float = 3.0  # any single evaluate, s


async def launch(playwright: Any, args: list[str], chromium: str | None) -> Any:
    path = chromium or (CHROMIUM if Path(CHROMIUM).exists() else None)
    try:
        return await playwright.chromium.launch(executable_path=path, args=[*ARGS, *args])
    except Exception as e:  # noqa: BLE001 - no browser or bad flags: one line, no traceback
        raise ScanError(f"cannot start Chromium: {str(e).splitlines()[0][:200]}") from None


NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": "cannot resolve the host",
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_TOO_MANY_REDIRECTS": "too many redirects (a redirect loop)",
    "ERR_CERT": "TLS certificate not valid",
    "ERR_EMPTY_RESPONSE": "the server closed the connection without answering",
    "ERR_INVALID_RESPONSE": "the server sent an invalid response",
    "ERR_ABORTED": "the navigation was aborted (a download, or the page went away)",
}


def describe(error: Exception, url: str) -> str:
    text = str(error)
    for code, words in NET_ERRORS.items():
        if code in text:
            return f"{url}: {words}"
    if "Timeout" in type(error).__name__ or "Timeout" in text.split("\n", 1)[0]:
        return f"{url}: no response in time"
    first = text.splitlines()[0] if text else type(error).__name__
    return f"{url}: {first.removeprefix('Page.goto: ')[:200]}"


async def visit(page: Any, url: str, limits: Limits, *, scroll: bool = True) -> Page:
    """Open `url`, wait (bounded) for load and network idle, scroll once. Raises ScanError if it never commits."""
    try:
        response = await page.goto(url, wait_until="commit", timeout=limits.page_wait * 1000)
    except Exception as e:  # noqa: BLE001 - Playwright's navigation errors, in one line
        raise ScanError(describe(e, url)) from None
    result = Page(url=page.url, status=response.status if response else None)
    await settle(page, limits, result)
    if scroll:
        await evaluate(page, SCROLL_JS, limits)
        await idle(page, min(1.5, limits.idle_wait))
    return result


async def settle(page: Any, limits: Limits, result: Page | None = None) -> None:
    try:
        await page.wait_for_load_state("load", timeout=limits.page_wait * 1000)
    except Exception:  # noqa: BLE001 - recorded as it stands
        if result is not None:
            result.note = f"did not finish loading within {limits.page_wait:g} s"
    await idle(page, limits.idle_wait)


async def idle(page: Any, wait: float) -> None:
    with contextlib.suppress(Exception):  # pollers and long-lived requests: the cap is the answer
        await page.wait_for_load_state("networkidle", timeout=wait * 1000)


async def evaluate(page: Any, script: str, limits: Limits) -> Any:
    """page.evaluate with a cap; None when the page is busy, navigating or gone."""
    try:
        return await asyncio.wait_for(page.evaluate(script), limits.eval_wait)
    except Exception:  # noqa: BLE001 - see docstring
        return None


async def same_site_links(page: Any, start: str, limits: Limits, seen: set[str], n: int) -> list[str]:
    """Up to n unvisited same-site links of the page, in document order."""
    hrefs = await evaluate(page, LINKS_JS, limits) or []
    out: list[str] = []
    for href in hrefs:
        if not isinstance(href, str):
            continue
        url = urldefrag(urljoin(page.url, href))[0]
        if url in seen or url in out or SKIP_LINK.search(url) or not same_site(url, start):
            continue
        out.append(url)
        if len(out) >= n:
            break
    return out
