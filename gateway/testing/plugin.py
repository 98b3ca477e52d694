"""pytest plugin (entry point `consent_gateway_e2e`): options and fixtures for consent scenarios."""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("consent-gateway")
    group.addoption("--gateway-url", default=None,
                    help="run the consent scenarios against this running deployment instead of a local demo")
    group.addoption("--chromium", default=None, help="path of the Chromium binary (default: /usr/bin/chromium)")
