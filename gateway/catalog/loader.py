"""Reads catalog files: one JSON object per line (format in gateway/catalog/README.md).

Operators' `extra` files are read with the same code as the shipped data, so every limit here is
also the defence against a hostile or broken file: sizes are capped, every field is typed and
bounded, control characters are refused, and each error names the file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_LINE = 8192
MAX_ENTRIES = 200_000
MAX_FIELD = 500
MAX_PATTERN = 200

KINDS = ("cookie", "script", "pixel", "iframe")
PURPOSES = ("necessary", "functional", "analytics", "marketing")
CONFIDENCES = ("", "high", "medium", "low")
FIELDS = frozenset({"kind", "pattern", "vendor", "controller", "country", "purpose", "retention", "description",
                    "domain", "confidence", "source", "remove"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# RFC 6265 token characters (what browsers send as a name), with `*` as our wildcard
_COOKIE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z:\[\]/@?{}()<>]+")
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)+")
_PATH = re.compile(r"/[!#$%&'()*+,\-./0-9:;=?@A-Z\[\]_a-z~]*")


class CatalogError(ConfigError):
    """A catalog file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # cookie | script | pixel | iframe
    pattern: str  # cookie glob, or lower-case host[/path] for the others
    vendor: str
    purpose: str  # necessary | functional | analytics | marketing
    country: str = ""  # ISO 3166-1 alpha-2 of the data controller; "" = unknown
    retention: str = ""
    description: str = ""
    controller: str = ""
    domain: str = ""
    confidence: str = ""  # high | medium | low | "" (not rated)
    source: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Entries with the same key are the same entry: a later file corrects an earlier one."""
        return ("cookie" if self.kind == "cookie" else "url", self.pattern)


@dataclass(frozen=True, slots=True)
class Removal:
    key: tuple[str, str]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} given twice")
        out[k] = v
    return out


def check_pattern(kind: str, pattern: str) -> str:
    """The pattern in its stored form, or ValueError saying what is wrong with it."""
    if not pattern or len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern must be 1 to {MAX_PATTERN} characters")
    if kind == "cookie":
        if not _COOKIE.fullmatch(pattern):
            raise ValueError(f"cookie pattern {pattern!r} has characters a cookie name cannot have")
        if pattern.count("*") > 2:
            raise ValueError(f"cookie pattern {pattern!r}: at most two '*'")
        if "*" in pattern and len(pattern.replace("*", "")) < 2:
            raise ValueError(f"cookie pattern {pattern!r} would match nearly every cookie")
        return pattern
    low = pattern.lower()
    if "://" in low or low.startswith("//"):
        raise ValueError(f"write {pattern!r} without the scheme: host or host/path")
    host, slash, path = low.partition("/")
    if not _HOST.fullmatch(host) or host.startswith("-"):
        raise ValueError(f"{pattern!r} does not start with a host name like cdn.example.com")
    if slash and not _PATH.fullmatch("/" + path):
        raise ValueError(f"{pattern!r}: the path has characters a URL cannot have unescaped")
    return low


def parse_entry(obj: Any) -> Entry | Removal:
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    unknown = set(obj) - FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(FIELDS))}")
    for k, v in obj.items():
        if k == "remove":
            if not isinstance(v, bool):
                raise ValueError("remove must be true or false")
        elif not isinstance(v, str):
            raise ValueError(f"{k} must be a string")
        elif len(v) > MAX_FIELD:
            raise ValueError(f"{k} is longer than {MAX_FIELD} characters")
        elif _CONTROL.search(v):
            raise ValueError(f"{k} contains a control character")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if "pattern" not in obj:
        raise ValueError("pattern is missing")
    pattern = check_pattern(kind, obj["pattern"])
    if obj.get("remove"):
        return Removal(("cookie" if kind == "cookie" else "url", pattern))
    if obj.get("purpose") not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    if not obj.get("vendor", "").strip():
        raise ValueError("vendor is missing")
    country = obj.get("country", "")
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError("country must be a two-letter ISO 3166 code like CN or US, or empty")
    if obj.get("confidence", "") not in CONFIDENCES:
        raise ValueError("confidence must be high, medium or low")
    fields = {k: v for k, v in obj.items() if k not in ("remove", "pattern")}
    return Entry(pattern=pattern, **fields)


def read_file(path: Path) -> list[Entry | Removal]:
    """Every entry of one file, in order; CatalogError at the first problem."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise CatalogError(f"cannot read the catalog file ({e.strerror or e})", path=str(path)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise CatalogError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", path=str(path))
    out: list[Entry | Removal] = []
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if len(line) > MAX_LINE:
            raise CatalogError(f"line longer than {MAX_LINE} bytes", path=str(path), line=lineno)
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise CatalogError("not UTF-8", path=str(path), line=lineno) from None
        if not text or text.startswith("#"):
            continue
        if not text.startswith("{"):
            raise CatalogError("each line must be a JSON object ({...}), a # comment or empty",
                               path=str(path), line=lineno)
        try:
            out.append(parse_entry(json.loads(text, object_pairs_hook=_no_duplicates)))
        except RecursionError:
            raise CatalogError("nested too deeply", path=str(path), line=lineno) from None
        except json.JSONDecodeError as e:
            raise CatalogError(f"not valid JSON ({e.msg} at column {e.colno})",
                               path=str(path), line=lineno) from None
        except (ValueError, TypeError) as e:
            raise CatalogError(str(e), path=str(path), line=lineno) from None
        if len(out) > MAX_ENTRIES:
            raise CatalogError(f"more than {MAX_ENTRIES} entries in one file", path=str(path), line=lineno)
    return out
