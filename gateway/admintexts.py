"""The dashboard's own strings (gateway/locales/admin/*.toml) and which language a request gets.

Chosen like the banner's: `?lang=` when it names a table we have, else the best match of
Accept-Language (exact tag, then the same language), else English. A key a table lacks is English.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gateway.acceptlang import negotiate

DIRECTORY = Path(__file__).with_name("locales") / "admin"
FALLBACK = "en"


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
        return negotiate(header, self._lower, FALLBACK)

    def __getitem__(self, tag: str) -> dict[str, Any]:
        return self.tables.get(tag) or self.tables[FALLBACK]
