"""Batch connection tests: bookkeeping in Redis (so any web process can answer for any
worker), at most BATCH_CONCURRENCY tests at once, results kept for an hour. The reads of
that bookkeeping (a batch's status, how many run) are in connections.selectors."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import User
from django.db import close_old_connections

from connections.health import CircuitOpen, connection_check
from connections.models import ExchangeConnection
from connections.results import TestError, TestResult, batch_stored
from connections.selectors import (
    BATCH_CONCURRENCY,
    BATCH_RUNNING_SET,
    STAFF_WRITE_REFUSAL,
    batch_meta_key,
    batch_results_key,
    connection_owner_ids,
    max_batch_size,
)
from core.errors import Forbidden, NotFound, Throttled, ValidationFailed
from core.redis import redis_client, redis_text

BATCH_TTL_SECONDS = 3600
BATCH_ATTEMPTS = 3


def batch_validate(*, user: User, connection_ids: list[str], any_owner: bool = False) -> list[str]:
    """1..50 distinct ids of connections the caller can see: a 400 names repeated ones,
    a 404 those that are not found. ``any_owner``: staff in the admin or the command line
    test any owner's connections (the API keeps them to their own)."""
    field = "connection_ids"
    connection_ids = [i.strip().lower() for i in connection_ids]
    if not connection_ids:
        raise ValidationFailed("give at least one connection id", fields={field: ["empty"]})
    most = max_batch_size()
    if len(connection_ids) > most:
        raise ValidationFailed(
            f"at most {most} connections per batch",
            fields={field: [f"{len(connection_ids)} given"]},
        )
    duplicates = sorted({i for i in connection_ids if connection_ids.count(i) > 1})
    if duplicates:
        raise ValidationFailed(
            f"duplicate connection ids: {', '.join(duplicates)}",
            fields={field: [f"duplicate: {i}" for i in duplicates]},
        )
    owners = connection_owner_ids(user=user, connection_ids=connection_ids)
    unknown = [i for i in connection_ids if i not in owners]
    if unknown:  # another user's id, like any other unknown one, is simply not found
        raise NotFound(
            f"unknown connection ids: {', '.join(unknown)}",
            fields={field: [f"unknown: {i}" for i in unknown]},
        )
    # a test is a write (health rows, the circuit): staff test only their own connections
    others = [i for i in connection_ids if owners[i] != user.pk]
    if others and not (any_owner and getattr(user, "is_staff", False)):
        raise Forbidden(STAFF_WRITE_REFUSAL, fields={field: [f"not yours: {i}" for i in others]})
    return connection_ids


def batch_create(*, user: User, connection_ids: list[str], any_owner: bool = False) -> str:
    """Record the batch and enqueue its task (after the surrounding commit)."""
    from connections.tasks import batch_test_task

    ids = batch_validate(user=user, connection_ids=connection_ids, any_owner=any_owner)
    batch_id = uuid.uuid4().hex
    meta = {"owner_id": user.pk, "ids": ids, "started_at": time.time(), "finished_at": None}
    client = redis_client()
    client.set(batch_meta_key(batch_id), json.dumps(meta), ex=BATCH_TTL_SECONDS)
    client.sadd(BATCH_RUNNING_SET, batch_id)
    batch_test_task.apply_async_on_commit(args=[batch_id], priority=3)
    return batch_id


def _test_one(batch_id: str, connection_id: str) -> None:
    # the pool's threads live on, so their database connections are kept (CONN_MAX_AGE)
    # and only closed when unusable or too old, as around a web request
    close_old_connections()
    try:
        connection = ExchangeConnection.objects.select_related("state").get(pk=connection_id)
        result = _check_waiting_for_budget(connection)
    except ExchangeConnection.DoesNotExist:
        result = _error_result(connection_id, "not_found", "the connection was deleted")
    finally:
        close_old_connections()
    client = redis_client()
    client.hset(batch_results_key(batch_id), connection_id, json.dumps(result.to_stored()))
    client.expire(batch_results_key(batch_id), BATCH_TTL_SECONDS)


def connection_test_now(*, connection: ExchangeConnection) -> TestResult:
    """One test as a batch runs it (retries, waiting for budget), in the caller's thread:
    an open circuit or a budget that stays spent is a failed result, not an error (the
    command line tests connections one by one with a progress bar)."""
    return _check_waiting_for_budget(connection)


def _check_waiting_for_budget(connection: ExchangeConnection) -> TestResult:
    # A batch's own threads wait inside the limiter (BATCH_BUDGET_WAIT_SECONDS) rather than
    # restart a half-done test: the batch is bounded, and a restart would spend the
    # exchange's budget twice.
    deadline = time.monotonic() + settings.BATCH_THROTTLE_WAIT_LIMIT_SECONDS
    while True:
        try:
            return connection_check(
                connection=connection,
                kind="batch",
                attempts=BATCH_ATTEMPTS,
                max_wait=settings.BATCH_BUDGET_WAIT_SECONDS,
            )
        except CircuitOpen as exc:
            return _error_result(str(connection.pk), exc.code, exc.message)
        except Throttled as exc:
            if time.monotonic() >= deadline:
                return _error_result(str(connection.pk), exc.code, exc.message)
            time.sleep(min(float(exc.extra.get("retry_after", 0.2)), 1.0))


def _error_result(connection_id: str, code: str, message: str) -> TestResult:
    """A connection the batch could not test (deleted, circuit open, no budget in time)."""
    return TestResult(
        connection_id=connection_id, success=False, error=TestError(code=code, message=message)
    )


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    """One pool per worker process: at most BATCH_CONCURRENCY tests at once for any batch,
    on threads (and database connections) that outlive a single batch."""
    return ThreadPoolExecutor(max_workers=BATCH_CONCURRENCY, thread_name_prefix="batch")


def batch_run(*, batch_id: str) -> None:
    """Test every connection of the batch, BATCH_CONCURRENCY at once. Idempotent: a
    redelivered task re-tests only what has no result yet."""
    client = redis_client()
    raw = client.get(batch_meta_key(batch_id))
    if raw is None:
        return
    meta = batch_stored(raw)
    meta.setdefault("run_started_at", time.time())
    done = {redis_text(key) for key in client.hkeys(batch_results_key(batch_id))}
    pending = [i for i in meta["ids"] if i not in done]
    list(_pool().map(lambda connection_id: _test_one(batch_id, connection_id), pending))
    meta["finished_at"] = time.time()
    client.set(batch_meta_key(batch_id), json.dumps(meta), ex=BATCH_TTL_SECONDS)
    client.srem(BATCH_RUNNING_SET, batch_id)


def batches_forget_expired() -> int:
    """Drop running-set entries whose batch has expired (a worker died mid-batch)."""
    client = redis_client()
    gone = [
        batch_id
        for batch_id in client.smembers(BATCH_RUNNING_SET)
        if not client.exists(batch_meta_key(redis_text(batch_id)))
    ]
    if gone:
        client.srem(BATCH_RUNNING_SET, *gone)
    return len(gone)
