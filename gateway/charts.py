"""Time-series charts for the dashboard, as geometry a template turns into inline SVG (no script).

A long range is folded into weeks, months, quarters or years so that a chart never has more than
MAX_POINTS points: 520 days are 75 weekly points, not 520 overlapping dots. Every x-axis label
carries its year; the y-axis has round values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_POINTS = 120
MAX_X_TICKS = 8
UNITS = ("day", "week", "month", "quarter", "year")
# Colour-blind-safe (Okabe–Ito, darkened for contrast on white), one per series, in order.
PALETTE = ("#0060a8", "#c05600", "#007a5a", "#b0387d", "#5b4bb7", "#8a6d00", "#2f7f9e", "#555555")
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 36
CHAR_WIDTH = 7.2  # an axis label's digit at 12px, generously: enough to keep labels apart


@dataclass(frozen=True)
class Bucket:
    start: dt.date
    end: dt.date  # inclusive; clipped to the range
    counts: Counter[str]

    @property
    def total(self) -> int:
        return self.counts["_total"]


def bucket_start(day: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def next_start(start: dt.date, unit: str) -> dt.date:
    if unit == "day":
        return start + dt.timedelta(days=1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def bucket_count(start: dt.date, end: dt.date, unit: str) -> int:
    n, cursor = 0, bucket_start(start, unit)
    while cursor <= end:
        n, cursor = n + 1, next_start(cursor, unit)
    return n


def choose_unit(start: dt.date, end: dt.date) -> str:
    """The finest unit that keeps the chart at MAX_POINTS points or fewer."""
    days = (end - start).days + 1
    for unit, per in (("day", 1), ("week", 7), ("month", 28), ("quarter", 89)):
        if days / per <= MAX_POINTS and bucket_count(start, end, unit) <= MAX_POINTS:
            return unit
    return "year"


def fold(per_day: Mapping[str, Mapping[str, int]], start: dt.date, end: dt.date, unit: str) -> list[Bucket]:
    """Daily counts ("YYYY-MM-DD" -> key -> n) into consecutive buckets covering start..end, empty
    ones included (a gap in the data is a gap on the chart, not a shortcut between two points)."""
    buckets: list[Bucket] = []
    index: dict[dt.date, Bucket] = {}
    cursor = bucket_start(start, unit)
    while cursor <= end:
        following = next_start(cursor, unit)
        b = Bucket(max(cursor, start), min(following - dt.timedelta(days=1), end), Counter())
        buckets.append(b)
        index[cursor] = b
        cursor = following
    for day_text, counts in per_day.items():
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            continue
        if start <= day <= end:
            index[bucket_start(day, unit)].counts.update(counts)
    return buckets


def label(day: dt.date, unit: str) -> str:
    """An x-axis label: always with its year."""
    if unit == "month":
        return f"{day.year}-{day.month:02d}"
    if unit == "quarter":
        return f"{day.year} Q{(day.month - 1) // 3 + 1}"
    if unit == "year":
        return str(day.year)
    return day.isoformat()


def nice_max(value: float) -> tuple[float, float]:
    """A round top for the y-axis above `value`, and the step between its ticks (4-5 ticks)."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step - 1e-9), step


def _x_positions(n: int) -> list[float]:
    inner = WIDTH - LEFT - RIGHT
    if n == 1:
        return [LEFT + inner / 2]
    return [round(LEFT + inner * i / (n - 1), 1) for i in range(n)]


def _y(value: float, top: float) -> float:
    inner = HEIGHT - TOP - BOTTOM
    return round(HEIGHT - BOTTOM - inner * value / top, 1)


def tick_label(day: dt.date, unit: str) -> str:
    """A week's tick names its month: the tick sits where that month's first week begins."""
    return label(day, "month") if unit == "week" else label(day, unit)


def x_ticks(buckets: Sequence[Bucket], unit: str, xs: Sequence[float]) -> list[dict[str, Any]]:
    """At most MAX_X_TICKS labels, evenly spread, never overlapping; weekly charts label the
    first week of a month, so the axis reads as a calendar (2025-08, 2025-11, 2026-02, ...)."""
    n = len(buckets)
    if n == 0:
        return []
    if unit == "week":
        candidates = [i for i, b in enumerate(buckets)
                      if (i == 0 and b.start.day <= 7) or (i > 0 and b.start.month != buckets[i - 1].start.month)]
    else:
        candidates = list(range(n))
    step = max(1, math.ceil(len(candidates) / MAX_X_TICKS))
    ticks: list[dict[str, Any]] = []
    right_edge = -math.inf
    for i in candidates[::step]:
        text = tick_label(buckets[i].start, unit)
        width = CHAR_WIDTH * len(text)
        # the last labels end at the plot's right edge instead of running off it
        anchor = "end" if xs[i] + width / 2 > WIDTH - 2 else "middle"
        left = xs[i] - (width if anchor == "end" else width / 2)
        if left < right_edge + 10:
            continue  # too close to the previous label: skipped, not overprinted
        ticks.append({"x": xs[i], "label": text, "anchor": anchor})
        right_edge = left + width
    return ticks


