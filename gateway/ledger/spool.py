"""The local spool: an append-only, fsynced file of sealed records, for when the store is down.

One JSON object per line. A torn last line (crash mid-write) is ignored when reading: it was
never acknowledged, since acknowledgement waits for the fsync.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from gateway.ledger import Record


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        # append (commit loop) and remove_first (replay) run in worker threads: one at a time
        self._lock = threading.Lock()
        self.count = len(self.read())

    def append(self, records: list[Record]) -> None:
        with self._lock:
            self._append(records)

    def _append(self, records: list[Record]) -> None:
        data = "".join(json.dumps(r.as_dict(), separators=(",", ":")) + "\n" for r in records).encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn last line from a crash: never glue a record onto it
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.count += len(records)

    def read(self) -> list[Record]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                out.append(Record.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn final line
        return out

    def last(self) -> Record | None:
        records = self.read()
        return records[-1] if records else None

    def remove_first(self, n: int) -> None:
        """Drop the first n records (replayed); keep any appended meanwhile. Atomic via rename."""
        with self._lock:
            self._remove_first(n)

    def _remove_first(self, n: int) -> None:
        rest = self.read()[n:]
        tmp = self.path.with_suffix(".tmp")
        data = "".join(json.dumps(r.as_dict(), separators=(",", ":")) + "\n" for r in rest).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.count = len(rest)
