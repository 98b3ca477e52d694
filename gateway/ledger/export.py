"""Exported log text that is safe to open: no spreadsheet formulas, no hidden direction changes.

Browsers' User-Agent strings and the `next` path reach the log from visitors. A cell that starts
with = + - @, a tab or a CR is read as a formula by spreadsheets (OWASP "CSV injection"): it gets a
leading '. Bidi controls (which reorder what a reader sees) and C1 controls are shown as \\uXXXX
text in CSV, and as JSON escapes in JSON Lines (the value stays exact for a program).
"""

from __future__ import annotations

import json
import re
from typing import Any

# U+0080-U+009F (C1), U+061C/U+200E/U+200F (marks), U+202A-U+202E (embeddings, overrides),
# U+2066-U+2069 (isolates): every bidi formatting character of Unicode's table
_HIDDEN = re.compile("[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def visible(text: str) -> str:
    return _HIDDEN.sub(_escape, text)


def csv_cell(value: object) -> str:
    text = visible(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(row: dict[str, Any]) -> dict[str, str]:
    return {k: csv_cell(" ".join(v) if isinstance(v, list) else v) for k, v in row.items()}


def json_line(row: dict[str, Any]) -> str:
    # The characters can only occur inside JSON strings, where \uXXXX is the same value.
    return visible(json.dumps(row, ensure_ascii=False))
