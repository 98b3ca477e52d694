"""PostgreSQL store: one log shared by many gateway instances, each with its own chain.

asyncpg with a small pool. The schema is migrated on start, idempotently, under an advisory lock
so that instances starting together do not race. Inserts are idempotent on record_id, which is
what makes spool replay exactly-once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import asyncpg

from gateway.ledger import Checkpoint, Record
from gateway.ledger.schema import (
    COLUMNS,
    COOKIE_SCOPES,
    MAX_REVOCATION_ROWS,
    MAX_SHARED_SCOPES,
    REVOCATION_OVERLAP,
    REVOCATIONS,
    SELECT,
    fold_inventory,
    insert_sql,
    now_iso,
    record_from_row,
    record_to_row,
    schema,
)

# Applied in order, once each; a schema change is a new entry here, never an edit of an old one.
MIGRATIONS = [
    schema("BIGINT", "BOOLEAN"),
    COOKIE_SCOPES,
    REVOCATIONS,
]
LOCK_ID = 0x636F6E73656E74  # "consent": serialises migrations across instances
INVENTORY_LOCK_ID = LOCK_ID + 1  # serialises the inventory's bound on distinct names
INSERT = insert_sql([f"${i}" for i in range(1, len(COLUMNS) + 1)])
TIMEOUT = 5.0  # a database that hangs must not hang decisions: they go to the spool instead


def row_to_record(row: Any) -> Record:
    return record_from_row(dict(row))


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, command_timeout=TIMEOUT,
                                                   timeout=TIMEOUT)
        async with self._pool.acquire(timeout=TIMEOUT) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
            await conn.execute("CREATE TABLE IF NOT EXISTS consent_schema (version INT NOT NULL)")
            version = await conn.fetchval("SELECT max(version) FROM consent_schema") or 0
            for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(sql)
                await conn.execute("INSERT INTO consent_schema VALUES ($1)", i)

    def _p(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ConnectionError("consent log database is not connected")
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), TIMEOUT)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                pool.terminate()  # the server is gone: drop the connections without a goodbye

    async def head(self, chain_id: str) -> tuple[int, str] | None:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            row = await conn.fetchrow("SELECT seq, mac FROM consent_log WHERE chain_id = $1 ORDER BY seq DESC LIMIT 1",
                                      chain_id)
            if row is None:
                row = await conn.fetchrow("SELECT seq, mac FROM consent_checkpoints WHERE chain_id = $1", chain_id)
        return (int(row["seq"]), str(row["mac"])) if row else None

    async def insert(self, records: list[Record]) -> None:
        async with self._p().acquire(timeout=TIMEOUT) as conn, conn.transaction():
            await conn.executemany(INSERT, [record_to_row(r) for r in records], timeout=TIMEOUT)

    async def _fetch(self, sql: str, *args: Any) -> list[Record]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            return [row_to_record(r) for r in await conn.fetch(sql, *args)]

    async def history(self, consent_id: str) -> list[Record]:
        return await self._fetch(SELECT + " WHERE consent_id = $1 ORDER BY ts, chain_id, seq", consent_id)

    async def export(self, since: str | None, until: str | None) -> list[Record]:
        return await self.export_page(since, until, None, None)

    async def export_page(self, since: str | None, until: str | None, after: tuple[str, str, int] | None,
                          limit: int | None) -> list[Record]:
        """Records in (ts, chain_id, seq) order, strictly after `after`: a keyset page, no OFFSET."""
        a_ts, a_chain, a_seq = after if after else (None, None, None)
        return await self._fetch(
            SELECT + " WHERE ($1::text IS NULL OR ts >= $1) AND ($2::text IS NULL OR ts < $2)"
            " AND ($3::text IS NULL OR (ts, chain_id, seq) > ($3, $4::text, $5::bigint))"
            " ORDER BY ts, chain_id, seq LIMIT $6", since, until, a_ts, a_chain, a_seq, limit)

    async def count_before(self, before: str) -> int:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            return int(await conn.fetchval("SELECT count(*) FROM consent_log WHERE ts < $1", before))

    async def count(self, since: str | None = None, until: str | None = None) -> int:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            return int(await conn.fetchval("SELECT count(*) FROM consent_log WHERE ($1::text IS NULL OR ts >= $1) "
                                           "AND ($2::text IS NULL OR ts < $2)", since, until))

    async def chain_pages(self, limit: int) -> AsyncGenerator[tuple[list[Checkpoint], list[Record]], None]:
        """Every record in (chain_id, seq) order, `limit` at a time (each page well inside the query
        timeout), with the checkpoints, from one repeatable-read snapshot: a purge or new records
        while `log verify` walks cannot split its view. Close it (aclosing) when done."""
        async with self._p().acquire(timeout=TIMEOUT) as conn, conn.transaction(isolation="repeatable_read",
                                                                                readonly=True):
            rows = await conn.fetch("SELECT chain_id, seq, mac, ts, signature FROM consent_checkpoints")
            checkpoints = [Checkpoint(r["chain_id"], int(r["seq"]), r["mac"], r["ts"], r["signature"]) for r in rows]
            after: tuple[str | None, int | None] = (None, None)
            while True:
                records = [row_to_record(r) for r in await conn.fetch(
                    SELECT + " WHERE ($1::text IS NULL OR (chain_id, seq) > ($1, $2::bigint))"
                    " ORDER BY chain_id, seq LIMIT $3", *after, limit)]
                yield checkpoints, records
                if len(records) < limit:
                    return
                after = (records[-1].chain_id, records[-1].seq)

    async def checkpoints(self) -> list[Checkpoint]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            rows = await conn.fetch("SELECT chain_id, seq, mac, ts, signature FROM consent_checkpoints")
        return [Checkpoint(r["chain_id"], int(r["seq"]), r["mac"], r["ts"], r["signature"]) for r in rows]

    async def purge(self, before: str, sign: Callable[[str, int, str, str], str]) -> int:
        purged = 0
        async with self._p().acquire(timeout=TIMEOUT) as conn, conn.transaction():
            for row in await conn.fetch("SELECT chain_id, max(seq) AS seq FROM consent_log WHERE ts < $1 "
                                        "GROUP BY chain_id", before):
                chain_id, seq = row["chain_id"], int(row["seq"])
                mac = await conn.fetchval("SELECT mac FROM consent_log WHERE chain_id = $1 AND seq = $2", chain_id, seq)
                status = await conn.execute("DELETE FROM consent_log WHERE chain_id = $1 AND seq <= $2", chain_id, seq)
                purged += int(status.split()[-1])
                ts = now_iso()
                await conn.execute(
                    "INSERT INTO consent_checkpoints VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain_id) DO UPDATE "
                    "SET seq = excluded.seq, mac = excluded.mac, ts = excluded.ts, signature = excluded.signature",
                    chain_id, seq, mac, ts, sign(chain_id, seq, mac, ts))
        return purged

    async def stats(self) -> dict[str, Any]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            rows = await conn.fetch("SELECT substr(ts, 1, 10) AS day, action, granted, device, browser, gpc, "
                                    "count(*) AS n FROM consent_log GROUP BY 1, 2, 3, 4, 5, 6")
            chains = await conn.fetchval("SELECT count(DISTINCT chain_id) FROM consent_log")
        return {"groups": [(r["day"], r["action"], json.loads(r["granted"]), r["device"], r["browser"], r["gpc"],
                            int(r["n"])) for r in rows], "chains": int(chains)}

    async def add_inventory(self, rows: list[tuple[str, str, str, int]], limit: int = 500) -> None:
        ts = now_iso()
        async with self._p().acquire(timeout=TIMEOUT) as conn, conn.transaction():
            # instances add at once: the bound counts what the others have stored
            await conn.execute("SELECT pg_advisory_xact_lock($1)", INVENTORY_LOCK_ID)
            stored = [(r["name"], r["label"]) for r in
                      await conn.fetch("SELECT DISTINCT name, label FROM cookie_inventory")]
            await conn.executemany(
                "INSERT INTO cookie_inventory VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, source) DO UPDATE SET "
                "count = cookie_inventory.count + excluded.count, label = excluded.label, "
                "last_seen = excluded.last_seen",
                [(name, label, source, n, ts) for name, label, source, n in fold_inventory(rows, stored, limit)])

    async def inventory(self) -> list[tuple[str, str, str, int, str]]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            rows = await conn.fetch("SELECT name, label, source, count, last_seen FROM cookie_inventory "
                                    "ORDER BY count DESC")
        return [(r["name"], r["label"], r["source"], int(r["count"]), r["last_seen"]) for r in rows]

    async def add_scopes(self, rows: list[tuple[str, str, str]]) -> None:
        ts = now_iso()
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            await conn.executemany(
                "INSERT INTO cookie_scopes VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
                "path = excluded.path, domain = excluded.domain, updated = excluded.updated",
                [(name, path, domain, ts) for name, path, domain in rows])

    async def scopes(self) -> list[tuple[str, str, str]]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            rows = await conn.fetch("SELECT name, path, domain FROM cookie_scopes ORDER BY updated DESC LIMIT $1",
                                    MAX_SHARED_SCOPES)
        return [(r["name"], r["path"], r["domain"]) for r in rows]

    async def add_revocations(self, rows: list[tuple[str, int]]) -> None:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            await conn.executemany(
                "INSERT INTO consent_revocations VALUES ($1, $2, extract(epoch FROM clock_timestamp())) "
                "ON CONFLICT (consent_id) DO UPDATE SET "
                "not_before = greatest(consent_revocations.not_before, excluded.not_before), "
                "updated = excluded.updated", rows)

    async def revocations(self, since: float, min_not_before: int) -> tuple[list[tuple[str, int]], float]:
        async with self._p().acquire(timeout=TIMEOUT) as conn:
            now = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
            rows = await conn.fetch("SELECT consent_id, not_before, updated FROM consent_revocations "
                                    "WHERE updated >= $1 AND not_before >= $2 ORDER BY updated LIMIT $3",
                                    since, min_not_before, MAX_REVOCATION_ROWS)
        cursor = float(rows[-1]["updated"]) if len(rows) == MAX_REVOCATION_ROWS else now - REVOCATION_OVERLAP
        return [(str(r["consent_id"]), int(r["not_before"])) for r in rows], max(since, cursor)
