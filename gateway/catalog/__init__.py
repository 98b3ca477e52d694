"""The built-in tracker and cookie catalog: who sets a cookie or serves a script, and what for.

    catalog = Catalog.load(enabled=True, extra=["/etc/consent-gateway/easyprivacy.jsonl"])
    catalog.cookie("_hjSessionUser_123")       # Entry(vendor="Hotjar", purpose="analytics", ...)
    catalog.url("https://static.hotjar.com/c/hotjar-1.js")   # Entry(kind="script", ...)
    catalog.matcher.search(page_bytes)         # first catalog host/URL in the buffer, or None
    catalog.matcher.findall(page_bytes)        # {pattern: Entry} of every one in the buffer

Loaded once at start: the shipped data (data/catalog.jsonl, unless enabled=False), then each extra
file in order; an entry with the same kind and pattern as an earlier one replaces it, and
{"kind": ..., "pattern": ..., "remove": true} deletes it. Format and semantics: README.md here.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.catalog.loader import CatalogError, Entry, Removal, read_file
from gateway.catalog.matcher import CookieMatcher, UrlMatcher, needs_right_boundary

__all__ = ["SHIPPED", "Catalog", "CatalogError", "Entry"]

SHIPPED = Path(__file__).with_name("data") / "catalog.jsonl"


@functools.lru_cache(maxsize=4)
def _read_cached(path: Path, mtime_ns: int) -> tuple[Entry | Removal, ...]:
    return tuple(read_file(path))


def _read(path: Path) -> tuple[Entry | Removal, ...]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return tuple(read_file(path))  # raises the readable error
    return _read_cached(path, mtime)


@dataclass(frozen=True)
class Catalog:
    entries: tuple[Entry, ...]
    matcher: UrlMatcher[Entry] = field(repr=False)
    cookies: CookieMatcher[Entry] = field(repr=False)
    _by_host: dict[str, tuple[tuple[str, Entry], ...]] = field(repr=False)

    @classmethod
    def load(cls, enabled: bool = True, extra: Sequence[str | Path] = ()) -> Catalog:
        """The shipped data (skipped when not `enabled`) corrected by each `extra` file in order.
        CatalogError (a ConfigError) names the file and line of any problem."""
        merged: dict[tuple[str, str], Entry] = {}
        paths = ([SHIPPED] if enabled else []) + [Path(p) for p in extra]
        for path in paths:
            for item in _read(path):
                if isinstance(item, Removal):
                    merged.pop(item.key, None)
                else:
                    merged.pop(item.key, None)  # re-inserted last: a correction keeps file order
                    merged[item.key] = item
        return cls.from_entries(merged.values())

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> Catalog:
        entries = tuple(entries)
        urls = {e.pattern: e for e in entries if e.kind != "cookie"}
        by_host: dict[str, list[tuple[str, Entry]]] = {}
        for pattern, e in urls.items():
            host, slash, path = pattern.partition("/")
            by_host.setdefault(host, []).append((slash + path, e))
        return cls(
            entries=entries,
            matcher=UrlMatcher(urls),
            cookies=CookieMatcher({e.pattern: e for e in entries if e.kind == "cookie"}),
            _by_host={h: tuple(sorted(v, key=lambda pe: -len(pe[0]))) for h, v in by_host.items()},
        )

    def __len__(self) -> int:
        return len(self.entries)

    def cookie(self, name: str) -> Entry | None:
        """The entry for a cookie name: exact names first, then the most specific glob."""
        return self.cookies.get(name)

    def url(self, url_or_host: str) -> Entry | None:
        """The entry for a URL (`https://a.b.com/x`, `//a.b.com/x`) or a bare host (`a.b.com`,
        `a.b.com/x`): the most specific host (a.b.com before b.com), then the longest path."""
        text = url_or_host.strip()
        if "://" not in text and not text.startswith("//"):
            text = "//" + text
        try:
            parts = urllib.parse.urlsplit(text)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return None
        path = parts.path or "/"
        labels = host.split(".")
        for i in range(len(labels) - 1):
            for pattern_path, entry in self._by_host.get(".".join(labels[i:]), ()):
                if _path_matches(path.lower(), pattern_path, entry.pattern):
                    return entry
        return None


def _path_matches(path: str, prefix: str, pattern: str) -> bool:
    if not prefix:
        return True
    if not path.startswith(prefix):
        return False
    rest = path[len(prefix):]
    return not (needs_right_boundary(pattern) and rest and (rest[0].isalnum() or rest[0] in "_-"))