def _frame(buckets: Sequence[Bucket], unit: str, top: float, step: float, percent: bool) -> dict[str, Any]:
    xs = _x_positions(len(buckets))
    y_ticks = []
    value = 0.0
    while value <= top + 1e-9:
        text = f"{value:.0f}%" if percent else f"{value:,.{0 if step >= 1 else 1}f}"
        y_ticks.append({"y": _y(value, top), "label": text})
        value += step
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "bottom": HEIGHT - BOTTOM,
            "top": TOP, "unit": unit, "xs": xs, "x_ticks": x_ticks(buckets, unit, xs), "y_ticks": y_ticks,
            "hover": _hover_bands(buckets, xs, unit)}


def _hover_bands(buckets: Sequence[Bucket], xs: Sequence[float], unit: str) -> list[dict[str, Any]]:
    """One invisible band per point, so a pointer over it shows that period's figures (SVG <title>)."""
    half = (xs[1] - xs[0]) / 2 if len(xs) > 1 else (WIDTH - LEFT - RIGHT) / 2
    period = [b.start.isoformat() if b.start == b.end or unit == "day" else f"{b.start} – {b.end}"
              for b in buckets]
    return [{"x": round(x - half, 1), "w": round(2 * half, 1), "period": p, "total": f"{b.total:,}"}
            for x, p, b in zip(xs, period, buckets, strict=True)]


def line_chart(buckets: Sequence[Bucket], series: Sequence[str], unit: str) -> dict[str, Any]:
    """Opt-in rate per series (0-100 %) per bucket: one line each; a bucket without decisions is
    a gap, and a lone point between gaps is drawn as a dot."""
    frame = _frame(buckets, unit, 100.0, 25.0, percent=True)
    xs = frame["xs"]
    lines = []
    for i, key in enumerate(series):
        rates = [100 * b.counts[key] / b.total if b.total else None for b in buckets]
        segments: list[list[tuple[float, float]]] = [[]]
        for x, r in zip(xs, rates, strict=True):
            if r is None:
                if segments[-1]:
                    segments.append([])
            else:
                segments[-1].append((x, _y(r, 100.0)))
        path = " ".join("M" + " L".join(f"{px},{py}" for px, py in seg) for seg in segments if len(seg) > 1)
        dots = [seg[0] for seg in segments if len(seg) == 1]
        lines.append({"id": key, "colour": PALETTE[i % len(PALETTE)], "path": path, "dots": dots,
                      "rates": rates})
    for j, band in enumerate(frame["hover"]):
        band["rows"] = [(line["id"], "–" if line["rates"][j] is None else f"{line['rates'][j]:.1f}%")
                        for line in lines]
    return frame | {"series": lines}


def per_day_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def stacked_chart(buckets: Sequence[Bucket], series: Sequence[str], unit: str) -> dict[str, Any]:
    """Decisions per day (each bucket's count over its days) per series, stacked bottom to top in
    `series` order. Per day, so a range's first and last periods, cut short by the range, read
    the same as whole ones instead of dipping."""
    days = [(b.end - b.start).days + 1 for b in buckets]
    rates = {k: [b.counts[k] / d for b, d in zip(buckets, days, strict=True)] for k in series}
    totals = [sum(b.counts[k] for k in series) for b in buckets]
    top, step = nice_max(max((t / d for t, d in zip(totals, days, strict=True)), default=0))
    frame = _frame(buckets, unit, top, step, percent=False)
    xs = frame["xs"]
    below = [0.0] * len(buckets)
    areas = []
    for i, key in enumerate(series):
        above = [lo + r for lo, r in zip(below, rates[key], strict=True)]
        upper = [(x, _y(v, top)) for x, v in zip(xs, above, strict=True)]
        lower = [(x, _y(v, top)) for x, v in zip(xs, below, strict=True)]
        if len(xs) == 1:  # one period: a bar-like band, so it is still visible
            (x, yu), (_, yl) = upper[0], lower[0]
            upper, lower = [(x - 8, yu), (x + 8, yu)], [(x - 8, yl), (x + 8, yl)]
        outline = upper + lower[::-1]
        areas.append({"id": key, "colour": PALETTE[i % len(PALETTE)],
                      "points": " ".join(f"{px},{py}" for px, py in outline),
                      "edge": " ".join(f"{px},{py}" for px, py in upper),
                      "values": [b.counts[key] for b in buckets], "per_day": rates[key]})
        below = above
    for j, band in enumerate(frame["hover"]):
        band["total"] = f"{totals[j]:,}"
        band["rows"] = [(area["id"], f"{area['values'][j]:,}") for area in areas]
    return frame | {"series": areas, "totals": totals, "days": days}
