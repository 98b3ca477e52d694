"""A withdrawn consent cannot be restored by replaying the old cookie, on any instance."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import ConsentGateway
from gateway.config import parse_config
from tests.conftest import config_text
from tests.support.servers import UvicornThread

JSON = {"Accept": "application/json"}


@pytest.fixture
def two_instances(tmp_path: Path, site: UvicornThread, pg_url: str) -> Iterator[list[str]]:
    """Two gateways (say, two hosts) sharing one PostgreSQL log, each with its own chain."""
    servers = []
    for name in ("web-1", "web-2"):
        text = config_text(site.url, tmp_path / "unused.db").replace(
            f'url = "sqlite:///{tmp_path / "unused.db"}"', f'url = "{pg_url}"\ninstance_id = "{name}"\n'
            f'spool_dir = "{tmp_path / name}"')
        servers.append(UvicornThread(ConsentGateway(parse_config(text)), lifespan="on").start())
    yield [s.url for s in servers]
    for s in servers:
        s.stop()


def decide(url: str, action: str, cookie: str | None = None) -> str:
    headers = {"Origin": url, **JSON} | ({"Cookie": f"consent_gateway={cookie}"} if cookie else {})
    r = httpx.post(url + "/_consent", data={"action": action}, headers=headers)
    assert r.status_code == 200, r.text
    return str(r.cookies["consent_gateway"])


def state(url: str, cookie: str) -> dict[str, object]:
    return dict(httpx.get(url + "/_consent", headers={"Cookie": f"consent_gateway={cookie}"}).json())


def test_replayed_cookie_after_withdrawal_is_no_decision(two_instances: list[str]) -> None:
    one, two = two_instances
    granted = decide(one, "accept_all")
    assert state(two, granted)["decided"] is True
    time.sleep(1.1)  # cookies carry whole seconds: the withdrawal must come in a later one
    withdrawn = decide(one, "withdraw", granted)
    # the instance that took the withdrawal refuses the old cookie at once
    replay = state(one, granted)
    assert replay["decided"] is False and replay["categories"] == {"identity": False, "personalization": False}
    assert replay["consent_id"] == state(one, withdrawn)["consent_id"]  # still one visitor, one history
    assert state(one, withdrawn)["decided"] is True
    # the other instance learns it through the log database within a few seconds
    deadline = time.monotonic() + 20
    while state(two, granted)["decided"] is not False and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(two, granted)["decided"] is False
    assert state(two, withdrawn)["decided"] is True
    # a new decision also retires the one before it: the withdrawal cookie itself is superseded
    time.sleep(1.1)
    again = decide(two, "reject_all", withdrawn)
    assert state(two, withdrawn)["decided"] is False and state(two, again)["decided"] is True
