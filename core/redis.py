"""The one Redis client of a process (settings.REDIS_URL): the limiter, locks, batches."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def redis_text(value: bytes | str) -> str:
    """A Redis reply as text (clients without decode_responses answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value
