"""Shared fixtures: API clients for an owner, an outsider and staff, on real PostgreSQL.

Tests use their own Redis database (db 9 of the configured server) so a developer's running
stack is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from config.redis_urls import with_db

pytest_plugins = ["tests.paper"]

TEST_REDIS_DB = 9


def pytest_configure(config: pytest.Config) -> None:
    """Point Redis users at the test database. Django is set up by now, but the cache and
    the Celery app read their settings lazily, on first use."""
    from django.conf import settings

    from config.redis_urls import celery_broker_url

    if not settings.configured:  # a Django-free run (-p no:django)
        return

    test_url = with_db(settings.REDIS_URL, TEST_REDIS_DB)
    os.environ["REDIS_URL"] = test_url  # inherited by workers the tests start
    settings.REDIS_URL = test_url
    settings.CACHES["default"]["LOCATION"] = test_url
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = celery_broker_url(test_url)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def make_user(django_user_model: Any):
    def make(username: str, *, staff: bool = False, password: str = "correct-horse-9") -> Any:
        return django_user_model.objects.create_user(
            username=username, password=password, is_staff=staff, is_superuser=staff)
    return make


@pytest.fixture
def owner(make_user: Any) -> Any:
    return make_user("owner")


@pytest.fixture
def outsider(make_user: Any) -> Any:
    return make_user("outsider")


@pytest.fixture
def staff(make_user: Any) -> Any:
    return make_user("staff", staff=True)


def _client_for(user: Any) -> Any:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def owner_client(owner: Any) -> Any:
    return _client_for(owner)


@pytest.fixture
def outsider_client(outsider: Any) -> Any:
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff: Any) -> Any:
    return _client_for(staff)


@pytest.fixture
def anonymous_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()
