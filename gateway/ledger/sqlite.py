"""SQLite (WAL) backend: the embedded default.

One writer thread takes every decision waiting in its queue and commits them in one transaction
(group commit): with synchronous=FULL each commit is one fsync, so concurrent decisions share it.
A decision's future resolves only after its commit returned: acknowledged means durable.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.ledger import Decision, Record, VerifyResult
from gateway.ledger.chain import GENESIS, derive_key, seal, verify_chains

SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_log (
    record_id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    action TEXT NOT NULL,
    granted TEXT NOT NULL,
    denied TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    locale TEXT NOT NULL,
    path TEXT NOT NULL,
    ip_prefix TEXT NOT NULL,
    browser TEXT NOT NULL,
    os TEXT NOT NULL,
    device TEXT NOT NULL,
    is_bot INTEGER NOT NULL,
    gpc INTEGER NOT NULL,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL,
    UNIQUE (chain_id, seq)
);
CREATE INDEX IF NOT EXISTS consent_log_consent_id ON consent_log (consent_id);
CREATE INDEX IF NOT EXISTS consent_log_ts ON consent_log (ts);
"""
COLUMNS = ("record_id", "chain_id", "seq", "ts", "consent_id", "action", "granted", "denied",
           "policy_version", "locale", "path", "ip_prefix", "browser", "os", "device", "is_bot", "gpc",
           "prev_mac", "mac")
# Built from the constant column list above, never from input.
INSERT = f"INSERT INTO consent_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
SELECT = f"SELECT {', '.join(COLUMNS)} FROM consent_log"  # noqa: S608
MAX_BATCH = 1024


def sqlite_path(url: str) -> Path:
    # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them
    return Path(url[len("sqlite:///"):])


def row_to_record(row: tuple[Any, ...]) -> Record:
    d = dict(zip(COLUMNS, row, strict=True))
    decision = Decision(
        record_id=d["record_id"], ts=d["ts"], consent_id=d["consent_id"], action=d["action"],
        granted=tuple(json.loads(d["granted"])), denied=tuple(json.loads(d["denied"])),
        policy_version=d["policy_version"], locale=d["locale"], path=d["path"], ip_prefix=d["ip_prefix"],
        browser=d["browser"], os=d["os"], device=d["device"], is_bot=bool(d["is_bot"]), gpc=bool(d["gpc"]),
    )
    return Record(decision, d["chain_id"], int(d["seq"]), d["prev_mac"], d["mac"])


def record_to_row(r: Record) -> tuple[Any, ...]:
    d = r.decision
    return (d.record_id, r.chain_id, r.seq, d.ts, d.consent_id, d.action, json.dumps(list(d.granted)),
            json.dumps(list(d.denied)), d.policy_version, d.locale, d.path, d.ip_prefix, d.browser, d.os,
            d.device, int(d.is_bot), int(d.gpc), r.prev_mac, r.mac)


def claim_chain(lock_dir: Path, instance_id: str) -> tuple[str, int]:
    """A chain id no other live process on this host uses, stable across restarts.

    Each worker process keeps its own chain (no shared chain head to serialise on); slots are
    claimed with flock, so a restarted worker continues a chain instead of starting a new one.
    """
    base = instance_id or socket.gethostname()
    lock_dir.mkdir(parents=True, exist_ok=True)
    for slot in range(1024):
        fd = os.open(lock_dir / f".chain-{base}-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return f"{base}-{slot}", fd
    raise RuntimeError("no free chain slot")


class SQLiteLedger:
    def __init__(self, path: Path, chain_key: str, *, chain_id: str | None = None,
                 instance_id: str = "") -> None:
        self.path = path
        self._key = derive_key(chain_key)
        self._chain_id = chain_id
        self._instance_id = instance_id
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[tuple[Decision, asyncio.Future[Record], asyncio.AbstractEventLoop] | None]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._head = GENESIS
        self._ok = True
        self.appended = 0

    @property
    def chain_id(self) -> str:
        assert self._chain_id is not None
        return self._chain_id

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._chain_id is None:
            self._chain_id, self._lock_fd = claim_chain(self.path.parent, self._instance_id)
        conn = self._connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT seq, mac FROM consent_log WHERE chain_id = ? ORDER BY seq DESC LIMIT 1",
                           (self._chain_id,)).fetchone()
        if row:
            self._seq, self._head = int(row[0]), str(row[1])
        conn.execute("PRAGMA synchronous = FULL")
        self._thread = threading.Thread(target=self._writer, args=(conn,), name="ledger-writer", daemon=True)
        self._thread.start()

    async def append(self, decision: Decision) -> Record:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Record] = loop.create_future()
        self._queue.put((decision, fut, loop))
        return await fut

    def _writer(self, conn: sqlite3.Connection) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(conn, batch)
            if stop:
                break
        conn.close()

    def _commit(self, conn: sqlite3.Connection,
                batch: list[tuple[Decision, asyncio.Future[Record], asyncio.AbstractEventLoop]]) -> None:
        seq, head = self._seq, self._head
        records = []
        for decision, _, _ in batch:
            seq += 1
            record = seal(self._key, decision, self.chain_id, seq, head)
            head = record.mac
            records.append(record)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, [record_to_row(r) for r in records])
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._ok = False
            for _, fut, loop in batch:
                loop.call_soon_threadsafe(_fail, fut, e)
            return
        self._ok = True
        self._seq, self._head = seq, head
        self.appended += len(records)
        for (_, fut, loop), record in zip(batch, records, strict=True):
            loop.call_soon_threadsafe(_resolve, fut, record)

    async def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def healthy(self) -> bool:
        return self._ok and self._thread is not None and self._thread.is_alive()

    async def history(self, consent_id: str) -> list[Record]:
        def read() -> list[Record]:
            conn = self._connect()
            try:
                rows = conn.execute(SELECT + " WHERE consent_id = ? ORDER BY ts, chain_id, seq", (consent_id,))
                return [row_to_record(r) for r in rows]
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    def export(self, since: str | None = None, until: str | None = None) -> Iterator[Record]:
        conn = self._connect()
        try:
            sql, args = SELECT + " WHERE 1=1", list[str]()
            if since:
                sql, args = sql + " AND ts >= ?", [*args, since]
            if until:
                sql, args = sql + " AND ts < ?", [*args, until]
            for row in conn.execute(sql + " ORDER BY ts, chain_id, seq", args):
                yield row_to_record(row)
        finally:
            conn.close()

    def verify(self) -> VerifyResult:
        conn = self._connect()
        try:
            rows = conn.execute(SELECT + " ORDER BY chain_id, seq")
            return verify_chains(self._key, (row_to_record(r) for r in rows))
        finally:
            conn.close()


def _resolve(fut: asyncio.Future[Record], record: Record) -> None:
    if not fut.done():
        fut.set_result(record)


def _fail(fut: asyncio.Future[Record], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
