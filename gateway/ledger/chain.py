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


class HeadWitness:
    """check_heads over a stream: the head files (a few) are read first, then records go by once.

    Keeps, per chain, the last seq seen and the MAC at each head's seq: memory follows the number
    of chains and head files, never the number of records.
    """

    def __init__(self, key: bytes, directory: Path, checkpoints: Iterable[Checkpoint] = ()) -> None:
        self.heads: list[tuple[str, str | tuple[str, int, str]]] = []  # (file name, problem or head)
        for path in sorted(directory.glob("head-*.json")):
            try:
                head = json.loads(path.read_text())
                chain_id, seq, mac = str(head["chain_id"]), int(head["seq"]), str(head["mac"])
            except (ValueError, KeyError, TypeError):
                self.heads.append((path.name, f"{path.name}: unreadable head file"))
                continue
            if not hmac.compare_digest(sign_head(key, chain_id, seq, mac), str(head.get("sig", ""))):
                self.heads.append((path.name, f"{path.name}: head file signature is wrong (forged or another key)"))
            else:
                self.heads.append((path.name, (chain_id, seq, mac)))
        self.purged = {cp.chain_id: cp.seq for cp in checkpoints}
        self.wanted = {(h[0], h[1]) for _, h in self.heads if isinstance(h, tuple)}
        self.seen: dict[tuple[str, int], str] = {}
        self.last: dict[str, int] = {}

    def see(self, r: Record) -> None:
        if r.seq > self.last.get(r.chain_id, 0):
            self.last[r.chain_id] = r.seq
        if (r.chain_id, r.seq) in self.wanted:
            self.seen[(r.chain_id, r.seq)] = r.mac

    def problem(self) -> str | None:
        """The first head file (by name) the log does not reach, described; None when all are reached."""
        for _, head in self.heads:
            if isinstance(head, str):
                return head
            chain_id, seq, mac = head
            if seq <= self.purged.get(chain_id, 0):
                continue  # that part of the chain was purged under a signed checkpoint
            if self.seen.get((chain_id, seq)) != mac:
                return (f"chain {chain_id!r} ends at seq {self.last.get(chain_id, 0)} but this host recorded seq "
                        f"{seq}: records were cut off the end of the chain")
        return None


def check_heads(key: bytes, directory: Path, records: Iterable[Record],
                checkpoints: Iterable[Checkpoint] = ()) -> str | None:
    """The first head file the log does not reach, described; None when all are reached."""
    witness = HeadWitness(key, directory, checkpoints)
    for r in records:
        witness.see(r)
    return witness.problem()


class ChainVerifier:
    """verify_chains one record at a time: holds the current chain's last MAC and seq, not the records.

    Records must come ordered by (chain_id, seq). `add` returns False at the first bad record (or at
    once for a forged checkpoint); `result` then names it.
    """

    def __init__(self, key: bytes, checkpoints: Iterable[Checkpoint] = ()) -> None:
        self.key = key
        self.starts: dict[str, Checkpoint] = {}
        self.problem: str | None = None
        for cp in checkpoints:
            if not hmac.compare_digest(sign_checkpoint(key, cp.chain_id, cp.seq, cp.mac, cp.ts), cp.signature):
                self.problem = f"checkpoint of chain {cp.chain_id!r} at seq {cp.seq} is forged"
                break
            if cp.chain_id not in self.starts or cp.seq > self.starts[cp.chain_id].seq:
                self.starts[cp.chain_id] = cp
        self.count = 0
        self.chains = 0
        self.chain: str | None = None
        self.prev = GENESIS
        self.expected_seq = 1

    def add(self, r: Record) -> bool:
        if self.problem is not None:
            return False
        self.count += 1
        if r.chain_id != self.chain:
            self.chain = r.chain_id
            start = self.starts.get(r.chain_id)
            self.prev, self.expected_seq = (start.mac, start.seq + 1) if start else (GENESIS, 1)
            self.chains += 1
        where = f"chain {r.chain_id!r} seq {r.seq} (record {r.decision.record_id})"
        if r.seq != self.expected_seq:
            self.problem = f"{where}: expected seq {self.expected_seq}; a record was deleted or inserted"
        elif not hmac.compare_digest(r.prev_mac, self.prev):
            self.problem = f"{where}: does not follow the previous record"
        elif not hmac.compare_digest(seal(self.key, r.decision, r.chain_id, r.seq, r.prev_mac).mac, r.mac):
            self.problem = f"{where}: content does not match its MAC (altered)"
        else:
            self.prev = r.mac
            self.expected_seq += 1
            return True
        return False

    def result(self) -> VerifyResult:
        return VerifyResult(self.problem is None, self.count, self.chains, self.problem)


def verify_chains(key: bytes, records: Iterable[Record], checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Records must come ordered by (chain_id, seq). Stops at the first bad record."""
    verifier = ChainVerifier(key, checkpoints)
    for r in records:
        if not verifier.add(r):
            break
    return verifier.result()
