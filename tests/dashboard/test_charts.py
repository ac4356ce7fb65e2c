"""Chart geometry (dashboard.charts): axes, gaps, stacks, rate-limit bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.charts import (
    BOTTOM,
    HEIGHT,
    TOP,
    USAGE_TRACK,
    bar_chart,
    line_chart,
    nice_ceiling,
    usage_bars,
)

BUCKETS = [datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(6)]


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (108, 200), (240, 250), (2801, 5000)],
)
def test_the_y_axis_ends_on_a_round_number(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == ceiling


def test_a_line_breaks_where_a_bucket_has_no_data_and_its_axes_are_labelled() -> None:
    chart = line_chart(
        id="c",
        title="Latency",
        unit="ms",
        buckets=BUCKETS,
        time_format="%H:%M",
        series=[("p50", "p50", "line-p50", [10, 20, None, 40, 50, None])],
    )
    [series] = chart.series
    assert len(series.points) == 4
    assert [part[0] for part in series.path.split()] == ["M", "L", "M", "L"]
    assert [tick.label for tick in chart.x_ticks] == ["12:00", "12:15", "12:25"]
    assert [tick.label for tick in chart.y_ticks] == ["0", "25", "50"]
    assert series.points[-1].y == pytest.approx(TOP)  # 50 of 50: the top of the plot
    assert series.points[-1].title == "12:20 p50: 50 ms"
    assert not chart.empty


def test_bars_stack_and_a_zero_draws_nothing() -> None:
    chart = bar_chart(
        id="c",
        title="Checks",
        unit="checks",
        buckets=BUCKETS[:3],
        time_format="%H:%M",
        series=[
            ("failed", "failed", "bar-failed", [1, 0, 2]),
            ("passed", "passed", "bar-passed", [3, 0, 2]),
        ],
    )
    assert [(bar.series, bar.value) for bar in chart.bars] == [
        ("failed", 1),
        ("passed", 3),
        ("failed", 2),
        ("passed", 2),
    ]
    first_failed, first_passed = chart.bars[:2]
    assert first_failed.y + first_failed.height == pytest.approx(HEIGHT - BOTTOM)
    assert first_passed.y + first_passed.height == pytest.approx(first_failed.y)
    assert [s.name for s in chart.series] == ["failed", "passed"]


def test_a_chart_without_data_says_so() -> None:
    assert line_chart(
        id="c",
        title="t",
        unit="ms",
        buckets=BUCKETS,
        time_format="%H:%M",
        series=[("p50", "p50", "x", [None] * 6)],
    ).empty
    assert bar_chart(
        id="c",
        title="t",
        unit="n",
        buckets=BUCKETS,
        time_format="%H:%M",
        series=[("n", "n", "x", [0] * 6)],
    ).empty


def test_each_pool_window_is_a_bar_of_its_ceiling() -> None:
    bars = usage_bars(
        [
            {
                "destination": "paper spot",
                "windows": [
                    {"name": "ip weight 1m", "used": 600, "limit": 1200, "percent": 50.0},
                    {"name": "orders 10s", "used": 95, "limit": 100, "percent": 95.0},
                ],
            }
        ]
    )
    assert [(bar.label, bar.used, bar.limit) for bar in bars] == [
        ("paper spot ip weight 1m", 600, 1200),
        ("paper spot orders 10s", 95, 100),
    ]
    assert bars[0].width == USAGE_TRACK / 2 and bars[0].css == "usage-ok"
    assert bars[1].css == "usage-high" and bars[1].y > bars[0].y
