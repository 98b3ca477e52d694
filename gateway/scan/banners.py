"""Find a consent banner on a page and press its "reject all" or "accept all".

Kinds: the gateway's own banner (its `data-consent-action` controls), and three widely used
CMPs by their stable, documented element ids and attributes: Cookiebot, OneTrust and
orestbida/cookieconsent (v2 and v3 markup). The selectors are our own, written from each CMP's
public markup; only the first-layer buttons are pressed, never a form is submitted by the scanner.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    name: str
    container: str  # present and visible when the banner is shown
    accept: tuple[str, ...]  # tried in order
    reject: tuple[str, ...]
    # a second layer to open when the first has no reject button (OneTrust setups without one)
    settings: tuple[str, ...] = ()


KINDS = (
    Kind("gateway", "#consent-banner",
         accept=('#consent-banner [data-consent-action="accept_all"]',),
         reject=('#consent-banner [data-consent-action="reject_all"]',)),
    Kind("cookiebot", "#CybotCookiebotDialog",
         accept=("#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll", "#CybotCookiebotDialogBodyButtonAccept"),
         reject=("#CybotCookiebotDialogBodyButtonDecline",)),
    Kind("onetrust", "#onetrust-banner-sdk",
         accept=("#onetrust-accept-btn-handler",),
         reject=("#onetrust-reject-all-handler", "button.ot-pc-refuse-all-handler"),
         settings=("#onetrust-pc-btn-handler",)),
    Kind("cookieconsent", "#cc-main .cm, #cc_div #cm",
         accept=('#cc-main .cm [data-role="all"]', "#cc_div #cm #c-p-bn"),
         reject=('#cc-main .cm [data-role="necessary"]', "#cc_div #cm #c-s-bn")),
)
BY_NAME = {k.name: k for k in KINDS}

# The gateway's script marks the decision applied (and any reload done) on window.consentGateway.
GATEWAY_APPLIED = ("() => document.readyState === 'complete' && !!window.consentGateway"
                   " && window.consentGateway.decided === true && !window.consentGateway.busy")


class BannerError(Exception):
    """A banner was found but could not be operated."""


async def _visible(page: Any, selector: str) -> bool:
    try:
        loc = page.locator(selector).first
        return bool(await loc.count()) and bool(await loc.is_visible())
    except Exception:  # noqa: BLE001 - a navigating or busy page: not visible now
        return False


async def detect(page: Any, wait: float) -> Kind | None:
    """The first kind whose banner is visible, polling up to `wait` s (CMPs load their banner late)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        for kind in KINDS:
            if await _visible(page, kind.container):
                return kind
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.25)


async def _click_first(page: Any, selectors: tuple[str, ...], timeout: float) -> bool:
    for selector in selectors:
        if await _visible(page, selector):
            await page.locator(selector).first.click(timeout=timeout * 1000, no_wait_after=True)
            return True
    return False


async def decide(page: Any, kind: Kind, action: str, timeout: float) -> None:
    """Press `action` ("reject" or "accept") on a visible banner of `kind` and wait until it applied."""
    selectors = kind.reject if action == "reject" else kind.accept
    try:
        if not await _click_first(page, selectors, timeout):
            if not (kind.settings and await _click_first(page, kind.settings, timeout)):
                raise BannerError(f"the {kind.name} banner has no '{action} all' button")
            await asyncio.sleep(0.5)  # the settings layer animates in
            if not await _click_first(page, selectors, timeout):
                raise BannerError(f"the {kind.name} banner has no '{action} all' button in its settings")
        if kind.name == "gateway":
            await page.wait_for_function(GATEWAY_APPLIED, timeout=timeout * 1000)
        else:
            await page.locator(kind.container).first.wait_for(state="hidden", timeout=timeout * 1000)
    except BannerError:
        raise
    except Exception as e:  # noqa: BLE001 - Playwright timeouts and page errors, said in one line
        raise BannerError(f"pressing '{action} all' on the {kind.name} banner failed: "
                          f"{str(e).splitlines()[0][:200]}") from None
