"""Withdrawals that stick: a per-consent-id "not before", so a replayed older cookie decides nothing.

The consent cookie is the only state, so a visitor (or anyone holding a copy) could restore a
withdrawn consent by sending the old cookie again. Every decision for an existing consent id
records the new cookie's issue time as that id's "not before"; a cookie of that id issued earlier
is then treated as no decision (the banner asks again, and the id, hence the history, is kept).

The table lives in this process's memory, bounded (the oldest entries go first), and is shared
through the log database like cookie scopes: each process pushes what it recorded and pulls what
the others did every REVOCATION_INTERVAL seconds. Limits: other processes see a withdrawal within
about that interval while the database answers, and only the process that took it while it does
not; cookies carry whole seconds, so a decision replaced within the same second is not retired.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

REVOCATION_INTERVAL = 2.0  # seconds between two exchanges with the log database
MAX_REVOCATIONS = 200_000  # about 30 MB at most; an evicted id falls back to plain cookie expiry


class Revocations:
    def __init__(self, limit: int = MAX_REVOCATIONS) -> None:
        self._not_before: OrderedDict[str, int] = OrderedDict()
        self._limit = limit
        self._fresh: dict[str, int] = {}  # recorded here, not yet in the database
        self.cursor = 0.0  # the database's clock: rows updated since then are pulled next

    def not_before(self, consent_id: str) -> int:
        return self._not_before.get(consent_id, 0)

    def revoke(self, consent_id: str, issued_at: int) -> None:
        """Cookies of `consent_id` issued before `issued_at` no longer count."""
        if self._set(consent_id, issued_at) and len(self._fresh) < self._limit:
            self._fresh[consent_id] = max(issued_at, self._fresh.get(consent_id, 0))

    def _set(self, consent_id: str, issued_at: int) -> bool:
        if issued_at <= self._not_before.get(consent_id, 0):
            return False
        self._not_before[consent_id] = issued_at
        self._not_before.move_to_end(consent_id)
        if len(self._not_before) > self._limit:
            self._not_before.popitem(last=False)
        return True

    def unshared(self) -> list[tuple[str, int]]:
        return list(self._fresh.items())

    def shared(self, rows: Iterable[tuple[str, int]]) -> None:
        for consent_id, issued_at in rows:
            if self._fresh.get(consent_id) == issued_at:
                del self._fresh[consent_id]

    def absorb(self, rows: Iterable[tuple[str, int]]) -> None:
        """What other processes recorded. Outside data: checked again."""
        for consent_id, issued_at in rows:
            if isinstance(consent_id, str) and 0 < len(consent_id) <= 64 and isinstance(issued_at, int):
                self._set(consent_id, issued_at)
