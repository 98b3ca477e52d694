"""The consent log: every decision, durable before it is acknowledged, chained so edits show.

`Ledger` is what the gateway talks to. It seals each decision into this instance's HMAC chain,
commits concurrent decisions together (group commit), and, when the database cannot be reached,
writes them to a local fsynced spool and acknowledges them; a replay task moves them into the
database in order, exactly once (record ids are unique, inserts idempotent). The stores only keep
sealed records: `sqlite.py` (embedded, WAL) and `postgres.py` (shared by many instances).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.config import LogSettings

if TYPE_CHECKING:
    from gateway.ledger.headfile import HeadFile

log = logging.getLogger("consent_gateway.ledger")

MAX_BATCH = 1024
REPLAY_INTERVAL = 1.0


@dataclass(frozen=True)
class Decision:
    """What the visitor decided, as the gateway logs it. No full IP, no secrets, no query string."""

    record_id: str  # random; makes replay idempotent
    ts: str  # UTC ISO 8601
    consent_id: str
    action: str
    granted: tuple[str, ...]
    denied: tuple[str, ...]
    policy_version: str
    locale: str
    path: str
    ip_prefix: str
    browser: str
    os: str
    device: str
    is_bot: bool
    gpc: bool


@dataclass(frozen=True)
class Record:
    decision: Decision
    chain_id: str
    seq: int
    prev_mac: str
    mac: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self.decision)
        d["granted"] = list(self.decision.granted)
        d["denied"] = list(self.decision.denied)
        d.update(chain_id=self.chain_id, seq=self.seq, prev_mac=self.prev_mac, mac=self.mac)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        fields = {k: d[k] for k in Decision.__dataclass_fields__}
        fields["granted"] = tuple(fields["granted"])
        fields["denied"] = tuple(fields["denied"])
        return cls(Decision(**fields), d["chain_id"], int(d["seq"]), d["prev_mac"], d["mac"])


@dataclass(frozen=True)
class Checkpoint:
    """Records of a chain up to `seq` were purged (retention); `mac` was the last one's MAC."""

    chain_id: str
    seq: int
    mac: str
    ts: str
    signature: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    chains: int
    problem: str | None = None  # the first bad record, described


