"""URLs of the session's test database and Redis, for child processes."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def test_database_url(django_db_setup: Any) -> str:
    from django.db import connection

    from tests.conftest import _database_url_for

    return _database_url_for(connection.settings_dict)


@pytest.fixture
def redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL
