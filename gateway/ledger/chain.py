"""The HMAC chain that makes the log tamper-evident.

Each record's MAC covers its content and the previous record's MAC, under a key that is not in
the database. Whoever can write the database but not read the key cannot alter, insert or delete
a record without `verify` noticing. Retention purges the oldest records of a chain and leaves a
signed checkpoint (the last purged seq and MAC), so the rest still verifies. Cutting records off
the *end* of a chain is the one edit a chain alone cannot show: each host therefore keeps a signed
head file of its chains on its own disk (`write_head`), and `log verify` checks that the log
reaches every head it is given (`check_heads`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from pathlib import Path

from gateway.ledger import Checkpoint, Decision, Record, VerifyResult

GENESIS = "0" * 64


def derive_key(chain_key: str) -> bytes:
    return hashlib.sha256(b"consent-gateway.ledger.v1\x00" + chain_key.encode("utf-8")).digest()


_FIELDS = tuple(Decision.__dataclass_fields__)
# json.dumps(values, separators=(",", ":"), ensure_ascii=True) builds this encoder on every call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_KEYED: dict[bytes, hmac.HMAC] = {}  # chain key → its keyed HMAC, copied per record (a process has one or two)


def canonical(decision: Decision, chain_id: str, seq: int, prev_mac: str) -> bytes:
    """A JSON array in a fixed field order: cheaper than a sorted dict, and as unambiguous.
    Every field of Decision in declaration order, tuples as lists, then chain_id, seq, prev_mac."""
    values = [list(v) if isinstance(v, tuple) else v for v in map(decision.__getattribute__, _FIELDS)]
    values += [chain_id, seq, prev_mac]
    return _ENCODER.encode(values).encode("ascii")


def seal(key: bytes, decision: Decision, chain_id: str, seq: int, prev_mac: str) -> Record:
    keyed = _KEYED.get(key)
    if keyed is None:
        keyed = hmac.new(key, digestmod=hashlib.sha256)
        if len(_KEYED) < 16:  # keys come from configs, not visitors; bounded all the same
            _KEYED[key] = keyed
    mac = keyed.copy()
    mac.update(canonical(decision, chain_id, seq, prev_mac))
    return Record(decision, chain_id, seq, prev_mac, mac.hexdigest())


def sign_checkpoint(key: bytes, chain_id: str, seq: int, mac: str, ts: str) -> str:
    msg = f"checkpoint\x00{chain_id}\x00{seq}\x00{mac}\x00{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def sign_head(key: bytes, chain_id: str, seq: int, mac: str) -> str:
    return hmac.new(key, f"head\x00{chain_id}\x00{seq}\x00{mac}".encode(), hashlib.sha256).hexdigest()


def write_head(key: bytes, directory: Path, chain_id: str, seq: int, mac: str) -> None:
    """Where this host's chain has reached, kept on the gateway's disk, outside the database.

    Cutting records off the end of a chain leaves every remaining MAC valid; only a witness kept
    elsewhere shows it. The file may lag the database (it is written after the commit, not
    fsynced), so it is a lower bound: the chain must reach at least this record.
    """
    data = json.dumps({"chain_id": chain_id, "seq": seq, "mac": mac, "sig": sign_head(key, chain_id, seq, mac)})
    tmp = directory / f".head-{chain_id}.tmp"
    tmp.write_text(data)
    os.replace(tmp, directory / f"head-{chain_id}.json")


def check_heads(key: bytes, directory: Path, records: Iterable[Record],
                checkpoints: Iterable[Checkpoint] = ()) -> str | None:
    """The first head file the log does not reach, described; None when all are reached."""
    macs = {(r.chain_id, r.seq): r.mac for r in records}
    purged = {cp.chain_id: cp.seq for cp in checkpoints}
    for path in sorted(directory.glob("head-*.json")):
        try:
            head = json.loads(path.read_text())
            chain_id, seq, mac = str(head["chain_id"]), int(head["seq"]), str(head["mac"])
        except (ValueError, KeyError, TypeError):
            return f"{path.name}: unreadable head file"
        if not hmac.compare_digest(sign_head(key, chain_id, seq, mac), str(head.get("sig", ""))):
            return f"{path.name}: head file signature is wrong (forged or another key)"
        if seq <= purged.get(chain_id, 0):
            continue  # that part of the chain was purged under a signed checkpoint
        if macs.get((chain_id, seq)) != mac:
            last = max((s for c, s in macs if c == chain_id), default=0)
            return (f"chain {chain_id!r} ends at seq {last} but this host recorded seq {seq}: "
                    "records were cut off the end of the chain")
    return None


def verify_chains(key: bytes, records: Iterable[Record], checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Records must come ordered by (chain_id, seq). Stops at the first bad record."""
    starts: dict[str, Checkpoint] = {}
    for cp in checkpoints:
        if not hmac.compare_digest(sign_checkpoint(key, cp.chain_id, cp.seq, cp.mac, cp.ts), cp.signature):
            return VerifyResult(False, 0, 0, f"checkpoint of chain {cp.chain_id!r} at seq {cp.seq} is forged")
        if cp.chain_id not in starts or cp.seq > starts[cp.chain_id].seq:
            starts[cp.chain_id] = cp
    count = 0
    chains = 0
    chain: str | None = None
    prev = GENESIS
    expected_seq = 1
    for r in records:
        count += 1
        if r.chain_id != chain:
            chain = r.chain_id
            start = starts.get(chain)
            prev, expected_seq = (start.mac, start.seq + 1) if start else (GENESIS, 1)
            chains += 1
        where = f"chain {r.chain_id!r} seq {r.seq} (record {r.decision.record_id})"
        if r.seq != expected_seq:
            return VerifyResult(False, count, chains,
                                f"{where}: expected seq {expected_seq}; a record was deleted or inserted")
        if not hmac.compare_digest(r.prev_mac, prev):
            return VerifyResult(False, count, chains, f"{where}: does not follow the previous record")
        good = seal(key, r.decision, r.chain_id, r.seq, r.prev_mac).mac
        if not hmac.compare_digest(good, r.mac):
            return VerifyResult(False, count, chains, f"{where}: content does not match its MAC (altered)")
        prev = r.mac
        expected_seq += 1
    return VerifyResult(True, count, chains)
