"""This host's chain head file (see chain.write_head), written off the event loop and coalesced.

Writing the file (a temporary file, then a rename) costs a few hundred microseconds of CPU and up
to milliseconds of wall time; done on the event loop after every group commit it stalled every
request for that long, and under load commits come every few milliseconds. Here one thread writes
it: at most one write runs, and commits made meanwhile fold into the next write, of the newest
head. The file stays what it was, a lower bound that may lag the database by a moment.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.ledger.chain import write_head

log = logging.getLogger("consent_gateway.ledger")


class HeadFile:
    def __init__(self, key: bytes, directory: Path, chain_id: str) -> None:
        self._key, self._directory, self._chain_id = key, directory, chain_id
        self._lock = threading.Lock()
        self._pending: tuple[int, str] | None = None  # the newest head not yet written
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-head")
        self.writes = 0

    def put(self, seq: int, mac: str) -> None:
        """Heads come in chain order, so the newest one put is the one to keep."""
        with self._lock:
            self._pending = (seq, mac)
        self._writer.submit(self._drain)  # finds nothing to do when an earlier one took this head

    def _drain(self) -> None:
        while True:
            with self._lock:
                head, self._pending = self._pending, None
            if head is None:
                return
            try:
                write_head(self._key, self._directory, self._chain_id, *head)
                self.writes += 1
            except OSError as e:  # the witness is best effort; the decisions are already durable
                log.warning("could not write the chain head file: %s", e)

    def close(self) -> None:
        """Returns once the newest head put is on disk (or failed to be written)."""
        self._writer.shutdown(wait=True)
