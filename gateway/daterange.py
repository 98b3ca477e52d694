"""The dashboard's date range from its query string: a preset (30d, 90d, 1y, all) or from/to dates.

Anything else is a 400 that says what is accepted: the page never guesses what a malformed date
meant. Dates are whole UTC days (the log's timestamps are UTC), both ends included.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gateway.errors import BadRequest

PRESETS = {"30d": 30, "90d": 90, "1y": 365, "all": 0}
DEFAULT_PRESET = "90d"
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)
MAX_QUERY = 1024
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: \d would take "２０２５"
KNOWN = ("range", "from", "to", "lang")


@dataclass(frozen=True)
class DateRange:
    preset: str  # one of PRESETS, or "custom"
    start: dt.date | None  # None: from the first logged decision
    end: dt.date  # inclusive

    def resolve(self, first_logged: dt.date | None) -> tuple[dt.date, dt.date]:
        """Both ends as dates; an open start begins at the first decision (or the end, with none)."""
        start = self.start or first_logged or self.end
        return min(start, self.end), self.end


def parse_query(raw: bytes) -> dict[str, str]:
    """The dashboard's own parameters, each at most once; other keys are ignored."""
    if len(raw) > MAX_QUERY:
        raise BadRequest(f"query string too long (limit {MAX_QUERY} bytes)")
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, max_num_fields=16)
    except UnicodeDecodeError:
        raise BadRequest("query string must be ASCII (percent-encode the rest)") from None
    except ValueError:
        raise BadRequest("too many query parameters") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in KNOWN:
            continue
        if key in out:
            raise BadRequest(f"give {key} at most once")
        out[key] = value
    return out


def parse_date(name: str, value: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise BadRequest(f"{name} must be a date like 2026-01-31 (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} is not a real date: {value}") from None
    if not EARLIEST <= day <= LATEST:
        raise BadRequest(f"{name} must be between {EARLIEST} and {LATEST}")
    return day


def parse_range(query: dict[str, str], today: dt.date) -> DateRange:
    """From the parsed query: `range=30d|90d|1y|all`, or `from`/`to` dates (either may be left out)."""
    start_text, end_text = query.get("from", ""), query.get("to", "")
    preset = query.get("range", "")
    if start_text or end_text:
        if preset and preset != "custom":
            raise BadRequest("give either range or from/to, not both")
        start = parse_date("from", start_text) if start_text else None
        end = parse_date("to", end_text) if end_text else today
        if start is not None and start > end:
            raise BadRequest("from must not be after to")
        return DateRange("custom", start, end)
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise BadRequest("range must be one of " + ", ".join(PRESETS) + " (or give from/to dates)")
    days = PRESETS[preset]
    return DateRange(preset, today - dt.timedelta(days=days - 1) if days else None, today)
