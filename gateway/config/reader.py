"""Reading the parsed TOML: typed values, known keys, and errors that name the file and the line.

tomllib keeps no positions, so a bad key is found again in the text for the message.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.bannerconfig import KEYS as BANNER_KEYS
from gateway.config.model import (
    AdminSettings,
    CatalogSettings,
    Category,
    ConsentSettings,
    CookieSettings,
    GatewaySettings,
    LogSettings,
    table_keys,
)
from gateway.errors import ConfigError


class TomlReader:
    """The parsed TOML of one file, and how to say where in it something is wrong."""

    KNOWN = {
        "gateway": table_keys(GatewaySettings),
        "consent": table_keys(ConsentSettings) | {"default_locale"},  # fallback_locale's old name
        "log": table_keys(LogSettings),
        "cookies": table_keys(CookieSettings),
        "catalog": table_keys(CatalogSettings) - {"catalog"},  # the compiled catalog, not a key
        "admin": table_keys(AdminSettings),
        "categories": table_keys(Category),
        "banner": BANNER_KEYS,
    }

    def __init__(self, raw: dict[str, Any], text: str, source: str, env: Any) -> None:
        self.raw = raw
        self.lines = text.splitlines()
        self.source = source
        self.env = env

    # Locating keys: tomllib keeps no positions, so find the key inside its table in the text.
    def line_of(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        current: str | None = None
        seen = -1
        header_line: int | None = None
        for n, line in enumerate(self.lines, 1):
            s = line.strip()
            m = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]", s) or re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", s)
            if m:
                current = m.group(1)
                if current == table:
                    seen += 1
                    if seen == index:
                        header_line = n
                continue
            if current == table and seen == index and key is not None:
                if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
                    return n
        return header_line

    def fail(self, message: str, table: str, key: str | None = None, index: int = 0) -> ConfigError:
        return ConfigError(message, path=self.source, line=self.line_of(table, key, index))

    def table(self, name: str, required: bool = False) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if required and name not in self.raw:
            return self._missing_table(name)
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table", path=self.source, line=self.line_of(name))
        for key in value:
            if key not in self.KNOWN[name]:
                raise self.fail(f"unknown key {key!r} in [{name}]", name, key)
        return value

    def _missing_table(self, name: str) -> dict[str, Any]:
        raise ConfigError(f"missing [{name}] table", path=self.source)

    def typed(self, table: str, data: dict[str, Any], key: str, kind: type | tuple[type, ...],
              default: Any = None, index: int = 0) -> Any:
        if key not in data:
            return default
        value = data[key]
        # bool is an int in Python; an operator writing `port = true` made a mistake.
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(f"{key} must be a number, not a boolean", table, key, index)
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{key} must be {want}, got {type(value).__name__}", table, key, index)
        return value

    def str_list(self, table: str, data: dict[str, Any], key: str, index: int = 0) -> tuple[str, ...]:
        value = self.typed(table, data, key, list, [], index)
        for item in value:
            if not isinstance(item, str) or not item:
                raise self.fail(f"{key} must be a list of non-empty strings", table, key, index)
        return tuple(value)


def line_from_toml_error(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def strip_position(message: str) -> str:
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
