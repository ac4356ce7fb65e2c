"""What a host answers reaches our API only as a code and a short reason: never its raw
body (a real HTTP server stands for the host)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchanges.errors import MAX_REASON_CHARS
from orders.models import Order
from orders.submission import order_submit
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/settings/connections"
GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body>"
    "<script>steal()</script><h1>SENTINEL-RAW-BODY</h1>" + "x" * 5000 + "</body></html>"
)
# the longest a message can be: "<exchange> [<code>] <reason>"
MAX_SUMMARY_CHARS = MAX_REASON_CHARS + 60


@pytest.fixture
def hostile(settings, hostile_host):
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({hostile_host.endpoint})
    return hostile_host


def hostile_connection(owner, host, exchange="bybit", **values):
    return make_connection(owner, exchange=exchange, base_url=f"{host.url}/{exchange}", **values)


def assert_short(message: str) -> None:
    assert "SENTINEL" not in message and "<" not in message and "\n" not in message
    assert 0 < len(message) <= MAX_SUMMARY_CHARS


def test_a_gateway_page_never_reaches_the_test_result(owner_client, owner, hostile):
    connection = hostile_connection(owner, hostile)
    hostile.answer(502, GATEWAY_PAGE, {"Content-Type": "text/html"})
    result = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    assert result["success"] is False
    assert_short(result["error"]["message"])
    health = owner_client.get(f"{URL}/{connection.pk}").json()["connection"]["health"]
    assert_short(health["lastError"])


def test_a_huge_multi_line_exchange_message_is_cut_to_one_short_line(owner_client, owner, hostile):
    connection = hostile_connection(owner, hostile)
    reason = "SENTINEL-RAW-BODY\n" + "reason " * 2000
    hostile.answer(200, json.dumps({"retCode": 10001, "retMsg": reason, "result": {}}))
    result = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    message = result["error"]["message"]
    assert "\n" not in message and len(message) <= MAX_SUMMARY_CHARS
    assert "10001" in message


def test_a_rejected_orders_error_message_is_a_code_and_a_short_reason(owner_client, owner, hostile):
    connection = hostile_connection(owner, hostile, exchange="binance")
    hostile.answer(400, json.dumps({"code": -1013, "msg": GATEWAY_PAGE}))
    order = Order.objects.create(
        owner=owner,
        connection=connection,
        client_order_id="ec" + "0" * 30,
        request_hash="h",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.01"),
        volume_factor=Decimal("1"),
        quantity=Decimal("0.01"),
        price=Decimal("50000"),
    )
    assert order_submit(order_id=order.pk).status == "rejected"
    body = owner_client.get(f"/api/orders/{order.pk}").json()["order"]
    assert body["status"] == "rejected" and "-1013" in body["errorMessage"]
    assert len(body["errorMessage"]) <= MAX_SUMMARY_CHARS
    assert "\n" not in body["errorMessage"]
