"""pytest plugin (entry point `consent_gateway_e2e`): drive a consent-gateway deployment in Chromium.

QA teams get, with `pip install consent-gateway[test]`:

- `--gateway-url URL`: run against a running deployment; without it, a local demo (sample site
  behind a real gateway, on loopback) is started for the session.
- fixtures `consent_gateway_url`, `consent_browser` (per module), `consent_new_page` (a factory: locale, JS on/off, GPC,
  viewport, user agent) and `consent_page` (a default one);
- `ConsentPage` helpers: `accept_all()`, `reject_all()`, `save(...)`, `withdraw()`,
  `browser_cookies()`, `state()`, `banner`, `open_settings()`.
- fixture `consent_scan`: the compliance scan (`gateway.scan.scan`) as a function, by default of the
  deployment under test: `assert consent_scan().phases.reject.violations == []`.

Scenarios that need to control the deployment (a second gateway, the log) carry the marker
`local_gateway` and are deselected, not skipped, when `--gateway-url` is given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

# Names under TEST_DOMAIN resolve to loopback, so scenarios can use real parent-domain cookies.
TEST_DOMAIN = "consent-gateway.test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                 f"--host-resolver-rules=MAP *.{TEST_DOMAIN} 127.0.0.1"]
ARTIFACTS = Path(os.environ.get("CONSENT_GATEWAY_ARTIFACTS", "test-artifacts"))


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("consent-gateway")
    group.addoption("--gateway-url", default=None,
                    help="run the consent scenarios against this running deployment instead of a local demo")
    group.addoption("--chromium", default=None,
                    help="Chromium binary (default: /usr/bin/chromium when present, else Playwright's own)")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "local_gateway: needs a gateway this test run controls")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if not config.getoption("--gateway-url"):
        return
    keep: list[Any] = []
    drop: list[Any] = []
    for item in items:
        (drop if item.get_closest_marker("local_gateway") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class LocalDemo:
    """The demo site behind a real gateway, started for a test session."""

    url: str
    site_url: str
    config: Any
    state_dir: Path
    servers: list[Any]

    def start_gateway(self, **consent_overrides: Any) -> str:
        """A second gateway in front of the same site, e.g. with a bumped policy version."""
        from gateway.app import ConsentGateway
        from gateway.testing.servers import UvicornThread

        config = replace(self.config, consent=replace(self.config.consent, **consent_overrides))
        server = UvicornThread(ConsentGateway(config), lifespan="on").start()
        self.servers.append(server)
        return server.url


def start_local_demo(state_dir: Path) -> LocalDemo:
    from gateway.app import ConsentGateway
    from gateway.demo.run import demo_config
    from gateway.demo.site import create_site
    from gateway.testing.servers import UvicornThread, free_port

    site = UvicornThread(create_site()).start()
    config = demo_config(free_port(), site.port, state_dir)
    # every scenario decides from 127.0.0.1: the per-address flood limit would stop the suite
    config = replace(config, consent=replace(config.consent, decisions_per_minute=0))
    gateway = UvicornThread(ConsentGateway(config), port=config.gateway.port, lifespan="on").start()
    return LocalDemo(gateway.url, site.url, config, state_dir, [gateway, site])


@pytest.fixture(scope="session")
def consent_local_demo(request: Any) -> Iterator[LocalDemo | None]:
    if request.config.getoption("--gateway-url"):
        yield None
        return
    state = Path(tempfile.mkdtemp(prefix="cg-e2e-"))
    demo = start_local_demo(state)
    yield demo
    for s in reversed(demo.servers):
        s.stop()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def consent_gateway_url(request: Any, consent_local_demo: LocalDemo | None) -> str:
    url = request.config.getoption("--gateway-url")
    return str(url).rstrip("/") if url else consent_local_demo.url  # type: ignore[union-attr]


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it lives, which breaks asyncio.run() in any test collected after the browser tests.
# Beside pytest-playwright, whose `playwright` fixture is one such instance for the whole session,
# take that one: a second sync_playwright() in the same thread is refused while it lives.
@pytest.fixture(scope="module")
def consent_browser(request: Any) -> Iterator[Any]:
    path = request.config.getoption("--chromium")
    if path is None and Path("/usr/bin/chromium").exists():
        path = "/usr/bin/chromium"
    if request.config.pluginmanager.hasplugin("playwright"):
        b = request.getfixturevalue("playwright").chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class ConsentPage:
    """One browser context and page, with the consent actions a QA scenario needs."""

    def __init__(self, context: Any, base_url: str, *, javascript: bool = True) -> None:
        self.context = context
        self.page = context.new_page()
        self.base_url = base_url
        self.javascript = javascript

    def goto(self, path: str = "/") -> Any:
        return self.page.goto(self.base_url + path)

    @property
    def banner(self) -> Any:
        return self.page.locator("#consent-banner")

    def click_action(self, action: str) -> None:
        self.banner.locator(f'[data-consent-action="{action}"]').click()

    def _decide(self, action: str) -> None:
        if self.javascript:
            with self.page.expect_response(lambda r: r.url.endswith("/_consent") and r.request.method == "POST"):
                self.click_action(action)
            self.wait_applied()
        else:
            with self.page.expect_navigation():
                self.click_action(action)

    def wait_applied(self) -> None:
        """Wait until the banner script has applied a posted decision.

        The POST's response reaches the page before the script has closed the banner and activated
        the granted tags, or reloaded the page after a withdrawal. The predicate is re-run in the
        new document when a reload happens.
        """
        self.page.wait_for_function(
            "() => document.readyState === 'complete' && !!window.consentGateway"
            " && window.consentGateway.decided === true && !window.consentGateway.busy")

    def accept_all(self) -> None:
        self._decide("accept_all")

    def reject_all(self) -> None:
        self._decide("reject_all")

    def open_settings(self) -> None:
        details = self.banner.locator("details")
        if not details.evaluate("d => d.open"):
            self.click_action("save")

    def save(self, *categories: str) -> None:
        self.open_settings()
        for box in self.banner.locator('input[name="categories"]:not([disabled])').all():
            want = box.get_attribute("value") in categories
            if box.is_checked() != want:
                box.set_checked(want)
        self._decide("save")

    def reopen(self) -> None:
        self.page.locator('[data-consent-action="open"]').first.click()
        self.banner.wait_for(state="visible")

    def withdraw(self) -> None:
        """Withdraw from the reopened settings; the page reloads so the gateway's expiries apply."""
        self.reopen()
        with self.page.expect_navigation():
            self.click_action("withdraw")

    def browser_cookies(self) -> dict[str, dict[str, Any]]:
        """The browser's whole jar for this site, HttpOnly cookies included."""
        return {c["name"]: c for c in self.context.cookies(self.base_url)}

    def state(self) -> dict[str, Any]:
        r = self.context.request.get(self.base_url + "/_consent")
        return dict(r.json())

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def consent_new_page(consent_browser: Any, consent_gateway_url: str) -> Iterator[Callable[..., ConsentPage]]:
    contexts: list[Any] = []

    def make(*, locale: str = "zh-CN", javascript: bool = True, gpc: bool = False,
             viewport: dict[str, int] | None = None, user_agent: str | None = None, mobile: bool = False,
             base_url: str | None = None, reduced_motion: str = "reduce",
             color_scheme: str = "light") -> ConsentPage:
        headers = {"Accept-Language": f"{locale},{locale.split('-')[0]};q=0.9"}
        if gpc:
            headers["Sec-GPC"] = "1"
        options: dict[str, Any] = dict(locale=locale, java_script_enabled=javascript, extra_http_headers=headers,
                                       viewport=viewport or {"width": 1280, "height": 800},
                                       reduced_motion=reduced_motion, color_scheme=color_scheme)
        if user_agent:
            options["user_agent"] = user_agent
        if mobile:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = consent_browser.new_context(**options)
        contexts.append(context)
        return ConsentPage(context, base_url or consent_gateway_url, javascript=javascript)

    yield make
    for c in contexts:
        c.close()


@pytest.fixture
def consent_page(consent_new_page: Callable[..., ConsentPage]) -> ConsentPage:
    return consent_new_page()


@pytest.fixture
def consent_scan(request: Any) -> Callable[..., Any]:
    """`consent_scan(url=None, **options) -> Report`: scan a page before consent, after reject and after
    accept (options as `gateway.scan.scan`: pages, browser_args, locale, timeout, config, ...). Without
    a URL it scans the deployment under test (`--gateway-url`, or the local demo)."""
    from gateway.scan import scan

    def run(url: str | None = None, **options: Any) -> Any:
        if url is None:
            url = request.getfixturevalue("consent_gateway_url") + "/"
        options.setdefault("chromium", request.config.getoption("--chromium"))
        return scan(url, **options)

    return run
