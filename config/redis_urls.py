"""Redis URL forms: redis-py's (``redis://``, ``unix://``) and Celery/kombu's."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def celery_broker_url(redis_url: str) -> str:
    """kombu spells a Unix socket ``redis+socket:///path?virtual_host=<db>``."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


def with_db(redis_url: str, db: int) -> str:
    """The same server, another logical database (tests use their own)."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}?db={db}"
    netloc = parts.netloc
    return f"{parts.scheme}://{netloc}/{db}"
