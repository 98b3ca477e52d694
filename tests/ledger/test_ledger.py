"""The same log suite against both stores: SQLite, and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import LogSettings
from gateway.ledger import Ledger
from gateway.ledger.chain import derive_key, sign_checkpoint
from tests.ledger.conftest import Tamper, decision


async def fill(settings: LogSettings, n: int, chain_id: str | None = None, consent_ids: int = 3) -> Ledger:
    ledger = Ledger(settings, chain_id=chain_id)
    await ledger.start()
    await asyncio.gather(*(ledger.append(decision(i, f"c{i % consent_ids}")) for i in range(n)))
    await ledger.close()
    return ledger


async def verify(settings: LogSettings) -> object:
    ledger = Ledger(settings, chain_id="reader")
    await ledger.store.open()
    try:
        return await ledger.verify()
    finally:
        await ledger.store.close()


def test_append_verify_history_export(log_settings: LogSettings) -> None:
    async def run() -> None:
        ledger = await fill(log_settings, 50)
        await ledger.store.open()
        result = await ledger.verify()
        assert result.ok and result.records == 50 and result.chains == 1
        history = await ledger.store.history("c1")
        assert len(history) == 17 and all(r.decision.consent_id == "c1" for r in history)
        window = await ledger.store.export("2026-11-28T10:00:10", "2026-11-28T10:00:20")
        assert len(window) == 10
        await ledger.store.close()

    asyncio.run(run())


def test_restart_continues_the_chain_and_instances_keep_their_own(log_settings: LogSettings) -> None:
    async def run() -> None:
        await fill(log_settings, 5, chain_id="a")
        await fill(log_settings, 5, chain_id="a")
        await fill(log_settings, 3, chain_id="b")
        result = await verify(log_settings)
        assert result.ok and result.records == 13 and result.chains == 2  # type: ignore[attr-defined]

    asyncio.run(run())


def test_chain_slots_are_claimed_per_process(log_settings: LogSettings) -> None:
    async def run() -> tuple[str, str]:
        a, b = Ledger(log_settings), Ledger(log_settings)
        await a.start()
        await b.start()
        ids = (a.chain_id, b.chain_id)
        await a.close()
        await b.close()
        return ids

    a, b = asyncio.run(run())
    assert a == "t-0" and b == "t-1"


def test_group_commit(log_settings: LogSettings) -> None:
    async def run() -> int:
        ledger = Ledger(log_settings, chain_id="g")
        await ledger.start()
        await asyncio.gather(*(ledger.append(decision(i)) for i in range(1000)))
        commits = ledger.commits
        await ledger.close()
        return commits

    commits = asyncio.run(run())
    assert commits < 100, commits  # 1000 concurrent decisions shared far fewer transactions


@pytest.mark.parametrize("sql,expected", [
    ("UPDATE consent_log SET granted = '[\"identity\", \"personalization\"]' WHERE seq = 3", "altered"),
    ("DELETE FROM consent_log WHERE seq = 3", "deleted or inserted"),
    ("UPDATE consent_log SET seq = seq + 100 WHERE seq >= 4; "
     "INSERT INTO consent_log SELECT 'forged', chain_id, 4, ts, consent_id, action, granted, denied, "
     "policy_version, locale, path, ip_prefix, browser, os, device, is_bot, gpc, prev_mac, mac "
     "FROM consent_log WHERE seq = 3; UPDATE consent_log SET seq = seq - 99 WHERE seq >= 104", "does not follow"),
    ("UPDATE consent_log SET mac = 'ab' || substr(mac, 3) WHERE seq = 5", "altered"),
])
def test_verify_catches_tampering(log_settings: LogSettings, tamper: Tamper, sql: str, expected: str) -> None:
    asyncio.run(fill(log_settings, 8, chain_id="main"))
    tamper(sql)
    result = asyncio.run(verify(log_settings))
    assert not result.ok and expected in (result.problem or ""), result.problem  # type: ignore[attr-defined]


def test_wrong_key_fails(log_settings: LogSettings) -> None:
    asyncio.run(fill(log_settings, 3))
    result = asyncio.run(verify(replace(log_settings, chain_key="another-chain-key-0123456789")))
    assert not result.ok  # type: ignore[attr-defined]


def test_purge_leaves_a_verifiable_chain(log_settings: LogSettings, tamper: Tamper) -> None:
    async def run() -> int:
        ledger = Ledger(log_settings, chain_id="p")
        await ledger.start()
        for i in range(10):
            await ledger.append(decision(i, ts=f"2020-01-01T00:00:{i:02d}.000Z"))
        for i in range(5):
            await ledger.append(decision(i, ts=f"2026-11-28T00:00:{i:02d}.000Z"))
        key = derive_key(log_settings.chain_key)
        purged = await ledger.store.purge("2025-01-01", lambda c, s, m, t: sign_checkpoint(key, c, s, m, t))
        await ledger.append(decision(99, ts="2026-11-28T01:00:00.000Z"))  # the chain goes on
        await ledger.close()
        return purged

    assert asyncio.run(run()) == 10
    result = asyncio.run(verify(log_settings))
    assert result.ok and result.records == 6  # type: ignore[attr-defined]
    tamper("UPDATE consent_checkpoints SET seq = 9")
    result = asyncio.run(verify(log_settings))
    assert not result.ok and "forged" in result.problem  # type: ignore[attr-defined]


def test_insert_is_idempotent(log_settings: LogSettings) -> None:
    async def run() -> int:
        ledger = Ledger(log_settings, chain_id="i")
        await ledger.start()
        records = [await ledger.append(decision(i)) for i in range(5)]
        await ledger.store.insert(records)  # a replay that repeats: nothing doubles
        await ledger.store.insert(records[2:])
        n = await ledger.store.count()
        await ledger.close()
        return n

    assert asyncio.run(run()) == 5


def test_inventory(log_settings: LogSettings) -> None:
    async def run() -> list[tuple[str, str, str, int, str]]:
        ledger = Ledger(log_settings, chain_id="inv")
        await ledger.start()
        await ledger.store.add_inventory([("_ga", "personalization", "request", 3), ("zz", "unknown", "set-cookie", 1)])
        await ledger.store.add_inventory([("_ga", "personalization", "request", 2)])
        rows = await ledger.store.inventory()
        await ledger.close()
        return rows

    rows = asyncio.run(run())
    assert [(r[0], r[3]) for r in rows] == [("_ga", 5), ("zz", 1)]


def test_inventory_keeps_a_bounded_number_of_names_per_label(log_settings: LogSettings) -> None:
    async def run() -> list[tuple[str, str, str, int, str]]:
        ledger = Ledger(log_settings, chain_id="invbound")
        await ledger.start()
        await ledger.store.add_inventory([(f"a{i}", "unknown", "request", 1) for i in range(3)], 4)
        more = [(f"b{i}", "unknown", "request", 2) for i in range(5)]
        await ledger.store.add_inventory(more + [("_ga", "personalization", "request", 1),
                                                 ("a0", "unknown", "request", 1)], 4)
        rows = await ledger.store.inventory()
        await ledger.close()
        return rows

    rows = {(r[0], r[1]): r[3] for r in asyncio.run(run())}
    assert rows == {("a0", "unknown"): 2, ("a1", "unknown"): 1, ("a2", "unknown"): 1, ("b0", "unknown"): 2,
                    ("(other)", "unknown"): 8, ("_ga", "personalization"): 1}


def test_shared_revocations(log_settings: LogSettings) -> None:
    async def run() -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]:
        ledger = Ledger(log_settings, chain_id="revoke")
        await ledger.start()
        await ledger.store.add_revocations([("c1", 1000), ("c2", 2000), ("old", 10)])
        await ledger.store.add_revocations([("c1", 900)])  # never moves back
        first, cursor = await ledger.store.revocations(0.0, 100)
        again, cursor = await ledger.store.revocations(cursor, 100)  # within the overlap: seen again
        await ledger.store.add_revocations([("c2", 2500)])
        later, _ = await ledger.store.revocations(cursor, 100)
        await ledger.close()
        return first, again, later

    first, again, later = asyncio.run(run())
    assert sorted(first) == [("c1", 1000), ("c2", 2000)]  # "old" has expired anyway
    assert sorted(again) == sorted(first) and ("c2", 2500) in later


def test_shared_cookie_scopes(log_settings: LogSettings) -> None:
    async def run() -> list[tuple[str, str, str]]:
        ledger = Ledger(log_settings, chain_id="scopes")
        await ledger.start()
        await ledger.store.add_scopes([("_ga", "/shop", "example.com"), ("sid", "/", "")])
        await ledger.store.add_scopes([("_ga", "/", "example.com")])  # the newest scope wins
        rows = await ledger.store.scopes()
        await ledger.close()
        return rows

    assert sorted(asyncio.run(run())) == [("_ga", "/", "example.com"), ("sid", "/", "")]


def test_spool_when_store_is_down_at_start_then_replay(backend: str, log_settings: LogSettings,
                                                       tmp_path: Path) -> None:
    broken = replace(log_settings, url="postgresql://postgres@127.0.0.1:1/none" if backend == "postgres"
                     else f"sqlite:///{tmp_path}/no-such-dir/\0bad.db")

    async def run() -> tuple[int, int]:
        ledger = Ledger(broken, chain_id="s")
        await ledger.start()
        for i in range(7):
            await ledger.append(decision(i))  # acknowledged: fsynced in the spool
        backlog = ledger.backlog
        await ledger.close()
        # the database is back: the next start replays in order, exactly once
        healed = Ledger(log_settings, chain_id="s")
        await healed.start()
        await healed.replay()
        await healed.append(decision(7))
        remaining = healed.backlog
        await healed.close()
        return backlog, remaining

    backlog, remaining = asyncio.run(run())
    assert backlog == 7 and remaining == 0
    result = asyncio.run(verify(log_settings))
    assert result.ok and result.records == 8  # type: ignore[attr-defined]


def test_cutting_the_end_of_a_chain_is_caught_by_the_head_file(log_settings: LogSettings, tamper: Tamper) -> None:
    asyncio.run(fill(log_settings, 8, chain_id="main"))
    heads = Path(log_settings.spool_dir)
    assert (heads / "head-main.json").exists()

    async def check() -> object:
        ledger = Ledger(log_settings, chain_id="reader")
        await ledger.store.open()
        try:
            return await ledger.verify(heads)
        finally:
            await ledger.store.close()

    assert asyncio.run(check()).ok  # type: ignore[attr-defined]
    tamper("DELETE FROM consent_log WHERE seq >= 7")  # no gap, every MAC still valid
    assert asyncio.run(verify(log_settings)).ok  # type: ignore[attr-defined]  # the chain alone cannot tell
    result = asyncio.run(check())
    assert not result.ok and "cut off the end" in result.problem  # type: ignore[attr-defined]
    (heads / "head-main.json").write_text('{"chain_id": "main", "seq": 6, "mac": "00", "sig": "00"}')
    assert "signature is wrong" in asyncio.run(check()).problem  # type: ignore[attr-defined]
