"""The dashboard's time charts: long ranges folded to a bounded number of points, years on the axis."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from gateway.charts import (
    BOTTOM,
    CHAR_WIDTH,
    HEIGHT,
    MAX_POINTS,
    MAX_X_TICKS,
    TOP,
    WIDTH,
    bucket_start,
    choose_unit,
    fold,
    label,
    line_chart,
    nice_max,
    stacked_chart,
)

END = dt.date(2026, 6, 30)


def daily(days: int, end: dt.date = END) -> dict[str, dict[str, int]]:
    """`days` days of decisions up to `end`, with a weekly rhythm and a slow drift."""
    out = {}
    for i in range(days):
        day = end - dt.timedelta(days=i)
        total = 50 + 10 * (day.weekday() < 5) + i % 7
        out[day.isoformat()] = {"_total": total, "identity": total * 3 // 4, "personalization": total // 3,
                                "@accept_all": total // 3, "@reject_all": total - total // 3}
    return out


def test_520_days_are_weekly_points_with_years_on_the_axis() -> None:
    start = END - dt.timedelta(days=519)
    unit = choose_unit(start, END)
    buckets = fold(daily(520), start, END, unit)
    assert unit == "week" and 74 <= len(buckets) <= 76 <= MAX_POINTS
    assert sum(b.total for b in buckets) == sum(d["_total"] for d in daily(520).values())  # nothing lost
    chart = line_chart(buckets, ("identity", "personalization"), unit)
    assert len(chart["xs"]) == len(buckets)
    for line in chart["series"]:
        assert line["path"].count("L") == len(buckets) - 1 and line["dots"] == []  # one line, no dots
    labels = [t["label"] for t in chart["x_ticks"]]
    assert 4 <= len(labels) <= MAX_X_TICKS
    assert all(re.fullmatch(r"20[0-9]{2}-[0-9]{2}", x) for x in labels)  # weekly: the month of each tick
    assert {x[:4] for x in labels} == {"2025", "2026"}  # both years named
    assert [t["label"] for t in chart["y_ticks"]] == ["0%", "25%", "50%", "75%", "100%"]
    xs = [t["x"] for t in chart["x_ticks"]]
    assert xs == sorted(xs) and chart["x_ticks"][-1]["x"] <= chart["right"]


def test_the_unit_grows_with_the_range() -> None:
    def unit(days: int) -> str:
        return choose_unit(END - dt.timedelta(days=days - 1), END)

    assert [unit(n) for n in (1, 30, 90, 120)] == ["day"] * 4
    assert [unit(n) for n in (121, 365, 520, 800)] == ["week"] * 4
    assert unit(3000) == "month" and unit(9000) == "quarter" and unit(30_000) == "year"


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), st.integers(0, 36_500))
def test_any_range_stays_within_max_points(start: dt.date, days: int) -> None:
    end = min(start + dt.timedelta(days=days), dt.date(2100, 12, 31))
    unit = choose_unit(start, end)
    buckets = fold({}, start, end, unit)
    assert 1 <= len(buckets) <= MAX_POINTS
    assert buckets[0].start == start and buckets[-1].end == end  # clipped to the range, contiguous
    for a, b in zip(buckets, buckets[1:], strict=False):
        assert a.end + dt.timedelta(days=1) == b.start
    ticks = line_chart(buckets, ("a",), unit)["x_ticks"]
    assert 1 <= len(ticks) <= MAX_X_TICKS
    edges = []
    for t in ticks:  # every label inside the picture, none over another
        width = CHAR_WIDTH * len(t["label"])
        left = t["x"] - (width if t["anchor"] == "end" else width / 2)
        assert 0 <= left and left + width <= WIDTH
        edges.append((left, left + width))
    assert all(b[0] >= a[1] + 10 for a, b in zip(edges, edges[1:], strict=False))


def test_labels_always_carry_the_year() -> None:
    day = dt.date(2025, 11, 12)
    assert [label(bucket_start(day, u), u) for u in ("day", "week", "month", "quarter", "year")] == \
        ["2025-11-12", "2025-11-10", "2025-11", "2025 Q4", "2025"]


def test_a_gap_in_the_data_is_a_gap_in_the_line() -> None:
    start = dt.date(2026, 1, 1)
    data = {"2026-01-01": {"_total": 2, "a": 1}, "2026-01-02": {"_total": 4, "a": 4},
            "2026-01-04": {"_total": 1, "a": 0},  # the 3rd had no decisions
            "2026-01-06": {"_total": 5, "a": 5}, "2026-01-07": {"_total": 5, "a": 5}}
    buckets = fold(data, start, dt.date(2026, 1, 7), "day")
    line = line_chart(buckets, ("a",), "day")["series"][0]
    assert line["rates"] == [50.0, 100.0, None, 0.0, None, 100.0, 100.0]
    assert line["path"].count("M") == 2 and len(line["dots"]) == 1  # the lone 4th is a dot
    top, bottom = TOP, HEIGHT - BOTTOM
    assert all(top <= y <= bottom for _, y in line["dots"])


def test_stacked_areas_are_per_day_so_cut_periods_do_not_dip() -> None:
    # a week range that starts on a Sunday and ends on a Tuesday: the first and last weeks are cut
    start, end = dt.date(2026, 1, 4), dt.date(2026, 1, 20)
    data = {(start + dt.timedelta(days=i)).isoformat(): {"x": 7} for i in range((end - start).days + 1)}
    buckets = fold(data, start, end, "week")
    chart = stacked_chart(buckets, ("x",), "week")
    assert chart["days"] == [1, 7, 7, 2] and chart["totals"] == [7, 49, 49, 14]
    assert chart["series"][0]["per_day"] == [7.0] * 4  # flat, as the traffic was
    assert len({y for _, y in (p.split(",") for p in chart["series"][0]["edge"].split())}) == 1


def test_stacked_areas_sum_to_the_total_with_round_ticks() -> None:
    buckets = fold({"2026-01-01": {"x": 730, "y": 270}, "2026-01-02": {"x": 10}}, dt.date(2026, 1, 1),
                   dt.date(2026, 1, 2), "day")
    chart = stacked_chart(buckets, ("x", "y"), "day")
    assert chart["totals"] == [1000, 10]
    assert [t["label"] for t in chart["y_ticks"]] == ["0", "250", "500", "750", "1,000"]
    top_edge = chart["series"][-1]["edge"].split()
    assert float(top_edge[0].split(",")[1]) == TOP  # 1,000 reaches the top of the plot
    assert chart["hover"][0]["rows"] == [("x", "730"), ("y", "270")] and chart["hover"][0]["total"] == "1,000"


def test_nice_max() -> None:
    assert nice_max(0) == (1.0, 0.25)
    assert nice_max(3) == (3.0, 1.0)
    assert nice_max(97) == (100.0, 25.0)
    assert nice_max(1234) == (1500.0, 500.0)
    assert nice_max(50_001) == (60_000.0, 20_000.0)


def test_one_day_is_still_visible() -> None:
    buckets = fold({"2026-01-01": Counter({"_total": 3, "a": 3})}, dt.date(2026, 1, 1), dt.date(2026, 1, 1), "day")
    assert len(stacked_chart(buckets, ("a",), "day")["series"][0]["points"].split()) == 4  # a band, not a line
    assert len(line_chart(buckets, ("a",), "day")["series"][0]["dots"]) == 1
