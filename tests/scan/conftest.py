"""Servers for the scan tests: the snippet site on localhost, the trackers behind one local TLS server.

Chromium reaches every other host name through --host-resolver-rules, so the tracker scripts load
and set cookies as they would on the internet, and nothing leaves the machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import ConsentGateway
from gateway.config import parse_config
from gateway.testing.servers import UvicornThread
from tests.conftest import config_text
from tests.scan.sites import create_site, create_trackers

# what the operator of the snippet site would configure in the gateway
CATEGORIES = """
[[categories]]
id = "analytics"
cookies = ["_ga", "_ga_*", "_hj*", "Hm_lvt_*", "Hm_lpvt_*"]
scripts = ["www.googletagmanager.com", "static.hotjar.com", "hm.baidu.com"]

[[categories]]
id = "marketing"
cookies = ["_fbp", "fr"]
scripts = ["connect.facebook.net", "facebook.com/tr", "youtube.com/embed"]
"""


def _cert(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "trackers.key", directory / "trackers.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=trackers.invalid", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return key, cert


@pytest.fixture(scope="session")
def trackers(tmp_path_factory: Any) -> Iterator[UvicornThread]:
    key, cert = _cert(tmp_path_factory.mktemp("tls"))
    server = UvicornThread(create_trackers(), ssl_keyfile=str(key), ssl_certfile=str(cert)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_args(trackers: UvicornThread) -> list[str]:
    return [f"--host-resolver-rules=MAP * 127.0.0.1:{trackers.port}, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            "--ignore-certificate-errors"]


@pytest.fixture(scope="session")
def scan_site() -> Iterator[str]:
    server = UvicornThread(create_site()).start()
    yield f"http://localhost:{server.port}"
    server.stop()


@pytest.fixture(scope="session")
def scan_gateway(scan_site: str, tmp_path_factory: Any) -> Iterator[str]:
    """The snippet site behind a real gateway, with the operator's categories for its trackers."""
    db = tmp_path_factory.mktemp("gw") / "log.db"
    config = parse_config(config_text(scan_site.replace("localhost", "127.0.0.1"), db, categories=CATEGORIES))
    server = UvicornThread(ConsentGateway(config), lifespan="on").start()
    yield f"http://localhost:{server.port}"
    server.stop()


@pytest.fixture(scope="session")
def direct(scan_site: str, browser_args: list[str]) -> Any:
    """The snippet site scanned directly (no banner: the before phase only)."""
    from gateway.scan import scan

    return scan(scan_site + "/", pages=0, browser_args=browser_args, timeout=60)


@pytest.fixture(scope="session")
def gated(scan_gateway: str, browser_args: list[str]) -> Any:
    """The snippet site scanned through the gateway: before, reject, accept."""
    from gateway.scan import scan

    return scan(scan_gateway + "/", pages=1, browser_args=browser_args, timeout=60)


def scan_many(urls: list[str], browser_args: list[str], **kwargs: Any) -> list[Any]:
    """Scan several URLs at once in one shared Chromium: a Report or the ScanError, per URL."""
    import asyncio
    import threading

    from playwright.async_api import async_playwright

    from gateway.scan import ascan
    from gateway.scan.browser import launch

    async def run() -> list[Any]:
        async with async_playwright() as p:
            browser = await launch(p, browser_args, None)
            try:
                return list(await asyncio.gather(*(ascan(u, browser=browser, **kwargs) for u in urls),
                                                 return_exceptions=True))
            finally:
                await browser.close()

    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.extend(asyncio.run(run())))  # Playwright's sync loop may be here
    worker.start()
    worker.join()
    return out
