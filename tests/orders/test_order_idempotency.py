"""The same Idempotency-Key or clientOrderId gives back the first order; never two."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from rest_framework.test import APIClient

from orders.models import Order
from tests.django_fixtures import paper_stats
from tests.orders.conftest import DEFAULT_EXCHANGE, order_body, wait_for_status


@pytest.mark.django_db
def test_the_same_idempotency_key_twice_replays_the_first_order(owner_client, make_connection):
    connection = make_connection()
    first = owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    second = owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["order"]["id"] == first.json()["order"]["id"]
    assert first.json()["order"]["idempotencyKey"] == "key-1"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_conflict(owner_client, make_connection):
    connection = make_connection()
    owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY="key-2"
    )
    response = owner_client.post(
        "/api/orders",
        order_body(connection, price="59001"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-2",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_same_client_order_id_on_the_same_connection_replays(owner_client, make_connection):
    connection = make_connection()
    body = order_body(connection, clientOrderId="mine0001")
    first = owner_client.post("/api/orders", body, format="json")
    second = owner_client.post("/api/orders", body, format="json")
    assert first.status_code == second.status_code == 202
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["order"]["id"] == first.json()["order"]["id"]
    assert first.json()["order"]["clientOrderId"] == "mine0001"
    other = owner_client.post("/api/orders", {**body, "quantity": "0.02"}, format="json")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["bad key", "a" * 65, "semi;colon", "é"])
def test_an_invalid_idempotency_key_is_refused(owner_client, make_connection, key):
    connection = make_connection()
    response = owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "idempotencyKey" in response.json()["error"]["fields"]
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_of_one_key_make_one_order_on_the_exchange(
    owner, paper, celery_worker, make_connection
):
    connection = make_connection()
    body = order_body(connection)
    token = owner.auth_token.key if hasattr(owner, "auth_token") else None
    if token is None:
        from rest_framework.authtoken.models import Token

        token = Token.objects.create(user=owner).key
    answers: list[tuple[int, str, str | None]] = []
    start = threading.Barrier(20)

    def post() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            start.wait(timeout=10)
            response = client.post(
                "/api/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
            )
            answers.append(
                (
                    response.status_code,
                    response.json().get("order", response.json())["id"]
                    if response.status_code == 202
                    else str(response.json()),
                    response.headers.get("Idempotent-Replayed"),
                )
            )
        finally:
            db_connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 20
    assert {status for status, _, _ in answers} == {202}, answers
    assert len({order_id for _, order_id, _ in answers}) == 1
    assert [replayed for _, _, replayed in answers].count(None) == 1  # one first answer
    assert Order.objects.count() == 1
    order = wait_for_status(answers[0][1], ("open",))
    assert paper_stats(paper, DEFAULT_EXCHANGE)["ordersByClientId"][order.client_order_id] == 1
    assert order.attempts == 1
