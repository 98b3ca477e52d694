"""The HMAC chain that makes the log tamper-evident.

Each record's MAC covers its content and the previous record's MAC, under a key that is not in
the database. Whoever can write the database but not read the key cannot alter, insert or delete
a record without `verify` noticing. Retention purges the oldest records of a chain and leaves a
signed checkpoint (the last purged seq and MAC), so the rest still verifies. Cutting records off
the *end* of a chain is the one edit a chain alone cannot show; backups and the counts in
`log stats` are the check for that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable

from gateway.ledger import Checkpoint, Decision, Record, VerifyResult

GENESIS = "0" * 64


def derive_key(chain_key: str) -> bytes:
    return hashlib.sha256(b"consent-gateway.ledger.v1\x00" + chain_key.encode("utf-8")).digest()


_FIELDS = tuple(Decision.__dataclass_fields__)


def canonical(decision: Decision, chain_id: str, seq: int, prev_mac: str) -> bytes:
    """A JSON array in a fixed field order: cheaper than a sorted dict, and as unambiguous."""
    values = [list(v) if isinstance(v, tuple) else v for v in (getattr(decision, f) for f in _FIELDS)]
    values += [chain_id, seq, prev_mac]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def seal(key: bytes, decision: Decision, chain_id: str, seq: int, prev_mac: str) -> Record:
    mac = hmac.new(key, canonical(decision, chain_id, seq, prev_mac), hashlib.sha256).hexdigest()
    return Record(decision, chain_id, seq, prev_mac, mac)


def sign_checkpoint(key: bytes, chain_id: str, seq: int, mac: str, ts: str) -> str:
    msg = f"checkpoint\x00{chain_id}\x00{seq}\x00{mac}\x00{ts}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


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
