"""SQLite (WAL) store: the embedded default.

Writes go through one thread and one connection; with synchronous=FULL each commit is one fsync,
and the ledger hands it whole batches (group commit). Reads open their own connections.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")

SCHEMA = schema("INTEGER", "INTEGER") + COOKIE_SCOPES + REVOCATIONS
INSERT = insert_sql(["?"] * len(COLUMNS))


def sqlite_path(url: str) -> Path:
    # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them
    return Path(url[len("sqlite:///"):])


def row_to_record(row: Any) -> Record:
    return record_from_row(dict(zip(COLUMNS, row, strict=True)))


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._conn is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self._connect()
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(SCHEMA)
                conn.execute("PRAGMA synchronous = FULL")  # every commit reaches the disk
                self._conn = conn
            return fn(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._writer, run)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._connect()
            try:
                return fn(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    async def open(self) -> None:
        await self._write(lambda conn: None)

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()

        if self._conn is not None:
            await self._write(shut)
            self._conn = None

    async def head(self, chain_id: str) -> tuple[int, str] | None:
        def q(conn: sqlite3.Connection) -> tuple[int, str] | None:
            row = conn.execute("SELECT seq, mac FROM consent_log WHERE chain_id = ? ORDER BY seq DESC LIMIT 1",
                               (chain_id,)).fetchone()
            if row is None:
                row = conn.execute("SELECT seq, mac FROM consent_checkpoints WHERE chain_id = ?",
                                   (chain_id,)).fetchone()
            return (int(row[0]), str(row[1])) if row else None

        return await self._write(q)

    async def insert(self, records: list[Record]) -> None:
        rows = [record_to_row(r) for r in records]

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(INSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._write(tx)

    async def history(self, consent_id: str) -> list[Record]:
        return await self._read(lambda conn: [row_to_record(r) for r in conn.execute(
            SELECT + " WHERE consent_id = ? ORDER BY ts, chain_id, seq", (consent_id,))])

    async def export(self, since: str | None, until: str | None) -> list[Record]:
        return await self.export_page(since, until, None, None)

    async def export_page(self, since: str | None, until: str | None, after: tuple[str, str, int] | None,
                          limit: int | None) -> list[Record]:
        """Records in (ts, chain_id, seq) order, strictly after `after`: a keyset page, no OFFSET."""
        sql, args = SELECT + " WHERE 1=1", list[Any]()
        if since:
            sql, args = sql + " AND ts >= ?", [*args, since]
        if until:
            sql, args = sql + " AND ts < ?", [*args, until]
        if after:
            sql, args = sql + " AND (ts, chain_id, seq) > (?, ?, ?)", [*args, *after]
        sql += " ORDER BY ts, chain_id, seq"
        if limit:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return await self._read(lambda conn: [row_to_record(r) for r in conn.execute(sql, args)])

    async def count_before(self, before: str) -> int:
        return await self._read(lambda conn: int(conn.execute(
            "SELECT count(*) FROM consent_log WHERE ts < ?", (before,)).fetchone()[0]))

    async def count(self, since: str | None = None, until: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM consent_log WHERE 1=1", list[Any]()
        if since:
            sql, args = sql + " AND ts >= ?", [*args, since]
        if until:
            sql, args = sql + " AND ts < ?", [*args, until]
        return await self._read(lambda conn: int(conn.execute(sql, args).fetchone()[0]))

    async def chain_pages(self, limit: int) -> AsyncGenerator[tuple[list[Checkpoint], list[Record]], None]:
        """Every record in (chain_id, seq) order, `limit` at a time, with the checkpoints, all read in
        one transaction: WAL gives it one snapshot, so a purge or new records while `log verify`
        walks cannot split its view (and writers are not blocked). Close it (aclosing) when done."""
        conn = await asyncio.to_thread(self._connect)

        def page(after: tuple[str, int] | None) -> list[Record]:
            where, args = (" WHERE (chain_id, seq) > (?, ?)", [*after]) if after else ("", [])
            return [row_to_record(r) for r in conn.execute(
                SELECT + where + " ORDER BY chain_id, seq LIMIT ?", [*args, limit])]

        try:
            await asyncio.to_thread(conn.execute, "BEGIN")
            checkpoints = await asyncio.to_thread(lambda: [Checkpoint(*row) for row in conn.execute(
                "SELECT chain_id, seq, mac, ts, signature FROM consent_checkpoints")])
            after: tuple[str, int] | None = None
            while True:
                records = await asyncio.to_thread(page, after)
                yield checkpoints, records
                if len(records) < limit:
                    return
                after = (records[-1].chain_id, records[-1].seq)
        finally:
            await asyncio.to_thread(conn.close)  # ends the read transaction

    async def checkpoints(self) -> list[Checkpoint]:
        return await self._read(lambda conn: [Checkpoint(*row) for row in conn.execute(
            "SELECT chain_id, seq, mac, ts, signature FROM consent_checkpoints")])

    async def purge(self, before: str, sign: Callable[[str, int, str, str], str]) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                purged = 0
                for chain_id, seq in conn.execute(
                        "SELECT chain_id, MAX(seq) FROM consent_log WHERE ts < ? GROUP BY chain_id",
                        (before,)).fetchall():
                    mac = conn.execute("SELECT mac FROM consent_log WHERE chain_id = ? AND seq = ?",
                                       (chain_id, seq)).fetchone()[0]
                    purged += conn.execute("DELETE FROM consent_log WHERE chain_id = ? AND seq <= ?",
                                           (chain_id, seq)).rowcount
                    ts = now_iso()
                    conn.execute("INSERT OR REPLACE INTO consent_checkpoints VALUES (?, ?, ?, ?, ?)",
                                 (chain_id, seq, mac, ts, sign(chain_id, seq, mac, ts)))
                conn.execute("COMMIT")
                return purged
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return await self._write(tx)

    async def stats(self) -> dict[str, Any]:
        def q(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute("SELECT substr(ts, 1, 10), action, granted, device, browser, gpc, COUNT(*) "
                                "FROM consent_log GROUP BY 1, 2, 3, 4, 5, 6").fetchall()
            chains = conn.execute("SELECT COUNT(DISTINCT chain_id) FROM consent_log").fetchone()[0]
            return {"groups": [(d, a, json.loads(g), dev, b, bool(gpc), n) for d, a, g, dev, b, gpc, n in rows],
                    "chains": chains}

        return await self._read(q)

    async def add_inventory(self, rows: list[tuple[str, str, str, int]], limit: int = 500) -> None:
        ts = now_iso()

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")  # the bound counts rows other processes may be adding
            try:
                stored = conn.execute("SELECT DISTINCT name, label FROM cookie_inventory").fetchall()
                conn.executemany(
                    "INSERT INTO cookie_inventory VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, source) DO UPDATE "
                    "SET count = count + excluded.count, label = excluded.label, last_seen = excluded.last_seen",
                    [(name, label, source, n, ts) for name, label, source, n in fold_inventory(rows, stored, limit)])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._write(tx)

    async def inventory(self) -> list[tuple[str, str, str, int, str]]:
        return await self._read(lambda conn: [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT name, label, source, count, last_seen FROM cookie_inventory ORDER BY count DESC")])

    async def add_scopes(self, rows: list[tuple[str, str, str]]) -> None:
        ts = now_iso()

        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO cookie_scopes VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET path = excluded.path, domain = excluded.domain, updated = excluded.updated",
                [(name, path, domain, ts) for name, path, domain in rows])

        await self._write(tx)

    async def scopes(self) -> list[tuple[str, str, str]]:
        return await self._read(lambda conn: [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT name, path, domain FROM cookie_scopes ORDER BY updated DESC LIMIT ?", (MAX_SHARED_SCOPES,))])

    async def add_revocations(self, rows: list[tuple[str, int]]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO consent_revocations VALUES (?, ?, ?) ON CONFLICT (consent_id) DO UPDATE SET "
                "not_before = max(not_before, excluded.not_before), updated = excluded.updated",
                [(consent_id, nb, time.time()) for consent_id, nb in rows])

        await self._write(tx)

    async def revocations(self, since: float, min_not_before: int) -> tuple[list[tuple[str, int]], float]:
        def q(conn: sqlite3.Connection) -> tuple[list[tuple[str, int]], float]:
            now = time.time()
            rows = conn.execute("SELECT consent_id, not_before, updated FROM consent_revocations WHERE updated >= ? "
                                "AND not_before >= ? ORDER BY updated LIMIT ?",
                                (since, min_not_before, MAX_REVOCATION_ROWS)).fetchall()
            cursor = rows[-1][2] if len(rows) == MAX_REVOCATION_ROWS else now - REVOCATION_OVERLAP
            return [(str(r[0]), int(r[1])) for r in rows], max(since, cursor)

        return await self._read(q)
