"""The dashboard's page and JSON in the admin: who may see them, what they answer, and the
same number of queries whatever the number of connections."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.dashboard.conftest import add_checks, add_order, make_connection, set_stream

pytestmark = pytest.mark.django_db

PAGE, DATA = "/admin/dashboard/", "/admin/dashboard/data.json"


@pytest.fixture
def staff_browser(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("url", [PAGE, DATA])
def test_anonymous_is_sent_to_the_admin_login(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


@pytest.mark.parametrize("url", [PAGE, DATA])
def test_a_user_who_is_not_staff_is_sent_to_the_admin_login(owner: Any, url: str) -> None:
    client = Client()
    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_see_the_dashboard_in_the_admin_and_the_index_links_it(staff_browser: Client) -> None:
    page = staff_browser.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="site-name"' in html and "<h1>Health dashboard</h1>" in html
    assert "dashboard/dashboard.js" in html and "dashboard/dashboard.css" in html
    assert 'data-source="/admin/dashboard/data.json?range=24h"' in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing from elsewhere
    index = staff_browser.get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in index and "Health dashboard" in index
    assert "Exchange connections" in index  # the admin's own index is still there


def test_the_script_and_style_are_served_as_static_files(staff_browser: Client) -> None:
    for path in ("/static/dashboard/dashboard.js", "/static/dashboard/dashboard.css"):
        response = staff_browser.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content)
        assert b"http" not in body.replace(b"http://www.w3.org", b"")


def test_with_no_connections_the_page_shows_an_empty_state(staff_browser: Client) -> None:
    page = staff_browser.get(PAGE)
    assert page.status_code == 200
    assert b"data-empty-state" in page.content and b"No connections yet" in page.content
    data = staff_browser.get(DATA).json()
    assert data["connections"] == [] and data["summary"]["connections"] == 0
    assert "No connections yet" in data["fragments"]["summary"]


@pytest.mark.parametrize("url", [PAGE, DATA])
@pytest.mark.parametrize("value", ["2y", "../", "1h'; --", ""])
def test_a_bad_range_is_a_clear_400(staff_browser: Client, url: str, value: str) -> None:
    if value == "":
        assert staff_browser.get(f"{url}?range=").status_code == 200  # empty: the default
        return
    response = staff_browser.get(url, {"range": value})
    assert response.status_code == 400
    if url == DATA:
        assert response.json() == {
            "success": False,
            "error": {
                "code": "validation_error",
                "message": "range must be one of 1h, 24h, 7d",
                "fields": {"range": ["one of 1h, 24h, 7d"]},
            },
        }
    else:
        assert b"range must be one of 1h, 24h, 7d" in response.content
        assert b'id="site-name"' in response.content  # still the admin's page


CONNECTION_KEYS = {
    "id",
    "name",
    "exchange",
    "apiType",
    "environment",
    "enabled",
    "isActive",
    "status",
    "circuit",
    "circuitOpenedAt",
    "consecutiveFailures",
    "lastError",
    "lastErrorCode",
    "lastCheckAt",
    "lastLatencyMs",
    "checks",
    "failedChecks",
    "uptimePercent",
    "latencyP50Ms",
    "latencyP99Ms",
    "series",
    "orders",
    "rateLimitUsagePercent",
    "stream",
}


def test_the_json_carries_the_figures_and_the_fragments_to_swap(
    staff: Any, staff_browser: Client, now: Any
) -> None:
    connection = make_connection(
        staff, name="Paper okx", circuit="open", last_error="exchange down"
    )
    add_checks(connection, at=now, latencies=[40, 60], failed=1)
    add_order(connection, at=now, status="filled", flagged=True)
    set_stream(connection, state="connected", since=now)

    response = staff_browser.get(DATA, {"range": "1h"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    assert set(data) == {
        "range",
        "ranges",
        "generatedAt",
        "start",
        "end",
        "bucketSeconds",
        "buckets",
        "summary",
        "exchanges",
        "connections",
        "fragments",
    }
    assert (data["range"], data["ranges"], data["bucketSeconds"]) == (
        "1h",
        ["1h", "24h", "7d"],
        300,
    )
    assert len(data["buckets"]) == 12
    [item] = data["connections"]
    assert set(item) == CONNECTION_KEYS
    assert set(item["series"]) == {"checks", "failed", "p50", "p99"}
    assert all(len(values) == 12 for values in item["series"].values())
    assert set(item["orders"]) == {
        "total",
        "accepted",
        "refused",
        "unknown",
        "successRate",
        "placementP50Ms",
        "placementP99Ms",
        "unknownNow",
        "flaggedNow",
        "series",
    }
    assert item["stream"]["state"] == "connected"
    [exchange] = data["exchanges"]
    assert exchange["exchange"] == "okx" and "pools" in exchange["rateLimits"]
    assert set(data["fragments"]) == {"summary", "exchanges", "connections"}
    assert 'data-circuit="open"' in data["fragments"]["connections"]
    assert "exchange down" in data["fragments"]["connections"]
    assert "<svg" in data["fragments"]["summary"]


def test_the_links_open_the_order_list_filtered(
    staff: Any, staff_browser: Client, now: Any
) -> None:
    connection = make_connection(staff, name="Paper okx")
    flagged = add_order(connection, at=now, status="filled", flagged=True)
    add_order(connection, at=now, status="filled")
    html = staff_browser.get(PAGE).content.decode()
    links = set(re.findall(r'href="(/admin/orders/order/\?[^"]+)"', html))
    assert f"/admin/orders/order/?flagged__exact=1&amp;connection__exact={connection.pk}" in links
    for link in links:
        listed = staff_browser.get(link.replace("&amp;", "&"))
        assert listed.status_code == 200, link
        if "flagged" in link:
            assert list(listed.context["cl"].result_list) == [flagged]


def _seed(owner: Any, count: int, now: Any) -> None:
    for number in range(count):
        connection = make_connection(
            owner,
            name=f"c{number}",
            exchange=("okx", "bybit", "binance", "bingx")[number % 4],
            circuit="open" if number % 5 == 0 else "closed",
            last_error="down" if number % 5 == 0 else "",
        )
        add_checks(
            connection, at=now - timedelta(minutes=number), latencies=[10, 20], failed=number % 2
        )
        add_order(
            connection,
            at=now - timedelta(minutes=number),
            status="unknown",
            flagged=number % 3 == 0,
        )
        set_stream(connection, state="connected", since=now)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(db) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_and_the_json_take_the_same_queries_for_1_and_for_20_connections(
    staff: Any, staff_browser: Client, make_user: Any, now: Any
) -> None:
    _seed(staff, 1, now)
    one = {url: _queries(staff_browser, url) for url in (PAGE, DATA)}
    _seed(make_user("other"), 19, now)
    twenty = {url: _queries(staff_browser, url) for url in (PAGE, DATA)}
    assert staff_browser.get(DATA).json()["summary"]["connections"] == 20
    assert twenty == one
    assert one[DATA] <= 8  # session, user, and the overview's 4
