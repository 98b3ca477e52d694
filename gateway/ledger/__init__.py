"""The consent log: every decision, durable before it is acknowledged, chained so edits show.

One interface, several backends. `open_ledger` picks the backend from the `[log] url`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from gateway.config import LogSettings


@dataclass(frozen=True)
class Decision:
    """What the visitor decided, as the gateway logs it. No full IP, no secrets, no query string."""

    record_id: str  # random; makes replay idempotent
    ts: str  # UTC ISO 8601
    consent_id: str
    action: str
    granted: tuple[str, ...]
    denied: tuple[str, ...]
    policy_version: str
    locale: str
    path: str
    ip_prefix: str
    browser: str
    os: str
    device: str
    is_bot: bool
    gpc: bool


@dataclass(frozen=True)
class Record:
    decision: Decision
    chain_id: str
    seq: int
    prev_mac: str
    mac: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self.decision)
        d["granted"] = list(self.decision.granted)
        d["denied"] = list(self.decision.denied)
        d.update(chain_id=self.chain_id, seq=self.seq, prev_mac=self.prev_mac, mac=self.mac)
        return d


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    chains: int
    problem: str | None = None  # the first bad record, described


class Ledger(Protocol):
    async def start(self) -> None: ...
    async def append(self, decision: Decision) -> Record: ...
    async def close(self) -> None: ...
    async def history(self, consent_id: str) -> list[Record]: ...
    def export(self, since: str | None = None, until: str | None = None) -> Iterator[Record]: ...
    def verify(self) -> VerifyResult: ...
    def healthy(self) -> bool: ...


def open_ledger(settings: LogSettings, *, chain_id: str | None = None) -> Ledger:
    from gateway.ledger.sqlite import SQLiteLedger, sqlite_path

    if settings.url.startswith("sqlite:"):
        return SQLiteLedger(sqlite_path(settings.url), settings.chain_key, chain_id=chain_id,
                            instance_id=settings.instance_id)
    raise ValueError(f"unsupported log url {settings.url.split(':', 1)[0]!r}")
