"""The catalog's compiled matchers: URL/host patterns in raw page bytes, and cookie-name globs.

Host-boundary semantics (what a URL pattern `host[/path]` matches in text, case-insensitively):
- left: the host starts the text or follows a character that cannot be part of a host name
  (`/`, `'`, `"`, `.`, space, ...), so `static.hotjar.com` matches `hotjar.com` but
  `nothotjar.com` and `evil-hotjar.com` do not. An escaped slash before it counts as a slash:
  `%2F`, `\\u002F`, `\\x2F` (URL-encoded and JavaScript-escaped URLs).
- right: when the pattern ends in a letter or digit, the next character must not continue the
  name, and a dot must not start another label: `hotjar.com.evil`, `hotjar.community` and
  `facebook.com/track` do not match `hotjar.com` or `facebook.com/tr`; `hotjar.com/`, `hotjar.com'`,
  `hotjar.com:443`, `facebook.com/tr?id=` do. A pattern ending in another character
  (`static.hotjar.com/c/hotjar-`) is a plain prefix there.
- a `/` in a pattern also matches `\\/` and `%2F`, as JSON and URL-encoded strings write it.

The search is one Aho–Corasick pass (ahocorasick_rs, in Rust) over the lower-cased buffer: its
cost does not grow with the number of patterns. Only the raw hits, which are few, are then checked
for the boundaries above.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Generic, TypeVar

import ahocorasick_rs

T = TypeVar("T")

_HOST_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPED_SLASHES = (b"%2f", b"\\u002f", b"\\x2f")  # as they appear in the lower-cased buffer
MAX_DFA_NEEDLES = 20_000


def needs_right_boundary(pattern: str) -> bool:
    return pattern[-1].isalnum()


def left_ok(buf: bytes, start: int) -> bool:
    if start == 0 or buf[start - 1] not in _HOST_BYTES:
        return True
    return any(buf.endswith(esc, 0, start) for esc in _ESCAPED_SLASHES)


def right_ok(buf: bytes, end: int) -> bool:
    if end >= len(buf):
        return True
    nxt = buf[end]
    if nxt in _HOST_BYTES:
        return False
    return not (nxt == 0x2E and end + 1 < len(buf) and buf[end + 1] in _HOST_BYTES)  # ".evil"


class UrlMatcher(Generic[T]):
    """Finds catalog URL patterns in a buffer: one automaton pass, then boundary checks per hit."""

    def __init__(self, patterns: Mapping[str, T]) -> None:
        self.patterns = dict(patterns)  # lower-case pattern -> value
        # The automaton looks for the hosts only; a pattern's path (in any of its slash spellings)
        # is checked at each host hit, which are few. Three spellings of every pattern in the
        # automaton made the page scan three times slower than the hosts alone.
        by_host: dict[bytes, list[tuple[str, tuple[bytes, ...], bool]]] = {}
        for p in self.patterns:
            host, slash, path = p.encode("ascii").partition(b"/")
            rest = slash + path
            spellings = tuple(sorted({rest, rest.replace(b"/", b"\\/"), rest.replace(b"/", b"%2f")})) if rest else ()
            by_host.setdefault(host, []).append((p, spellings, needs_right_boundary(p)))
        self._hosts = list(by_host)
        self._owners = [tuple(by_host[h]) for h in self._hosts]  # needle index -> patterns on that host
        # A DFA scans a page about a quarter faster than the default NFA; its memory grows with the
        # patterns, so a huge operator `extra` list keeps the compact NFA.
        dfa = len(self._hosts) <= MAX_DFA_NEEDLES
        impl = ahocorasick_rs.Implementation.DFA if dfa else ahocorasick_rs.Implementation.ContiguousNFA
        self._ac = ahocorasick_rs.BytesAhoCorasick(self._hosts, implementation=impl) if self._hosts else None

    def __len__(self) -> int:
        return len(self.patterns)

    def hits(self, data: bytes | str, *, lowered: bool = False) -> list[tuple[int, str]]:
        """(start, pattern) of every pattern found with its boundaries, in one automaton pass.
        `lowered`: the bytes are lower-case already (saves a copy of a page buffer)."""
        if self._ac is None:
            return []
        buf = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
        if not lowered:
            buf = buf.lower()
        out = []
        for index, start, end in self._ac.find_matches_as_indexes(buf, overlapping=True):
            if not left_ok(buf, start):
                continue
            for pattern, spellings, bounded in self._owners[index]:
                if not spellings:
                    if not bounded or right_ok(buf, end):
                        out.append((start, pattern))
                    continue
                for rest in spellings:
                    if buf.startswith(rest, end) and (not bounded or right_ok(buf, end + len(rest))):
                        out.append((start, pattern))
                        break
        return out

    def search(self, data: bytes | str) -> T | None:
        """The value of the first pattern found (leftmost, then longest), or None."""
        hits = self.hits(data)
        if not hits:
            return None
        start, pattern = min(hits, key=lambda h: (h[0], -len(h[1])))
        return self.patterns[pattern]

    def findall(self, data: bytes | str) -> dict[str, T]:
        """Every pattern found anywhere in the buffer (pattern -> value)."""
        return {pattern: self.patterns[pattern] for _, pattern in self.hits(data)}


MAX_COOKIE_NAME = 256  # longer names are nobody's tracker; bounds the glob work per name


class CookieMatcher(Generic[T]):
    """Exact names by dictionary; prefix globs (`abc*`) by a walk over the name's prefixes, longest
    first; other globs (`*_gdp_cs1`, `_*_session`) by one anchored alternation. The most specific
    pattern wins: more literal characters, so `_ga_*` beats `_ga*` beats `_*_session`."""

    def __init__(self, patterns: Mapping[str, T]) -> None:
        self.exact = {p: v for p, v in patterns.items() if "*" not in p}
        self.prefixes = {p[:-1]: v for p, v in patterns.items() if p.count("*") == 1 and p.endswith("*")}
        others = sorted((p for p in patterns if "*" in p and p[:-1] not in self.prefixes),
                        key=lambda p: (-len(p.replace("*", "")), p))
        self._others = [(len(p.replace("*", "")), patterns[p]) for p in others]
        # every glob in the order `get` prefers them: more literal characters first, a prefix
        # before another glob of the same size (`get` takes another glob only when it is longer)
        self._ordered = sorted([(p + "*", 0) for p in self.prefixes] + [(p, 1) for p in others],
                               key=lambda pk: (-len(pk[0].replace("*", "")), pk[1], pk[0]))
        self._patterns = patterns
        self._rx = re.compile("|".join(
            f"(?P<g{i}>{'.*'.join(re.escape(part) for part in p.split('*'))})" for i, p in enumerate(others)
        ), re.S) if others else None
        self._longest = max(map(len, self.prefixes), default=0)
        self._cache: dict[str, T | None] = {}

    def __len__(self) -> int:
        return len(self._patterns)

    def globs_in_order(self) -> list[tuple[str, T]]:
        """(glob, value) for every glob: the first that matches a name (not in `exact`, at most
        MAX_COOKIE_NAME long) is the one `get` returns."""
        return [(p, self._patterns[p]) for p, _ in self._ordered]

    def get(self, name: str) -> T | None:
        hit = self.exact.get(name)
        if hit is not None or len(name) > MAX_COOKIE_NAME:
            return hit
        if name in self._cache:
            return self._cache[name]
        value, literal = None, -1
        for n in range(min(len(name), self._longest), 0, -1):
            value = self.prefixes.get(name[:n])
            if value is not None:
                literal = n
                break
        m = self._rx.fullmatch(name) if self._rx is not None else None
        if m is not None and m.lastgroup is not None:
            size, other = self._others[int(m.lastgroup[1:])]
            if size > literal:
                value = other
        if len(self._cache) < 8192:  # names come from visitors: bounded
            self._cache[name] = value
        return value
