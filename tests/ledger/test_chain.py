from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gateway.ledger import Checkpoint, VerifyResult
from gateway.ledger.chain import (
    GENESIS,
    canonical,
    check_heads,
    derive_key,
    seal,
    sign_checkpoint,
    sign_head,
    verify_chains,
    write_head,
)
from tests.ledger.conftest import decision

KEY = derive_key("k" * 20)


def chain(n: int, chain_id: str = "a") -> list:  # type: ignore[type-arg]
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        r = seal(KEY, decision(i), chain_id, i, prev)
        out.append(r)
        prev = r.mac
    return out


def test_intact() -> None:
    assert verify_chains(KEY, chain(5) + chain(3, "b")).ok


def test_detects_each_kind_of_edit() -> None:
    records = chain(5)
    altered = records.copy()
    altered[2] = dataclasses.replace(altered[2], decision=dataclasses.replace(altered[2].decision, gpc=True,
                                                                              locale="xx"))
    assert "altered" in (verify_chains(KEY, altered).problem or "")
    deleted = records[:2] + records[3:]
    assert not verify_chains(KEY, deleted).ok
    inserted = records[:2] + [seal(KEY, decision(9), "a", 3, records[1].mac)] + records[2:]
    assert not verify_chains(KEY, inserted).ok


def test_counts_records_and_chains() -> None:
    result = verify_chains(KEY, chain(5) + chain(3, "b"))
    assert (result.ok, result.records, result.chains, result.problem) == (True, 8, 2, None)
    assert verify_chains(KEY, []) == VerifyResult(True, 0, 0)


def test_forked_chain_is_caught() -> None:
    # Right seq and a valid MAC, but sealed on another predecessor: someone with the key replaced
    # history from record 3 on, or two writers forked the chain. Only the prev-MAC link shows it.
    records = chain(5)
    fork = seal(KEY, decision(42), "a", 3, seal(KEY, decision(41), "a", 2, records[0].mac).mac)
    result = verify_chains(KEY, records[:2] + [fork] + records[3:])
    assert not result.ok and (result.records, result.chains) == (3, 1)
    assert "'a' seq 3" in (result.problem or "") and "does not follow" in (result.problem or "")


def test_each_problem_names_the_record() -> None:
    records = chain(4)
    deleted = verify_chains(KEY, records[:1] + records[2:])
    assert (deleted.ok, deleted.records) == (False, 2)
    assert "seq 3" in (deleted.problem or "") and "expected seq 2" in (deleted.problem or "")
    altered = records[:3] + [dataclasses.replace(records[3], mac="0" * 64)]
    assert "altered" in (verify_chains(KEY, altered).problem or "")
    other_key = verify_chains(derive_key("another key, same shape"), records)
    assert not other_key.ok and other_key.records == 1


def checkpoint(chain_id: str, seq: int, mac: str, key: bytes = KEY) -> Checkpoint:
    ts = "2026-11-28T10:00:00.000Z"
    return Checkpoint(chain_id, seq, mac, ts, sign_checkpoint(key, chain_id, seq, mac, ts))


def test_purged_chain_verifies_from_its_latest_checkpoint() -> None:
    records = chain(6)
    kept = records[3:]  # 1..3 purged
    older, latest = checkpoint("a", 2, records[1].mac), checkpoint("a", 3, records[2].mac)
    for cps in ([latest], [older, latest], [latest, older]):
        result = verify_chains(KEY, kept, cps)
        assert (result.ok, result.records, result.chains) == (True, 3, 1), cps
    assert not verify_chains(KEY, kept).ok  # without the checkpoint the chain starts mid-way
    assert not verify_chains(KEY, kept, [checkpoint("a", 3, records[1].mac)]).ok  # wrong MAC for seq 3
    assert verify_chains(KEY, kept + chain(2, "b"), [latest]).ok  # another chain starts at genesis


def test_forged_checkpoint_is_refused() -> None:
    records = chain(4)
    forged = checkpoint("a", 2, records[1].mac, key=derive_key("not ours"))
    result = verify_chains(KEY, records[2:], [forged])
    assert not result.ok and "checkpoint of chain 'a' at seq 2 is forged" == result.problem


def test_head_files_are_written_signed_and_checked(tmp_path: Path) -> None:
    records = chain(5)
    write_head(KEY, tmp_path, "a", 5, records[4].mac)
    assert [p.name for p in tmp_path.iterdir()] == ["head-a.json"]  # the temporary file is gone
    head = json.loads((tmp_path / "head-a.json").read_text())
    assert head == {"chain_id": "a", "seq": 5, "mac": records[4].mac, "sig": sign_head(KEY, "a", 5, records[4].mac)}
    assert check_heads(KEY, tmp_path, records) is None
    assert check_heads(KEY, tmp_path, records + chain(9, "b")) is None
    cut = check_heads(KEY, tmp_path, records[:3] + chain(9, "b"))
    assert cut == "chain 'a' ends at seq 3 but this host recorded seq 5: records were cut off the end of the chain"
    assert "ends at seq 0" in (check_heads(KEY, tmp_path, []) or "")
    # a chain cut back to its first record says so (not "seq 0": the one record is there)
    assert "chain 'a' ends at seq 1 but" in (check_heads(KEY, tmp_path, records[:1]) or "")
    write_head(KEY, tmp_path, "a", 5, "f" * 64)  # the log holds another record 5: not the one we wrote
    assert "cut off" in (check_heads(KEY, tmp_path, records) or "")


