from __future__ import annotations

from pathlib import Path

from gateway.ledger.chain import GENESIS, derive_key, seal
from gateway.ledger.spool import Spool
from tests.ledger.conftest import decision

KEY = derive_key("k" * 20)


def records(n: int) -> list:  # type: ignore[type-arg]
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        r = seal(KEY, decision(i), "s", i, prev)
        prev = r.mac
        out.append(r)
    return out


def test_append_read_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    rs = records(5)
    spool.append(rs[:3])
    spool.append(rs[3:])
    assert spool.count == 5 and spool.read() == rs and spool.last() == rs[-1]
    spool.remove_first(2)
    assert spool.read() == rs[2:] and Spool(tmp_path / "s.jsonl").count == 3


def test_torn_and_garbage_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    spool = Spool(path)
    rs = records(2)
    spool.append(rs)
    with path.open("ab") as f:
        f.write(b'{"record_id": "x", "chain_id"')  # a crash mid-write: never acknowledged
    with path.open("ab") as f:
        f.write(b"\n\xff\xfenot json\n[1,2]\n")
    again = Spool(path)
    assert again.read() == rs and again.count == 2


def test_append_after_a_torn_line_keeps_the_new_records(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    rs = records(3)
    Spool(path).append(rs[:1])
    with path.open("ab") as f:
        f.write(b'{"record_id": "half')  # crash mid-write, no newline
    spool = Spool(path)
    spool.append(rs[1:])
    assert spool.read() == rs and spool.count == 3
