"""The log's tables and row format, shared by both stores so the two never drift apart.

Only the integer and boolean types differ between SQLite and PostgreSQL. A later change to the
schema is a new PostgreSQL migration (postgres.MIGRATIONS), never an edit of this first one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.ledger import Decision, Record

# (column, type) in row order; "INT" and "BOOL" are filled in per store
LOG_COLUMNS = (
    ("record_id", "TEXT PRIMARY KEY"), ("chain_id", "TEXT"), ("seq", "INT"), ("ts", "TEXT"),
    ("consent_id", "TEXT"), ("action", "TEXT"), ("granted", "TEXT"), ("denied", "TEXT"),
    ("policy_version", "TEXT"), ("locale", "TEXT"), ("path", "TEXT"), ("ip_prefix", "TEXT"),
    ("browser", "TEXT"), ("os", "TEXT"), ("device", "TEXT"), ("is_bot", "BOOL"), ("gpc", "BOOL"),
    ("prev_mac", "TEXT"), ("mac", "TEXT"),
)
COLUMNS = tuple(name for name, _ in LOG_COLUMNS)


def schema(integer: str, boolean: str) -> str:
    def typed(kind: str) -> str:
        kind = kind.replace("INT", integer).replace("BOOL", boolean)
        return kind if "PRIMARY KEY" in kind else kind + " NOT NULL"

    columns = ",\n    ".join(f"{name} {typed(kind)}" for name, kind in LOG_COLUMNS)
    return f"""
CREATE TABLE IF NOT EXISTS consent_log (
    {columns},
    UNIQUE (chain_id, seq)
);
CREATE INDEX IF NOT EXISTS consent_log_consent_id ON consent_log (consent_id);
CREATE INDEX IF NOT EXISTS consent_log_ts ON consent_log (ts);
CREATE TABLE IF NOT EXISTS consent_checkpoints (
    chain_id TEXT PRIMARY KEY, seq {integer} NOT NULL, mac TEXT NOT NULL, ts TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cookie_inventory (
    name TEXT NOT NULL, label TEXT NOT NULL, source TEXT NOT NULL, count {integer} NOT NULL,
    last_seen TEXT NOT NULL, PRIMARY KEY (name, source)
);
"""


# Where the site set each cookie (Path, Domain; "" for none), learned by any instance from the site's
# Set-Cookie, so every instance expires a withheld cookie with the scope it really has.
COOKIE_SCOPES = """
CREATE TABLE IF NOT EXISTS cookie_scopes (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, domain TEXT NOT NULL, updated TEXT NOT NULL
);
"""
# Per consent id, the issue time before which its cookies no longer count (see gateway/revocation.py).
# `updated` is the database's clock (epoch seconds), so instances pull what changed since they last looked.
REVOCATIONS = """
CREATE TABLE IF NOT EXISTS consent_revocations (
    consent_id TEXT PRIMARY KEY, not_before BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_revocations_updated ON consent_revocations (updated);
"""
REVOCATION_OVERLAP = 30.0  # seconds a pull reaches back: a slow transaction commits rows stamped earlier
MAX_REVOCATION_ROWS = 20_000  # per pull; the next pull goes on from the last row
MAX_SHARED_SCOPES = 2048  # the newest ones; names come from the site and, through it, from visitors


# Built from the constant column list above, never from input.
SELECT = f"SELECT {', '.join(COLUMNS)} FROM consent_log"  # noqa: S608


def insert_sql(placeholders: list[str]) -> str:
    """An idempotent insert: replaying a record that is already stored changes nothing."""
    return (f"INSERT INTO consent_log ({', '.join(COLUMNS)}) VALUES ({', '.join(placeholders)}) "  # noqa: S608
            "ON CONFLICT (record_id) DO NOTHING")


def record_from_row(d: Mapping[str, Any]) -> Record:
    """A stored row (both stores use the same columns) back to a Record."""
    decision = Decision(
        record_id=d["record_id"], ts=d["ts"], consent_id=d["consent_id"], action=d["action"],
        granted=tuple(json.loads(d["granted"])), denied=tuple(json.loads(d["denied"])),
        policy_version=d["policy_version"], locale=d["locale"], path=d["path"], ip_prefix=d["ip_prefix"],
        browser=d["browser"], os=d["os"], device=d["device"], is_bot=bool(d["is_bot"]), gpc=bool(d["gpc"]),
    )
    return Record(decision, d["chain_id"], int(d["seq"]), d["prev_mac"], d["mac"])


def record_to_row(r: Record) -> tuple[Any, ...]:
    """A Record as the values of COLUMNS, in order."""
    d = r.decision
    return (d.record_id, r.chain_id, r.seq, d.ts, d.consent_id, d.action, json.dumps(list(d.granted)),
            json.dumps(list(d.denied)), d.policy_version, d.locale, d.path, d.ip_prefix, d.browser, d.os,
            d.device, d.is_bot, d.gpc, r.prev_mac, r.mac)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


INVENTORY_OTHER = "(other)"  # parentheses cannot occur in a cookie name


def fold_inventory(rows: Iterable[tuple[str, str, str, int]], stored: Iterable[tuple[str, str]],
                   limit: int) -> list[tuple[str, str, str, int]]:
    """New inventory counts with at most `limit` distinct names per label, counting what is stored.

    Names come from visitors: past the bound a name is counted under "(other)", never dropped.
    """
    per_label: dict[str, set[str]] = {}
    for name, label in stored:
        if name != INVENTORY_OTHER:
            per_label.setdefault(label, set()).add(name)
    out: Counter[tuple[str, str, str]] = Counter()
    for name, label, source, n in rows:
        names = per_label.setdefault(label, set())
        if name != INVENTORY_OTHER and name not in names:
            if len(names) >= limit:
                name = INVENTORY_OTHER
            else:
                names.add(name)
        out[(name, label, source)] += n
    return [(name, label, source, n) for (name, label, source), n in out.items()]
