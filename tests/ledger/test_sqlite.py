from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gateway.ledger import Decision
from gateway.ledger.sqlite import SQLiteLedger
from tests.conftest import config_text

KEY = "chain-key-for-tests-0123456789"


def decision(i: int, consent_id: str = "cid") -> Decision:
    return Decision(record_id=uuid.uuid4().hex, ts=f"2026-11-28T10:00:{i % 60:02d}.000Z", consent_id=consent_id,
                    action="save", granted=("identity",), denied=("personalization",), policy_version="2024-10",
                    locale="en", path="/p", ip_prefix="127.0.0.0/24", browser="Chrome", os="Linux",
                    device="desktop", is_bot=False, gpc=i % 2 == 0)


async def fill(path: Path, n: int, chain_id: str | None = None) -> SQLiteLedger:
    ledger = SQLiteLedger(path, KEY, chain_id=chain_id)
    await ledger.start()
    await asyncio.gather(*(ledger.append(decision(i, f"c{i % 3}")) for i in range(n)))
    await ledger.close()
    return ledger


def test_append_verify_history_export(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    ledger = asyncio.run(fill(db, 50))
    result = ledger.verify()
    assert result.ok and result.records == 50 and result.chains == 1
    history = asyncio.run(ledger.history("c1"))
    assert len(history) == 17 and all(r.decision.consent_id == "c1" for r in history)
    assert len(list(ledger.export(since="2026-11-28T10:00:10", until="2026-11-28T10:00:20"))) == 10


def test_restart_continues_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    asyncio.run(fill(db, 5, chain_id="a"))
    ledger = asyncio.run(fill(db, 5, chain_id="a"))
    asyncio.run(fill(db, 3, chain_id="b"))
    result = ledger.verify()
    assert result.ok and result.records == 13 and result.chains == 2


def test_group_commit_batches(tmp_path: Path) -> None:
    db = tmp_path / "log.db"

    async def run() -> int:
        ledger = SQLiteLedger(db, KEY, chain_id="x")
        await ledger.start()
        commits = 0
        original = ledger._commit

        def counting(conn, batch):  # type: ignore[no-untyped-def]
            nonlocal commits
            commits += 1
            original(conn, batch)

        ledger._commit = counting  # type: ignore[method-assign]
        await asyncio.gather(*(ledger.append(decision(i)) for i in range(500)))
        await ledger.close()
        return commits

    commits = asyncio.run(run())
    assert commits < 100  # 500 concurrent decisions shared far fewer transactions


@pytest.mark.parametrize("tamper,expected", [
    ("UPDATE consent_log SET granted = '[\"identity\", \"personalization\"]' WHERE seq = 3", "altered"),
    ("DELETE FROM consent_log WHERE seq = 3", "deleted or inserted"),
    ("UPDATE consent_log SET seq = seq + 100 WHERE seq >= 4; "
     "INSERT INTO consent_log SELECT 'forged', chain_id, 4, ts, consent_id, action, granted, denied, "
     "policy_version, locale, path, ip_prefix, browser, os, device, is_bot, gpc, prev_mac, mac "
     "FROM consent_log WHERE seq = 3; UPDATE consent_log SET seq = seq - 99 WHERE seq >= 104", "does not follow"),
    ("UPDATE consent_log SET mac = 'ab' || substr(mac, 3) WHERE seq = 5", "altered"),
])
def test_verify_catches_tampering(tmp_path: Path, tamper: str, expected: str) -> None:
    db = tmp_path / "log.db"
    ledger = asyncio.run(fill(db, 8, chain_id="main"))
    conn = sqlite3.connect(db)
    conn.executescript(tamper)
    conn.commit()
    conn.close()
    result = ledger.verify()
    assert not result.ok and expected in (result.problem or ""), result.problem


def test_wrong_key_fails_verify(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    asyncio.run(fill(db, 3))
    assert not SQLiteLedger(db, "another-chain-key-0123456789").verify().ok


def test_unwritable_log_reports_failure(tmp_path: Path) -> None:
    db = tmp_path / "log.db"

    async def run() -> bool:
        ledger = SQLiteLedger(db, KEY, chain_id="x")
        await ledger.start()
        await ledger.append(decision(1))
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE consent_log")
        conn.commit()
        conn.close()
        with pytest.raises(sqlite3.Error):
            await ledger.append(decision(2))
        healthy = ledger.healthy()
        await ledger.close()
        return healthy

    assert asyncio.run(run()) is False


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60)


def test_log_cli_export_verify_show(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    asyncio.run(fill(db, 6))
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text("http://127.0.0.1:1", db))
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 0 and "6 records" in r.stdout
    r = cli("log", "export", "--config", str(cfg), "--format", "jsonl")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 6 and '"chain_id"' in r.stdout
    r = cli("log", "export", "--config", str(cfg), "--format", "csv")
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith("record_id,ts,consent_id")
    assert len(r.stdout.splitlines()) == 7
    r = cli("log", "show", "c0", "--config", str(cfg))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    conn = sqlite3.connect(db)
    conn.execute("UPDATE consent_log SET action = 'accept_all' WHERE seq = 2")
    conn.commit()
    conn.close()
    r = cli("log", "verify", "--config", str(cfg))
    assert r.returncode == 1 and "seq 2" in r.stderr and "altered" in r.stderr
