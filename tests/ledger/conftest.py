from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from gateway.config import LogSettings
from gateway.ledger import Decision

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHAIN_KEY = "chain-key-for-tests-0123456789"


def decision(i: int, consent_id: str = "cid", ts: str | None = None) -> Decision:
    return Decision(record_id=uuid.uuid4().hex, ts=ts or f"2026-11-28T10:00:{i % 60:02d}.000Z",
                    consent_id=consent_id, action="save", granted=("identity",), denied=("personalization",),
                    policy_version="2024-10", locale="en", path="/p", ip_prefix="127.0.0.0/24", browser="Chrome",
                    os="Linux", device="desktop", is_bot=False, gpc=i % 2 == 0)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(request.param)


@pytest.fixture
def log_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> LogSettings:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/log.db"
    else:
        url = request.getfixturevalue("pg_url")
    return LogSettings(url=url, chain_key=CHAIN_KEY, instance_id="t", spool_dir=str(tmp_path / "spool"))


Tamper = Callable[[str], None]


@pytest.fixture
def tamper(log_settings: LogSettings) -> Tamper:
    """Run SQL straight against the log's database, as an attacker with write access would."""
    def run(sql: str) -> None:
        if log_settings.url.startswith("sqlite:"):
            import sqlite3

            conn = sqlite3.connect(log_settings.url[len("sqlite:///"):])
            conn.executescript(sql)
            conn.commit()
            conn.close()
        else:
            async def go() -> None:
                conn = await asyncpg.connect(log_settings.url)
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()

            asyncio.run(go())

    return run
