from __future__ import annotations

import asyncio
import os
import socket
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings

from gateway import cookies, scanner
from gateway.app import ConsentGateway
from gateway.config import Config, parse_config
from tests.support.servers import RawFactory, RawServer, UvicornThread
from tests.support.site import create_app

# No per-example deadline: this machine's speed varies 3x from day to day and the suite shares it
# with browsers and servers, so a deadline is a timed test that fails for reasons of load alone.
settings.register_profile("gateway", deadline=None)
# `./dev mutate` (tests/mutate.py) runs each test once per mutant: the same examples every time, so
# that a verdict can be reproduced; fewer of them (the hand-written cases carry the kills); and no
# flakiness check across the stats run, the clean run and the forked mutant runs.
settings.register_profile("mutate", suppress_health_check=[HealthCheck.differing_executors], deadline=None,
                          derandomize=True, database=None, max_examples=25)
settings.load_profile(os.environ.get("CONSENT_GATEWAY_HYPOTHESIS", "gateway"))

SECRET = "test-secret-key-0123456789abcdef"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def config_text(upstream: str, db: Path, extra: str = "", consent: str = "", gateway: str = "",
                categories: str | None = None) -> str:
    cats = categories if categories is not None else """
        [[categories]]
        id = "identity"
        cookies = ["sid", "remember_*"]
        scripts = []

        [[categories]]
        id = "personalization"
        cookies = ["_ga", "_ga_*", "_gid", "Hm_lvt_*", "Hm_lpvt_*"]
        scripts = ["www.googletagmanager.com", "hm.baidu.com"]
    """
    return textwrap.dedent(f"""
        [gateway]
        upstream = "{upstream}"
        read_timeout = 2
        connect_timeout = 2
        {textwrap.dedent(gateway)}

        [consent]
        secret_keys = ["{SECRET}"]
        policy_version = "2024-10"
        max_age_days = 180
        {"" if "decisions_per_minute" in consent else "decisions_per_minute = 0"}
        {textwrap.dedent(consent) or 'default_locale = "en"'}

        [log]
        url = "sqlite:///{db}"
        chain_key = "chain-key-for-tests-0123456789"

        [cookies]
        necessary = ["csrftoken"]
        unknown = "block"
    """) + textwrap.dedent(cats) + textwrap.dedent(extra)


class RunningGateway:
    def __init__(self, server: UvicornThread, app: ConsentGateway) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.origin = server.url

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def with_consent(self, client: httpx.Client, cookie: str) -> str:
        """An explicit Cookie header replaces httpx's jar; keep the consent cookie in it."""
        value = client.cookies.get("consent_gateway")
        return f"consent_gateway={value}; {cookie}" if value else cookie

    def decide(self, client: httpx.Client, action: str, categories: tuple[str, ...] = ()) -> httpx.Response:
        data = {"action": action, "next": "/", "categories": list(categories)}
        r = client.post("/_consent", data=data, headers={"Origin": self.origin, "Accept": "application/json"})
        assert r.status_code == 200, r.text
        return r


def pytest_report_header() -> str:
    """Which HTML scanner this run exercises (`./dev test` runs the suite on each)."""
    return f"HTML scanner: {scanner.IMPLEMENTATION} (available: {', '.join(sorted(scanner.available()))})"


@pytest.fixture(autouse=True)
def _cold_cookie_caches() -> None:
    """Every test starts with gateway/cookies.py's module caches empty (every private upper-case
    module-level dict there is a cache, so one added later is covered too). A test must run the
    code it asserts, not read what an earlier test left in a cache: otherwise a bug behind the cache
    passes whenever another test ran first, and mutation testing (`./dev mutate`), which maps each
    function to the tests that call it, never runs that test against a mutant behind the cache."""
    for name, value in vars(cookies).items():
        if name[:1] == "_" and name[1:2].isupper() and isinstance(value, dict):  # not __builtins__
            value.clear()


@pytest.fixture(scope="module", params=["python"] if scanner.forced_pure() else sorted(scanner.available()))
def scanner_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests once per HTML scanner implementation (compiled and pure Python;
    only the twin under CONSENT_GATEWAY_PURE_PYTHON=1).
    Module-scoped so hypothesis tests can use it; restores the chosen one afterwards."""
    chosen = scanner.walk
    scanner.walk = scanner.available()[request.param]
    try:
        yield request.param
    finally:
        scanner.walk = chosen


@pytest.fixture(scope="session")
def site() -> Iterator[UvicornThread]:
    server = UvicornThread(create_app()).start()
    yield server
    server.stop()


@pytest.fixture
def make_gateway(tmp_path: Path, site: UvicornThread) -> Iterator[Callable[..., RunningGateway]]:
    started: list[UvicornThread] = []

    def make(upstream: str | None = None, **parts: str) -> RunningGateway:
        text = config_text(upstream or site.url, tmp_path / f"log{len(started)}.db", **parts)
        config: Config = parse_config(text)
        app = ConsentGateway(config)
        server = UvicornThread(app, lifespan="on").start()
        started.append(server)
        return RunningGateway(server, app)

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def raw_server() -> Iterator[RawFactory]:
    """Misbehaving upstreams: each handler gets the connection and the request head; closed after."""
    servers: list[RawServer] = []

    def make(handler: Callable[[socket.socket, bytes], None]) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, dropped afterwards."""
    name = "cg_test_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
