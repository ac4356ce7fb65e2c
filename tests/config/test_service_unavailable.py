"""Our own database or Redis refusing is a 503 service_unavailable with Retry-After, never a
500: a dead database (with and without the pool), an exhausted pool, a dead Redis."""

from __future__ import annotations

import json
from typing import Any

import kombu.exceptions
import psycopg_pool
import pytest
import redis.exceptions
from django.db import OperationalError
from rest_framework.test import APIRequestFactory

from config.api import SERVICE_RETRY_AFTER_SECONDS, exception_handler, json_server_error
from tests.config.processes import closed_port, run_python

REQUEST_AND_PRINT = """
import json, sys
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
{before}
response = Client().{call}
{after}
print(json.dumps({{"status": response.status_code, "retryAfter": response.get("Retry-After"),
                  "contentType": response["Content-Type"], "body": response.json()}}))
"""
TOKEN_GET = "get('/api/settings/connections', HTTP_AUTHORIZATION='Token ' + '0' * 40)"
LOGIN_POST = (
    "post('/api/auth/token', {'username': 'u', 'password': 'p'}, content_type='application/json')"
)
HOLD_THE_ONLY_CONNECTION = """
import threading
from django.db import connection
held, release = threading.Event(), threading.Event()
def hold():
    connection.ensure_connection()
    held.set()
    release.wait(30)
    connection.close()
holder = threading.Thread(target=hold)
holder.start()
assert held.wait(20), "the holder got no connection"
"""


def answer_in_child(
    overrides: dict[str, str], call: str, before: str = "", after: str = ""
) -> dict[str, Any]:
    result = run_python(REQUEST_AND_PRINT.format(before=before, call=call, after=after), overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_service_unavailable(answer: dict[str, Any]) -> None:
    assert answer["status"] == 503, answer
    assert answer["retryAfter"] == str(SERVICE_RETRY_AFTER_SECONDS)
    assert answer["contentType"] == "application/json"
    assert answer["body"]["success"] is False
    assert answer["body"]["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize("pool", ["1", "0"])
def test_a_database_that_refuses_connections_is_503_with_retry_after(pool, redis_url):
    answer = answer_in_child(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/gone",
            "REDIS_URL": redis_url,
            "DATABASE_POOL": pool,
            "DATABASE_POOL_TIMEOUT_SECONDS": "1",
        },
        TOKEN_GET,
    )
    assert_service_unavailable(answer)


def test_an_exhausted_database_pool_is_503_with_retry_after(test_database_url, redis_url):
    answer = answer_in_child(
        {
            "DATABASE_URL": test_database_url,
            "REDIS_URL": redis_url,
            "DATABASE_POOL": "1",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "1",
            "DATABASE_POOL_TIMEOUT_SECONDS": "0.5",
        },
        TOKEN_GET,
        before=HOLD_THE_ONLY_CONNECTION,
        after="release.set(); holder.join()",
    )
    assert_service_unavailable(answer)


def test_a_redis_that_refuses_connections_is_503_with_retry_after(test_database_url):
    answer = answer_in_child(
        {"DATABASE_URL": test_database_url, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"},
        LOGIN_POST,
    )
    assert_service_unavailable(answer)


@pytest.mark.django_db
def test_a_dead_redis_behind_the_cache_is_503_in_process(anonymous_client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    response = anonymous_client.post(
        "/api/auth/token", {"username": "u", "password": "p"}, format="json"
    )
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("connection refused"),
        psycopg_pool.PoolTimeout("no connection"),
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("slow"),
        kombu.exceptions.OperationalError("broker down"),
    ],
)
def test_every_infrastructure_refusal_maps_to_503(error):
    request = APIRequestFactory().get("/api/settings/connections")
    response = exception_handler(error, {"request": request, "view": None})
    assert response.status_code == 503
    assert response["Retry-After"] == str(SERVICE_RETRY_AFTER_SECONDS)
    assert response.data["error"]["code"] == "service_unavailable"


def test_the_500_handler_answers_503_while_handling_a_database_refusal():
    request = APIRequestFactory().get("/admin/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = json_server_error(request)
    assert response.status_code == 503 and response["Retry-After"]
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        assert json_server_error(request).status_code == 500