def test_purged_heads_are_reached_and_bad_head_files_are_named(tmp_path: Path) -> None:
    records = chain(6)
    write_head(KEY, tmp_path, "a", 2, records[1].mac)
    assert check_heads(KEY, tmp_path, records[3:], [checkpoint("a", 3, records[2].mac)]) is None
    assert check_heads(KEY, tmp_path, records[3:], [checkpoint("b", 3, records[2].mac)]) is not None
    write_head(KEY, tmp_path, "a", 3, records[2].mac)
    assert check_heads(KEY, tmp_path, records[3:], [checkpoint("a", 3, records[2].mac)]) is None
    (tmp_path / "head-a.json").write_text(json.dumps({"chain_id": "a", "seq": 6, "mac": records[5].mac, "sig": "0"}))
    assert check_heads(KEY, tmp_path, records) == "head-a.json: head file signature is wrong (forged or another key)"
    write_head(derive_key("another"), tmp_path, "a", 6, records[5].mac)
    assert "signature is wrong" in (check_heads(KEY, tmp_path, records) or "")
    for junk in ("not json", "{}", '{"chain_id": "a", "seq": "x", "mac": "m"}', "[1]"):
        (tmp_path / "head-a.json").write_text(junk)
        assert check_heads(KEY, tmp_path, records) == "head-a.json: unreadable head file", junk


def test_canonical_form_binds_every_field() -> None:
    d = decision(1)
    base = canonical(d, "a", 1, GENESIS)
    assert json.loads(base)[-3:] == ["a", 1, GENESIS]
    assert list(json.loads(base)[5]) == list(d.denied)  # tuples become arrays
    for changed in (canonical(d, "b", 1, GENESIS), canonical(d, "a", 2, GENESIS), canonical(d, "a", 1, "1" * 64),
                    canonical(dataclasses.replace(d, locale="zh-CN"), "a", 1, GENESIS)):
        assert changed != base
    assert derive_key("k" * 20) != derive_key("k" * 21) and len(KEY) == 32
    assert sign_checkpoint(KEY, "a", 1, "m", "t") != sign_checkpoint(KEY, "a", 1, "m", "u")
    assert sign_head(KEY, "a", 1, "m") != sign_head(KEY, "a", 2, "m")


def test_records_sealed_by_earlier_releases_still_verify() -> None:
    # A fixed record and its MAC as this format has always written them: any change to the key
    # derivation or the canonical form would make every existing log fail to verify.
    d = dataclasses.replace(decision(1), record_id="r1", path="/产品", locale="zh-CN")
    record = seal(derive_key("golden-key-0123456789"), d, "main", 1, GENESIS)
    assert record.mac == "822d2369c82e26aab541681eda33505ed158e825589d8b16a8c83cab2f2586de"
    assert canonical(d, "main", 1, GENESIS).startswith(b'["r1","2026-11-28T10:00:01.000Z","cid","save",["identity"]')
    assert b'"/\\u4ea7\\u54c1"' in canonical(d, "main", 1, GENESIS)


def test_failures_are_reported_exactly() -> None:
    records = chain(3) + chain(2, "b")
    forged = checkpoint("a", 2, records[1].mac, key=derive_key("not ours"))
    assert verify_chains(KEY, records, [forged]) == VerifyResult(
        False, 0, 0, "checkpoint of chain 'a' at seq 2 is forged")
    bad_b = records[:4] + [dataclasses.replace(records[4], prev_mac="0" * 64)]
    got = verify_chains(KEY, bad_b)
    assert (got.ok, got.records, got.chains) == (False, 5, 2) and "does not follow" in (got.problem or "")
    altered = records[:4] + [dataclasses.replace(records[4], mac="0" * 64)]
    result = verify_chains(KEY, altered)
    assert (result.ok, result.records, result.chains) == (False, 5, 2) and "altered" in (result.problem or "")
    skipped = records[:3] + records[4:]
    result = verify_chains(KEY, skipped)
    assert (result.ok, result.records, result.chains) == (False, 4, 2) and "expected seq 1" in (result.problem or "")
    assert verify_chains(KEY, chain(2, "")) == VerifyResult(True, 2, 1)


def test_heads_of_every_chain_are_checked(tmp_path: Path) -> None:
    a, b = chain(4), chain(3, "b")
    write_head(KEY, tmp_path, "a", 2, a[1].mac)  # purged below: skipped
    write_head(KEY, tmp_path, "b", 3, b[2].mac)
    cp = checkpoint("a", 3, a[2].mac)
    assert check_heads(KEY, tmp_path, a[3:] + b, [cp]) is None
    assert "chain 'b' ends at seq 2" in (check_heads(KEY, tmp_path, a[3:] + b[:2], [cp]) or "")
    first = tmp_path / "first"
    first.mkdir()
    write_head(KEY, first, "a", 1, a[0].mac)
    assert "chain 'a' ends at seq 0" in (check_heads(KEY, first, []) or "")  # nothing purged: seq 1 is due
