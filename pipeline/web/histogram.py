"""The date histogram of a result set, drawn as SVG on the server from the search's ``day`` facet.

Days without articles between the first and the last are filled with zero bars; a span longer than
:data:`MAX_DAY_BARS` days is drawn by month. Each bar links to the same search restricted to its day (or month).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from .params import SearchParams

WIDTH, HEIGHT, AXIS = 640, 120, 18
MAX_DAY_BARS = 120


@dataclass(frozen=True, slots=True)
class Bar:
    label: str       #: "2026-03-02" or "2026-03"
    count: int
    since: str
    until: str
    x: float
    y: float
    width: float
    height: float
    href: str


@dataclass(frozen=True, slots=True)
class Histogram:
    bars: list[Bar]
    width: int
    height: int
    axis_y: int
    first: str
    last: str
    peak: int
    total: int


def _buckets(days: dict[date, int]) -> list[tuple[str, date, date, int]]:
    """(label, first day, last day, count) per day, or per month over a long span."""
    first, last = min(days), max(days)
    if (last - first).days < MAX_DAY_BARS:
        span = (first + timedelta(n) for n in range((last - first).days + 1))
        return [(d.isoformat(), d, d, days.get(d, 0)) for d in span]
    months: dict[tuple[int, int], int] = {}
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months[(year, month)] = 0
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for d, n in days.items():
        months[(d.year, d.month)] += n
    return [(f"{y:04d}-{m:02d}", date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), n)
            for (y, m), n in months.items()]


def build_histogram(day_facet: dict[str, int] | None, params: SearchParams, base: str) -> Histogram | None:
    """Bars for the ``day`` facet (None when no hit has a date)."""
    days: dict[date, int] = {}
    for key, count in (day_facet or {}).items():
        try:
            days[date.fromisoformat(key[:10])] = days.get(date.fromisoformat(key[:10]), 0) + int(count)
        except ValueError:  # a facet key that is not a day is not drawn
            continue
    if not days:
        return None
    buckets = _buckets(days)
    peak = max(n for *_, n in buckets) or 1
    slot = WIDTH / len(buckets)
    plot = HEIGHT - AXIS
    bars = []
    for index, (label, start, end, count) in enumerate(buckets):
        height = round(plot * count / peak, 1) if count else 0.0
        bars.append(Bar(label=label, count=count, since=start.isoformat(), until=end.isoformat(),
                        x=round(index * slot + slot * 0.1, 1), y=round(plot - height, 1),
                        width=round(max(slot * 0.8, 1.0), 1), height=height,
                        href=base + "/" + params.query_string(since=start.isoformat(), until=end.isoformat(),
                                                              offset=0)))
    return Histogram(bars=bars, width=WIDTH, height=HEIGHT, axis_y=plot, first=buckets[0][0], last=buckets[-1][0],
                     peak=peak, total=sum(days.values()))
