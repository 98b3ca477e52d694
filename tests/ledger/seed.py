"""A large, valid log written fast: records sealed by the real chain code, inserted in bulk.

Going through `Ledger.record` would take minutes for 300k decisions (one sealed batch per group
commit); the chain is the same either way, so `log verify` must find it intact.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from gateway.ledger import Decision, Record
from gateway.ledger.chain import GENESIS, derive_key, seal
from gateway.ledger.schema import COLUMNS, record_to_row
from gateway.ledger.sqlite import INSERT, SCHEMA
from tests.ledger.conftest import CHAIN_KEY

BATCH = 10_000


def sealed(total: int, chains: int = 3, chain_key: str = CHAIN_KEY) -> Iterator[Record]:
    """`total` records over `chains` chains, chain by chain, each chain valid from genesis."""
    key = derive_key(chain_key)
    for c in range(chains):
        chain_id, prev = f"host-{c}", GENESIS
        for seq in range(1, total // chains + (1 if c < total % chains else 0) + 1):
            i = c * total + seq
            d = Decision(record_id=f"r{i:09d}", ts=f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00.000Z",
                         consent_id=f"c{i % 50_000:06d}", action=("accept_all", "reject_all", "save")[i % 3],
                         granted=("identity",), denied=("personalization",), policy_version="2024-10",
                         locale="en", path="/some/page", ip_prefix="203.0.113.0/24", browser="Chrome",
                         os="Linux", device="desktop", is_bot=False, gpc=i % 2 == 0)
            record = seal(key, d, chain_id, seq, prev)
            prev = record.mac
            yield record


def _batches(records: Iterator[Record]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for r in records:
        batch.append(record_to_row(r))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_sqlite(path: Path, total: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    for batch in _batches(sealed(total)):
        conn.executemany(INSERT, batch)
    conn.execute("COMMIT")
    conn.close()


def copy_to_postgres(db: Path, url: str) -> None:
    """The rows of a seeded SQLite log into PostgreSQL (migrated by the real store), by COPY: the
    same sealed chains, without sealing them twice."""
    from gateway.ledger.postgres import PostgresStore

    bools = [COLUMNS.index("is_bot"), COLUMNS.index("gpc")]

    async def run() -> None:
        store = PostgresStore(url)
        await store.open()  # the real migrations
        await store.close()
        conn = await asyncpg.connect(url)
        source = sqlite3.connect(db)
        try:
            rows = source.execute(f"SELECT {', '.join(COLUMNS)} FROM consent_log")  # noqa: S608
            while batch := rows.fetchmany(BATCH):
                typed = [tuple(bool(v) if i in bools else v for i, v in enumerate(row)) for row in batch]
                await conn.copy_records_to_table("consent_log", records=typed, columns=list(COLUMNS))
        finally:
            source.close()
            await conn.close()

    asyncio.run(run())
