"""The dashboard's date range: presets, from/to, and a clear 400 for anything else."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.daterange import DateRange, parse_query, parse_range
from gateway.errors import BadRequest

TODAY = dt.date(2026, 6, 30)


def rng(query: bytes) -> DateRange:
    return parse_range(parse_query(query), TODAY)


def refused(query: bytes) -> str:
    with pytest.raises(BadRequest) as e:
        rng(query)
    assert e.value.status == 400
    return e.value.message


def test_presets() -> None:
    assert rng(b"") == DateRange("90d", dt.date(2026, 4, 2), TODAY)  # 90 days, today included
    assert rng(b"range=&from=&to=") == rng(b"")  # a form's empty fields: the default
    assert rng(b"range=30d") == DateRange("30d", dt.date(2026, 6, 1), TODAY)
    assert rng(b"range=1y&lang=zh-CN") == DateRange("1y", dt.date(2025, 7, 1), TODAY)
    everything = rng(b"range=all")
    assert everything.start is None and everything.resolve(dt.date(2024, 1, 5)) == (dt.date(2024, 1, 5), TODAY)
    assert everything.resolve(None) == (TODAY, TODAY)  # an empty log


def test_from_and_to() -> None:
    assert rng(b"from=2025-01-01&to=2025-03-31") == DateRange("custom", dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert rng(b"from=2025-01-01") == DateRange("custom", dt.date(2025, 1, 1), TODAY)
    assert rng(b"to=2025-03-31").resolve(dt.date(2024, 2, 2)) == (dt.date(2024, 2, 2), dt.date(2025, 3, 31))
    assert rng(b"from=2025-01-01&to=2025-01-01").resolve(None) == (dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    # an open start after the end (the log starts later): an empty range at the end, not an error
    assert rng(b"to=2020-01-01").resolve(dt.date(2024, 1, 1)) == (dt.date(2020, 1, 1), dt.date(2020, 1, 1))


@pytest.mark.parametrize("query", [
    b"from=yesterday", b"from=2025-1-01", b"from=2025-01-01T00:00", b"from=20250101", b"from=2025-W01-1",
    b"to=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%95-01-01",  # full-width digits
    b"from=2025-01-01%0A", b"from=%202025-01-01", b"from=-2025-01-01", b"from=2025-01-01;2025-02-01",
])
def test_malformed_dates_say_the_format(query: bytes) -> None:
    assert "YYYY-MM-DD" in refused(query) or "ASCII" in refused(query)


@pytest.mark.parametrize(("query", "says"), [
    (b"from=2025-02-30", "not a real date"),
    (b"from=2025-13-01", "not a real date"),
    (b"from=0001-01-01", "between 2000-01-01 and 2100-12-31"),
    (b"to=9999-12-31", "between"),
    (b"from=2025-03-01&to=2025-02-01", "from must not be after to"),
    (b"range=7d", "range must be one of 30d, 90d, 1y, all"),
    (b"range=ALL", "range must be one of"),
    (b"range=30d&from=2025-01-01", "either range or from/to"),
    (b"from=2025-01-01&from=2025-02-01", "give from at most once"),
    (b"range=all&range=30d", "give range at most once"),
    (b"x=1&" * 20, "too many query parameters"),
    (b"from=" + b"1" * 2000, "too long"),
    (b"from=%FF", "YYYY-MM-DD"),
    ("from=2025-01-01\u00e9".encode(), "ASCII"),
])
def test_hostile_input_is_a_clear_400(query: bytes, says: str) -> None:
    assert says in refused(query)


@given(st.binary(max_size=200))
def test_any_bytes_give_a_range_or_a_400(query: bytes) -> None:
    try:
        r = rng(query)
    except BadRequest as e:
        assert e.status == 400 and e.message
    else:
        start, end = r.resolve(dt.date(2020, 1, 1))
        assert start <= end and dt.date(2000, 1, 1) <= start
