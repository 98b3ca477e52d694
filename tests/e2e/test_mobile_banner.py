"""The first layer on a phone (issue 11): small, details one tap away, and really modal.

Measured in real Chromium at 375×740 with touch, in both shipped languages.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.testing.plugin import ConsentPage

Factory = Callable[..., ConsentPage]
PHONE = {"width": 375, "height": 740}


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_first_layer_fits_in_40_percent_of_a_phone(consent_new_page: Factory, locale: str) -> None:
    p = consent_new_page(viewport=PHONE, mobile=True, locale=locale)
    p.goto("/")
    p.page.evaluate("() => document.fonts.ready.then(() => true)")
    box = p.banner.bounding_box()
    assert box is not None
    print(f"first layer {locale} at 375x740: {box['height']:.0f} px ({box['height'] / 740:.0%})")
    assert box["height"] <= 0.40 * PHONE["height"], box
    assert box["y"] + box["height"] <= PHONE["height"] + 0.5  # all of it on screen
    for action in ("accept_all", "reject_all", "save"):  # both choices on the first layer
        assert p.banner.locator(f'[data-consent-action="{action}"]').is_visible()
    details = p.banner.locator("details")
    assert not details.evaluate("d => d.open")
    p.banner.locator('[data-consent-action="save"]').tap()  # one tap to the details
    assert details.evaluate("d => d.open")
    assert p.banner.locator('input[name="categories"]').first.is_visible()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_necessary_row_is_always_on(consent_new_page: Factory, locale: str) -> None:
    p = consent_new_page(locale=locale)
    p.goto("/")
    p.open_settings()
    row = p.banner.locator(".cg-necessary")
    assert row.is_visible()
    switch = row.locator('input[type="checkbox"]')
    assert switch.is_checked() and switch.is_disabled()
    assert switch.get_attribute("name") is None  # shown, never posted as a choice
    label = row.locator("label").inner_text()
    assert ("Always on" in label) if locale == "en" else ("始终开启" in label), label


def test_first_layer_leaves_the_page_usable_and_the_settings_are_modal(consent_new_page: Factory) -> None:
    """Non-modal first layer (the page, its links and click-to-load boxes stay usable); modal settings."""
    p = consent_new_page(locale="en", viewport=PHONE, mobile=True)
    p.goto("/")
    link = p.page.locator('header a[href="/products"]')
    # Count (and hold) clicks that reach the link, so the page stays put and each check is a plain count.
    link.evaluate("a => { window.linkClicks = 0;"
                  " a.addEventListener('click', e => { window.linkClicks++; e.preventDefault(); }); }")
    box = link.bounding_box()
    assert box is not None
    at = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    inert = "() => document.querySelector('header').closest('[inert]') !== null"
    assert p.banner.get_attribute("aria-modal") is None  # it does not claim what it is not
    p.page.mouse.click(*at)
    assert p.page.evaluate("() => window.linkClicks") == 1 and not p.page.evaluate(inert)

    p.open_settings()  # the details fill the phone: now the page behind is inert
    assert p.banner.get_attribute("aria-modal") == "true" and p.page.evaluate(inert)
    p.page.mouse.click(*at)
    assert p.page.evaluate("() => window.linkClicks") == 1
    link.focus()
    assert p.page.evaluate("() => document.activeElement.getAttribute('href')") != "/products"
    p.page.keyboard.press("Escape")  # back to the first layer: the page is usable again
    assert p.banner.get_attribute("aria-modal") is None and not p.page.evaluate(inert)
    p.page.mouse.click(*at)
    assert p.page.evaluate("() => window.linkClicks") == 2

    p.reject_all()
    assert p.page.evaluate("() => document.querySelector('[inert]')") is None
    p.reopen()  # the reopened settings are modal as well, until they close
    assert p.banner.get_attribute("aria-modal") == "true" and p.page.evaluate(inert)
    p.page.mouse.click(*at)
    assert p.page.evaluate("() => window.linkClicks") == 2


def test_without_javascript_the_banner_does_not_claim_modality(consent_new_page: Factory) -> None:
    p = consent_new_page(locale="en", javascript=False)
    p.goto("/")
    assert p.banner.get_attribute("role") == "dialog"
    assert p.banner.get_attribute("aria-modal") is None  # nothing can make the page inert without script
