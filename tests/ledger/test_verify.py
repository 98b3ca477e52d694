"""verify_store: the chains walked in keyset pages give the same answers as the whole-log check."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from gateway.config import LogSettings
from gateway.ledger import RecordStore, VerifyResult, open_store
from gateway.ledger.chain import derive_key, sign_checkpoint, verify_chains, write_head
from gateway.ledger.verify import verify_store
from tests.ledger.conftest import CHAIN_KEY, Tamper
from tests.ledger.seed import sealed

T = TypeVar("T")
KEY = derive_key(CHAIN_KEY)
RECORDS = list(sealed(23, chains=3))  # chains of 8, 8 and 7: pages of 5 end mid-chain and on a chain's end


def run_with(settings: LogSettings, fn: Callable[[RecordStore], Awaitable[T]]) -> T:
    async def go() -> T:
        store = open_store(settings)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())


def seed(settings: LogSettings) -> None:
    run_with(settings, lambda store: store.insert(RECORDS))


def walk(settings: LogSettings, heads: Path | None = None, page: int = 5) -> tuple[VerifyResult, list[int]]:
    pages: list[int] = []

    async def verify(store: RecordStore) -> VerifyResult:
        return await verify_store(store, KEY, heads, page=page, progress=pages.append)

    return run_with(settings, verify), pages


def test_pages_cover_every_record_once(log_settings: LogSettings) -> None:
    seed(log_settings)
    result, pages = walk(log_settings)
    assert result == VerifyResult(True, 23, 3) == verify_chains(KEY, RECORDS)
    assert pages == [5, 5, 5, 5, 3]
    assert walk(log_settings, page=23)[1] == [23, 0]  # a full last page: one more, empty, query ends the walk
    assert walk(log_settings, page=1000)[0] == result
    assert run_with(log_settings, lambda s: s.count()) == 23


def test_the_first_bad_record_is_named_across_pages(log_settings: LogSettings, tamper: Tamper) -> None:
    seed(log_settings)
    changed = RECORDS[12]  # chain host-1, seq 5: the 13th record, in the third page of five
    tamper(f"UPDATE consent_log SET path = '/other' WHERE record_id = '{changed.decision.record_id}'")
    result, pages = walk(log_settings)
    assert not result.ok and result.records == 13 and pages == [5, 5]
    assert result.problem == (f"chain 'host-1' seq 5 (record {changed.decision.record_id}): "
                              "content does not match its MAC (altered)")
    tamper(f"DELETE FROM consent_log WHERE record_id = '{RECORDS[3].decision.record_id}'")
    assert "host-0' seq 5" in (walk(log_settings)[0].problem or "")  # seq 4 deleted: 5 comes where 4 was due


def test_empty_log_and_forged_checkpoint(log_settings: LogSettings, tamper: Tamper) -> None:
    assert walk(log_settings)[0] == VerifyResult(True, 0, 0)
    seed(log_settings)
    tamper("INSERT INTO consent_checkpoints VALUES ('host-0', 2, 'x', '2026-01-01T00:00:00.000Z', 'nope')")
    result, pages = walk(log_settings)
    assert result == VerifyResult(False, 0, 0, "checkpoint of chain 'host-0' at seq 2 is forged") and pages == []


def test_head_files_are_checked_in_the_same_pass(log_settings: LogSettings, tamper: Tamper, tmp_path: Path) -> None:
    seed(log_settings)
    heads = tmp_path / "heads"
    heads.mkdir()
    last = RECORDS[15]  # host-1's last record, seq 8
    write_head(KEY, heads, "host-1", last.seq, last.mac)
    assert walk(log_settings, heads)[0].ok
    tamper("DELETE FROM consent_log WHERE chain_id = 'host-1' AND seq >= 7")  # every remaining MAC still valid
    result = walk(log_settings, heads)[0]
    assert result == VerifyResult(False, 21, 3, "chain 'host-1' ends at seq 6 but this host recorded seq 8: "
                                               "records were cut off the end of the chain")
    assert walk(log_settings)[0].ok  # without the witness the cut is invisible


def test_checkpoints_and_records_come_from_one_snapshot(log_settings: LogSettings) -> None:
    """A purge between two pages (a timer running during a long verify) must not split the walk's
    view: the later pages still show the records the first page's checkpoints go with."""
    seed(log_settings)

    async def purge_mid_walk(store: RecordStore) -> VerifyResult:
        pages = store.chain_pages(5)
        checkpoints, first = await anext(pages)
        assert checkpoints == [] and len(first) == 5

        def sign(chain_id: str, seq: int, mac: str, ts: str) -> str:
            return sign_checkpoint(KEY, chain_id, seq, mac, ts)

        other = open_store(log_settings)
        await other.open()
        assert await other.purge("2026-12-31", sign) == 23  # everything, with signed checkpoints
        await other.close()
        rest = [r for _, page in [(c, p) async for c, p in pages] for r in page]
        return verify_chains(KEY, first + rest, checkpoints)

    assert run_with(log_settings, purge_mid_walk) == VerifyResult(True, 23, 3)
    assert walk(log_settings)[0] == VerifyResult(True, 0, 0)  # a fresh walk sees the purge


def test_sqlite_verify_uses_the_chain_index(tmp_path: Path) -> None:
    from gateway.ledger.sqlite import SCHEMA

    conn = sqlite3.connect(tmp_path / "x.db")
    conn.executescript(SCHEMA)
    plan = " ".join(str(row) for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM consent_log WHERE (chain_id, seq) > ('a', 1) ORDER BY chain_id, seq LIMIT 5"))
    assert "USING INDEX" in plan and "TEMP B-TREE" not in plan  # a keyset page, not a sort of the log
