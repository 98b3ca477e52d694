"""The head file written off the event loop: coalesced, the newest head last, on disk at close."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path

import pytest

from gateway.config import LogSettings
from gateway.ledger import Ledger
from gateway.ledger import headfile as module
from gateway.ledger.chain import GENESIS, check_heads, derive_key, write_head
from gateway.ledger.headfile import HeadFile
from tests.ledger.conftest import decision

KEY = derive_key("head-file-test")


def read(path: Path) -> tuple[int, str]:
    head = json.loads(path.read_text())
    return head["seq"], head["mac"]


def test_heads_put_during_a_write_fold_into_one_write_of_the_newest(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_write(*args: object) -> None:
        entered.set()
        assert release.wait(10)
        write_head(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "write_head", slow_write)
    heads = HeadFile(KEY, tmp_path, "a")
    heads.put(1, "1" * 64)
    assert entered.wait(10)  # the first write runs (and waits) ...
    for seq in (2, 3, 4):  # ... while three more commits come
        heads.put(seq, str(seq) * 64)
    release.set()
    heads.close()
    assert read(tmp_path / "head-a.json") == (4, "4" * 64)
    assert heads.writes == 2  # seq 1, then only the newest of 2, 3, 4


def test_a_failed_write_is_logged_and_the_next_head_still_written(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "gone"
    heads = HeadFile(KEY, missing, "a")
    with caplog.at_level(logging.WARNING, logger="consent_gateway.ledger"):
        heads.put(1, "1" * 64)
        heads._writer.submit(lambda: None).result(10)  # the failed write is over
    assert "could not write the chain head file" in caplog.text
    missing.mkdir()
    heads.put(2, "2" * 64)
    heads.close()
    assert read(missing / "head-a.json") == (2, "2" * 64)


def test_a_closed_ledger_leaves_the_head_of_its_last_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_write(*args: object) -> None:  # a slow disk: close must still wait for the newest head
        time.sleep(0.05)
        write_head(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "write_head", slow_write)
    settings = LogSettings(url=f"sqlite:///{tmp_path}/log.db", chain_key="k", instance_id="t",
                           spool_dir=str(tmp_path / "spool"))

    async def run() -> tuple[int, str]:
        ledger = Ledger(settings, chain_id="main")
        await ledger.start()
        await asyncio.gather(*(ledger.append(decision(i)) for i in range(300)))
        last = await ledger.append(decision(300))
        await ledger.close()
        return last.seq, last.mac

    seq, mac = asyncio.run(run())
    assert seq == 301 and mac != GENESIS
    assert read(tmp_path / "spool" / "head-main.json") == (seq, mac)
    # a real, signed head: the log it is checked against (here: none) must reach seq 301
    problem = check_heads(derive_key("k"), tmp_path / "spool", []) or ""
    assert "ends at seq 0 but this host recorded seq 301" in problem
