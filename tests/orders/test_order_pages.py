"""The order list's pages: next and previous keep the query string as sent, with offset
and limit set, and the page past the end is empty."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orders.conftest import order_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_orders(owner_client: Any, make_connection: Any) -> list[str]:
    connection = make_connection(price_band_percent=None)
    ids = []
    for price in ("59000", "58000", "57000"):
        response = owner_client.post(
            "/api/orders", order_body(connection, price=price), format="json"
        )
        assert response.status_code == 202
        ids.append(response.json()["order"]["id"])
    return ids


def test_a_middle_page_links_both_ways_keeping_the_filters(owner_client, three_orders):
    page = owner_client.get("/api/orders?symbol=BTC/USDT&limit=1&offset=1").json()
    assert page["count"] == 3 and [o["id"] for o in page["orders"]] == [three_orders[1]]
    assert page["next"] == "http://testserver/api/orders?symbol=BTC%2FUSDT&limit=1&offset=2"
    assert page["previous"] == ("http://testserver/api/orders?symbol=BTC%2FUSDT&limit=1&offset=0")


def test_the_first_page_links_on_with_the_limit_kept_in_place(owner_client, three_orders):
    page = owner_client.get("/api/orders?status=pending&limit=2").json()
    assert [o["id"] for o in page["orders"]] == three_orders[:0:-1]
    assert page["next"] == "http://testserver/api/orders?status=pending&limit=2&offset=2"
    assert page["previous"] is None


def test_the_default_page_is_fifty_newest_first(owner_client, three_orders):
    page = owner_client.get("/api/orders").json()
    assert [o["id"] for o in page["orders"]] == three_orders[::-1]
    assert page["next"] is None and page["previous"] is None


def test_a_page_past_the_end_is_empty_and_links_back(owner_client, three_orders):
    page = owner_client.get("/api/orders?offset=10&limit=2").json()
    assert page == {
        "success": True,
        "count": 3,
        "next": None,
        "previous": "http://testserver/api/orders?offset=8&limit=2",
        "orders": [],
    }
