"""Chart geometry for the server-rendered SVG (dashboard/templates/dashboard/_*.html).

Pure functions from figures to coordinates: the templates only place what these return,
so the markup stays escaped by Django and no chart library reaches the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

WIDTH, HEIGHT = 360, 140
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 18, 22


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str
    starts_run: bool  # the bucket before had no data: the line moves here, not draws


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    series: str
    css: str
    title: str


@dataclass
class Series:
    name: str
    label: str
    css: str
    points: list[Point] = field(default_factory=list)

    @property
    def path(self) -> str:
        """One line through the points; a bucket without data breaks it (a new move)."""
        return " ".join(
            f"{'M' if point.starts_run else 'L'}{point.x:.1f},{point.y:.1f}"
            for point in self.points
        )


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    width: int = WIDTH
    height: int = HEIGHT
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    empty: bool = True

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_top(self) -> int:
        return TOP

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def center_x(self) -> float:
        return (LEFT + self.width - RIGHT) / 2

    @property
    def center_y(self) -> float:
        return (TOP + self.height - BOTTOM) / 2


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover (10 always covers)


def _number(value: float) -> str:
    return f"{value:g}" if value < 10000 else f"{value / 1000:g}k"


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _x_center(index: int, count: int) -> float:
    return LEFT + (index + 0.5) * (WIDTH - LEFT - RIGHT) / count


def _axes(chart: Chart, buckets: list[datetime], top: float, time_format: str) -> None:
    chart.y_ticks = [Tick(_y(value, top), _number(value)) for value in (0, top / 2, top)]
    count = len(buckets)
    picks = sorted({0, count // 2, count - 1}) if count else []
    chart.x_ticks = [Tick(_x_center(i, count), buckets[i].strftime(time_format)) for i in picks]


def line_chart(
    *,
    id: str,
    title: str,
    unit: str,
    buckets: list[datetime],
    series: list[tuple[str, str, str, list[float | None]]],
    time_format: str,
) -> Chart:
    """``series``: (name, label, css class, one value or None per bucket)."""
    chart = Chart(id=id, title=title, unit=unit)
    values = [v for *_, data in series for v in data if v is not None]
    top = nice_ceiling(max(values, default=0))
    _axes(chart, buckets, top, time_format)
    for name, label, css, data in series:
        line, previous = Series(name, label, css), -2
        for index, value in enumerate(data):
            if value is not None:
                line.points.append(
                    Point(
                        _x_center(index, len(buckets)),
                        _y(value, top),
                        f"{buckets[index].strftime(time_format)} {label}: {_number(value)} {unit}",
                        starts_run=previous != index - 1,
                    )
                )
                previous = index
        chart.series.append(line)
    chart.empty = not values
    return chart


def bar_chart(
    *,
    id: str,
    title: str,
    unit: str,
    buckets: list[datetime],
    series: list[tuple[str, str, str, list[int]]],
    time_format: str,
) -> Chart:
    """Stacked bars, one column per bucket; a zero draws nothing."""
    chart = Chart(
        id=id,
        title=title,
        unit=unit,
        series=[Series(name, label, css) for name, label, css, _ in series],
    )
    totals = [sum(data[i] for *_, data in series) for i in range(len(buckets))]
    top = nice_ceiling(max(totals, default=0))
    _axes(chart, buckets, top, time_format)
    slot = (WIDTH - LEFT - RIGHT) / max(len(buckets), 1)
    width = max(slot * 0.7, 1.0)
    for index, bucket in enumerate(buckets):
        base = 0.0
        for name, label, css, data in series:
            value = data[index]
            if value <= 0:
                continue
            y_top, y_base = _y(base + value, top), _y(base, top)
            chart.bars.append(
                Bar(
                    _x_center(index, len(buckets)) - width / 2,
                    y_top,
                    width,
                    y_base - y_top,
                    value,
                    name,
                    css,
                    f"{bucket.strftime(time_format)} {label}: {_number(value)} {unit}",
                )
            )
            base += value
    chart.empty = not any(totals)
    return chart


@dataclass(frozen=True)
class UsageBar:
    label: str
    used: int
    limit: int
    percent: float
    y: float
    width: float
    css: str


USAGE_TRACK, USAGE_ROW = 160, 15


def usage_bars(pools: list[dict[str, Any]]) -> list[UsageBar]:
    """One bar per rate-limit window of each pool: used of its ceiling, 90 % and up red."""
    bars: list[UsageBar] = []
    for pool in pools:
        for window in pool.get("windows", []):
            percent = float(window["percent"])
            css = "usage-high" if percent >= 90 else "usage-mid" if percent >= 70 else "usage-ok"
            bars.append(
                UsageBar(
                    f"{pool['destination']} {window['name']}",
                    int(window["used"]),
                    int(window["limit"]),
                    round(percent, 1),
                    len(bars) * USAGE_ROW,
                    USAGE_TRACK * min(percent, 100.0) / 100,
                    css,
                )
            )
    return bars


def usage_height(bars: list[UsageBar]) -> int:
    return len(bars) * USAGE_ROW
