"""The dashboard's own strings (gateway/locales/admin/*.toml) and which language a request gets.

Chosen like the banner's: `?lang=` when it names a table we have, else the best match of
Accept-Language (exact tag, then the same language), else English. A key a table lacks is English.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).with_name("locales") / "admin"
FALLBACK = "en"
_ITEM = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*$")


def _merged(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in own.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def load_tables(directory: Path = DIRECTORY) -> dict[str, dict[str, Any]]:
    raw = {}
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            raw[path.stem] = tomllib.load(f)
    if FALLBACK not in raw:
        raise RuntimeError(f"the dashboard's {FALLBACK} locale table is missing in {directory}")
    return {tag: _merged(raw[FALLBACK], table) for tag, table in raw.items()}


class AdminTexts:
    def __init__(self, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.tables = tables or load_tables()
        self._lower = {tag.lower(): tag for tag in self.tables}

    def languages(self) -> list[tuple[str, str]]:
        """(tag, the language's own name), for the switch."""
        return [(tag, str(t.get("name", tag))) for tag, t in sorted(self.tables.items())]

    def choose(self, asked: str | None, accept_language: bytes | None) -> str:
        if asked and asked.lower() in self._lower:
            return self._lower[asked.lower()]
        if accept_language:
            return self.negotiate(accept_language[:512].decode("latin-1"))
        return FALLBACK

    def negotiate(self, header: str) -> str:
        ranked = []
        for i, item in enumerate(header.split(",")[:32]):
            m = _ITEM.match(item)
            if not m:
                continue
            try:
                q = float(m.group(2)) if m.group(2) else 1.0
            except ValueError:
                continue
            if q > 0:
                ranked.append((-q, i, m.group(1).lower()))
        for _, _, tag in sorted(ranked):
            if tag == "*":
                return FALLBACK
            if tag in self._lower:
                return self._lower[tag]
            base = tag.split("-")[0]
            for known_lower, known in self._lower.items():  # zh, zh-Hans, zh-TW -> zh-CN
                if known_lower.split("-")[0] == base:
                    return known
        return FALLBACK

    def __getitem__(self, tag: str) -> dict[str, Any]:
        return self.tables.get(tag) or self.tables[FALLBACK]