class RecordStore(Protocol):
    """Where sealed records live. Inserts are idempotent on record_id."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def head(self, chain_id: str) -> tuple[int, str] | None: ...
    async def insert(self, records: list[Record]) -> None: ...
    async def history(self, consent_id: str) -> list[Record]: ...
    async def export(self, since: str | None, until: str | None) -> list[Record]: ...
    async def export_page(self, since: str | None, until: str | None, after: tuple[str, str, int] | None,
                          limit: int | None) -> list[Record]: ...
    async def count_before(self, before: str) -> int: ...
    async def all_by_chain(self) -> list[Record]: ...
    async def checkpoints(self) -> list[Checkpoint]: ...
    async def purge(self, before: str, sign: Any) -> int: ...
    async def stats(self) -> dict[str, Any]: ...
    async def add_inventory(self, rows: list[tuple[str, str, str, int]], limit: int = 500) -> None: ...
    async def inventory(self) -> list[tuple[str, str, str, int, str]]: ...
    async def add_scopes(self, rows: list[tuple[str, str, str]]) -> None: ...
    async def scopes(self) -> list[tuple[str, str, str]]: ...
    async def add_revocations(self, rows: list[tuple[str, int]]) -> None: ...
    async def revocations(self, since: float, min_not_before: int) -> tuple[list[tuple[str, int]], float]: ...


def open_store(settings: LogSettings) -> RecordStore:
    if settings.url.startswith("sqlite:"):
        from gateway.ledger.sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(settings.url))
    from gateway.ledger.postgres import PostgresStore

    return PostgresStore(settings.url)


def spool_dir(settings: LogSettings) -> Path:
    if settings.spool_dir:
        return Path(settings.spool_dir)
    if settings.url.startswith("sqlite:"):
        from gateway.ledger.sqlite import sqlite_path

        return sqlite_path(settings.url).parent
    return Path("/var/lib/consent-gateway")


class Ledger:
    def __init__(self, settings: LogSettings, store: RecordStore | None = None, *,
                 chain_id: str | None = None) -> None:
        from gateway.ledger.chain import GENESIS, derive_key

        self.settings = settings
        self.store = store or open_store(settings)
        self.key = derive_key(settings.chain_key)
        self._chain_id = chain_id
        self._lock_fd: int | None = None
        self._seq = 0
        self._head = GENESIS
        self._queue: asyncio.Queue[tuple[Decision, asyncio.Future[Record]]] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self.spool: Any = None
        self.heads: HeadFile | None = None
        self.store_ok = True
        self.commits = 0

    @property
    def chain_id(self) -> str:
        assert self._chain_id is not None
        return self._chain_id

    @property
    def backlog(self) -> int:
        return self.spool.count if self.spool is not None else 0

    async def start(self) -> None:
        from gateway.ledger.headfile import HeadFile
        from gateway.ledger.spool import Spool

        directory = spool_dir(self.settings)
        directory.mkdir(parents=True, exist_ok=True)
        if self._chain_id is None:
            self._chain_id, self._lock_fd = claim_chain(directory, self.settings.instance_id)
        self.spool = Spool(directory / f"spool-{self._chain_id}.jsonl")
        self.heads = HeadFile(self.key, directory, self._chain_id)
        try:
            await self.store.open()
            head = await self.store.head(self.chain_id)
        except Exception as e:  # noqa: BLE001 - the database may be down at start: run on the spool
            log.warning("consent log store unavailable at start (%s); decisions go to the spool", type(e).__name__)
            self.store_ok = False
            head = None
        if head:
            self._seq, self._head = head
        last = self.spool.last()
        if last is not None and last.seq > self._seq:
            self._seq, self._head = last.seq, last.mac
        self._queue = asyncio.Queue()
        self._committer = asyncio.create_task(self._commit_loop())
        self._replayer = asyncio.create_task(self._replay_loop())

    async def append(self, decision: Decision) -> Record:
        """Returns once the decision is durable: committed to the store, or fsynced to the spool."""
        assert self._queue is not None, "ledger not started"
        fut: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((decision, fut))
        return await fut

    async def _commit_loop(self) -> None:
        from gateway.ledger.chain import seal

        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            limit = MAX_BATCH if self.settings.group_commit else 1
            while len(batch) < limit and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            records = []
            seq, head = self._seq, self._head
            for decision, _ in batch:
                seq += 1
                record = seal(self.key, decision, self.chain_id, seq, head)
                head = record.mac
                records.append(record)
            try:
                stored = await self._persist(records)
            except Exception as e:  # noqa: BLE001 - nothing durable: tell every waiter
                log.error("consent decisions could not be made durable: %s", e)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self._seq, self._head = seq, head
            self.commits += 1
            if stored:  # a spooled record is not in the log yet: the witness waits for the replay
                self._record_head(seq, head)
            for (_, fut), record in zip(batch, records, strict=True):
                if not fut.done():
                    fut.set_result(record)

    def _record_head(self, seq: int, mac: str) -> None:
        """The witness of how far the chain reached, written by another thread (see headfile)."""
        assert self.heads is not None
        self.heads.put(seq, mac)

    async def _persist(self, records: list[Record]) -> bool:
        """True when the records are in the store, False when they wait in the spool."""
        if self.spool.count == 0:  # keep order: while anything waits in the spool, append behind it
            try:
                await self.store.insert(records)
                self.store_ok = True
                return True
            except Exception as e:  # noqa: BLE001 - any store failure: fall back to the spool
                if self.store_ok:
                    log.warning("consent log store failed (%s: %s); spooling", type(e).__name__, e)
                self.store_ok = False
        await asyncio.to_thread(self.spool.append, records)
        return False

    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(REPLAY_INTERVAL)
            if self.spool.count:
                await self.replay()

    async def replay(self) -> int:
        """Move spooled records into the store, in order. Idempotent: a crash mid-way repeats safely."""
        records = await asyncio.to_thread(self.spool.read)
        if not records:
            return 0
        try:
            if not self.store_ok:
                await self.store.open()
            for i in range(0, len(records), MAX_BATCH):
                await self.store.insert(records[i:i + MAX_BATCH])
        except Exception as e:  # noqa: BLE001 - still down; try again later
            log.info("consent log store still unavailable: %s", type(e).__name__)
            self.store_ok = False
            return 0
        await asyncio.to_thread(self.spool.remove_first, len(records))
        mine = [r for r in records if r.chain_id == self.chain_id]
        if mine:
            self._record_head(mine[-1].seq, mine[-1].mac)
        self.store_ok = True
        log.info("replayed %d spooled consent decisions", len(records))
        return len(records)

    async def close(self) -> None:
        """Drain: every queued decision is committed or spooled before this returns."""
        if self._queue is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.01)
        for task in (self._committer, self._replayer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.spool is not None and self.spool.count and self.store_ok:
            await self.replay()
        if self.heads is not None:
            await asyncio.to_thread(self.heads.close)  # the newest head is on disk before we return
        await self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def healthy(self) -> bool:
        """Decisions are being made durable (in the store or, degraded, in the spool)."""
        return self._committer is not None and not self._committer.done()

    async def history(self, consent_id: str) -> list[Record]:
        try:
            stored = await self.store.history(consent_id) if self.store_ok else []
        except Exception as e:  # noqa: BLE001 - the receipt still shows what the spool holds
            log.info("consent log unavailable for a history read: %s", type(e).__name__)
            stored = []
        seen = {r.decision.record_id for r in stored}
        spooled = [r for r in await asyncio.to_thread(self.spool.read)
                   if r.decision.consent_id == consent_id and r.decision.record_id not in seen]
        return sorted(stored + spooled, key=lambda r: (r.decision.ts, r.chain_id, r.seq))

    async def verify(self, heads: Path | None = None) -> VerifyResult:
        from gateway.ledger.chain import check_heads, verify_chains

        records = await self.store.all_by_chain()
        checkpoints = await self.store.checkpoints()
        result = verify_chains(self.key, records, checkpoints)
        if result.ok and heads is not None and heads.is_dir():
            problem = check_heads(self.key, heads, records, checkpoints)
            if problem:
                return VerifyResult(False, result.records, result.chains, problem)
        return result


def claim_chain(lock_dir: Path, instance_id: str) -> tuple[str, int]:
    """A chain id no other live process on this host uses, stable across restarts.

    Each worker process keeps its own chain (no shared chain head to serialise on); slots are
    claimed with flock, so a restarted worker continues its chain instead of starting another.
    """
    import fcntl

    base = instance_id or socket.gethostname()
    for slot in range(1024):
        fd = os.open(lock_dir / f".chain-{base}-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return f"{base}-{slot}", fd
    raise RuntimeError("no free chain slot")

