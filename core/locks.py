"""One PostgreSQL advisory lock primitive, named by a string (held by this connection)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection as db_connection


@contextmanager
def advisory_lock(name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock named ``name`` for the block. With ``wait=False`` it does not queue:
    the block gets False when another session holds it (and nothing is released)."""
    lock_id = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [lock_id])
        held = wait or bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
