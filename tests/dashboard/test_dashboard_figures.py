"""The dashboard's figures (dashboard.selectors): percentiles, uptime, buckets, order
outcomes, and a query count that does not grow with the connections."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import ValidationFailed
from dashboard.selectors import RANGES, dashboard_overview, dashboard_range
from tests.dashboard.conftest import add_checks, add_order, make_connection, set_stream

pytestmark = pytest.mark.django_db


def _only(overview: dict[str, Any]) -> dict[str, Any]:
    [item] = overview["connections"]
    return item


def test_latency_percentiles_and_uptime_come_from_the_checks_of_the_range(staff, now) -> None:
    connection = make_connection(staff, name="okx")
    add_checks(connection, at=now, latencies=[100, 200, 300], failed=1)
    add_checks(connection, at=now - timedelta(hours=2), latencies=[5000], failed=4)  # older

    item = _only(dashboard_overview(user=staff, range_name="1h", now=now))

    assert (item["checks"], item["failedChecks"], item["uptimePercent"]) == (4, 1, 75.0)
    # percentile_cont over the passed checks: 200, and 200 + 0.98 * 100
    assert (item["latencyP50Ms"], item["latencyP99Ms"]) == (200, 298)
    assert item["series"]["checks"][-1] == 4 and item["series"]["failed"][-1] == 1
    assert sum(item["series"]["checks"]) == 4
    day = _only(dashboard_overview(user=staff, range_name="24h", now=now))
    assert (day["checks"], day["failedChecks"]) == (9, 5)


def test_each_range_has_its_buckets_and_the_last_holds_now(staff, now) -> None:
    connection = make_connection(staff, name="okx")
    add_checks(connection, at=now, latencies=[10])
    for name, span in RANGES.items():
        overview = dashboard_overview(user=staff, range_name=name, now=now)
        buckets = overview["buckets"]
        assert len(buckets) == span.buckets == len(_only(overview)["series"]["p50"])
        assert buckets[-1] <= now < buckets[-1] + span.step
        assert _only(overview)["series"]["p50"][-1] == 10
        assert overview["summary"]["healthSeries"]["checks"][-1] == 1


def test_a_bucket_without_checks_has_no_latency(staff, now) -> None:
    connection = make_connection(staff, name="okx")
    add_checks(connection, at=now - timedelta(minutes=10), latencies=[50])
    series = _only(dashboard_overview(user=staff, range_name="1h", now=now))["series"]
    assert series["p50"].count(None) == 11 and series["p50"][-3] == 50


def test_order_success_rate_placement_latency_and_what_needs_an_operator(staff, now) -> None:
    connection = make_connection(staff, name="okx")
    add_order(connection, at=now - timedelta(minutes=5), status="filled", placed_after_ms=100)
    add_order(connection, at=now - timedelta(minutes=5), status="open", placed_after_ms=300)
    add_order(connection, at=now - timedelta(minutes=5), status="rejected", placed_after_ms=200)
    add_order(
        connection,
        at=now - timedelta(minutes=5),
        status="unknown",
        placed_after_ms=None,
        flagged=True,
    )
    add_order(connection, at=now - timedelta(minutes=5), status="pending", placed_after_ms=None)
    add_order(connection, at=now - timedelta(days=30), status="unknown", placed_after_ms=None)

    orders = _only(dashboard_overview(user=staff, range_name="1h", now=now))["orders"]

    assert (orders["total"], orders["accepted"], orders["refused"], orders["unknown"]) == (
        5,
        2,
        1,
        1,
    )
    assert orders["successRate"] == 50.0  # 2 of 4 settled; pending counts for neither
    assert orders["placementP50Ms"] == 200 and orders["placementP99Ms"] == 298
    # now, whatever their age: both unknown orders, the one flagged
    assert (orders["unknownNow"], orders["flaggedNow"]) == (2, 1)


def test_exchanges_sum_their_connections_and_the_summary_sums_everything(staff, now) -> None:
    first = make_connection(staff, name="okx 1", health_status="healthy")
    second = make_connection(staff, name="okx 2", circuit="open", health_status="unhealthy")
    other = make_connection(staff, name="bybit", exchange="bybit", health_status="healthy")
    for connection, latency in ((first, 10), (second, 30), (other, 500)):
        add_checks(connection, at=now, latencies=[latency], failed=1)
    add_order(second, at=now, status="failed", flagged=True)

    overview = dashboard_overview(user=staff, range_name="1h", now=now)

    okx = next(item for item in overview["exchanges"] if item["exchange"] == "okx")
    assert (okx["connections"], okx["healthy"], okx["circuitsOpen"]) == (2, 1, 1)
    assert (okx["checks"], okx["latencyP50Ms"]) == (4, 20)
    assert okx["orders"]["flaggedNow"] == 1 and okx["orders"]["successRate"] == 0.0
    summary = overview["summary"]
    assert (summary["connections"], summary["healthy"], summary["unhealthy"]) == (3, 2, 1)
    assert (summary["circuitsOpen"], summary["checks"], summary["uptimePercent"]) == (1, 6, 50.0)
    assert summary["ordersFlagged"] == 1


def test_the_stream_is_shown_where_the_exchange_has_one(staff, now) -> None:
    connection = make_connection(staff, name="okx")
    set_stream(connection, state="reconnecting", reconnects=4, since=now)
    stream = _only(dashboard_overview(user=staff, range_name="1h", now=now))["stream"]
    assert (stream["state"], stream["reconnects"]) == ("reconnecting", 4)


def test_no_connections_gives_empty_figures(staff, now) -> None:
    overview = dashboard_overview(user=staff, range_name=None, now=now)
    assert overview["range"] == "24h"
    assert overview["connections"] == [] and overview["exchanges"] == []
    assert overview["summary"]["connections"] == 0
    assert overview["summary"]["uptimePercent"] is None


@pytest.mark.parametrize("name", ["2y", "1H", "24", " 1h"])
def test_an_unknown_range_is_refused_by_name(name: str) -> None:
    with pytest.raises(ValidationFailed, match="range must be one of 1h, 24h, 7d"):
        dashboard_range(name=name)


def _seed(owner: Any, count: int, now: Any) -> None:
    for number in range(count):
        connection = make_connection(
            owner, name=f"c{number}", exchange=("okx", "bybit", "binance")[number % 3]
        )
        add_checks(
            connection, at=now - timedelta(minutes=number % 50), latencies=[10, 20], failed=1
        )
        add_order(
            connection,
            at=now - timedelta(minutes=number % 50),
            status="filled",
            flagged=number % 2 == 0,
        )
        if number % 2:
            set_stream(connection, state="connected", since=now)


# connections with state and stream; health checks; orders; unknown and flagged orders
OVERVIEW_QUERIES = 4


@pytest.mark.parametrize("count", [1, 20])
def test_the_figures_take_the_same_queries_for_1_and_for_20_connections(
    staff, now, count: int, django_assert_num_queries: Any
) -> None:
    _seed(staff, count, now)
    with django_assert_num_queries(OVERVIEW_QUERIES):
        overview = dashboard_overview(user=staff, range_name="24h", now=now)
    assert len(overview["connections"]) == count


def test_connections_in_trouble_come_first(staff, now) -> None:
    make_connection(staff, name="a healthy", health_status="healthy")
    make_connection(staff, name="b degraded", health_status="degraded")
    make_connection(staff, name="c open", circuit="open", health_status="degraded")
    make_connection(staff, name="d unhealthy", exchange="bybit", health_status="unhealthy")
    names = [
        item["name"]
        for item in dashboard_overview(user=staff, range_name="1h", now=now)["connections"]
    ]
    assert names == ["c open", "d unhealthy", "b degraded", "a healthy"]
