"""What connection tests produce, in domain terms: a test's result and where a batch of
tests stands. The writers (connections.health, connections.batches) store them; the reads
(connections.selectors) load them back; serializers render them camelCase."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchanges.base import KeyInfo


@dataclass(frozen=True)
class TestError:
    __test__ = False  # not a pytest test class

    code: str
    message: str


@dataclass(frozen=True)
class TestResult:
    """A connection test's result (the TestResult of docs/api.md, in domain terms). The
    state row keeps the last one and a batch keeps each in Redis, both as ``to_stored()``."""

    __test__ = False  # not a pytest test class

    connection_id: str
    success: bool
    latency_ms: int | None = None
    server_time_offset_ms: int | None = None
    permissions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: TestError | None = None
    tested_at: datetime | None = None  # None: not tested (a batch's refusal)
    key: KeyInfo | None = None  # what the exchange said of the key; None: not read

    def to_stored(self) -> dict[str, Any]:
        """JSON for the database and Redis: snake_case keys, the time as ISO 8601 (UTC)."""
        return {
            "connection_id": self.connection_id,
            "success": self.success,
            "latency_ms": self.latency_ms,
            "server_time_offset_ms": self.server_time_offset_ms,
            "permissions": list(self.permissions),
            "warnings": list(self.warnings),
            "error": (
                {"code": self.error.code, "message": self.error.message}
                if self.error is not None
                else None
            ),
            "tested_at": self.tested_at.isoformat() if self.tested_at else None,
            "key": key_stored(self.key),
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> TestResult:
        error, tested_at = data.get("error"), data.get("tested_at")
        return cls(
            connection_id=data["connection_id"],
            success=data["success"],
            latency_ms=data.get("latency_ms"),
            server_time_offset_ms=data.get("server_time_offset_ms"),
            permissions=tuple(data.get("permissions", ())),
            warnings=tuple(data.get("warnings", ())),
            error=TestError(code=error["code"], message=error["message"]) if error else None,
            tested_at=datetime.fromisoformat(tested_at) if tested_at else None,
            key=key_from_stored(data.get("key")),
        )


def key_stored(key: KeyInfo | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {
        "permissions": sorted(key.permissions),
        "ip_restricted": key.ip_restricted,
        "ips": list(key.ips),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def key_from_stored(data: dict[str, Any] | None) -> KeyInfo | None:
    """None for a result stored before keys were read (or a failed test)."""
    if not data:
        return None
    expires_at = data.get("expires_at")
    return KeyInfo(
        permissions=frozenset(data.get("permissions", ())),
        ip_restricted=data.get("ip_restricted"),
        ips=tuple(data.get("ips", ())),
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
    )


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch stands: the results so far, by connection id in the order asked."""

    batch_id: str
    total_connections: int
    finished: bool
    duration_ms: int  # since the batch was created
    queued_ms: int | None  # before a worker took it; None until one did
    results: Mapping[str, TestResult]

    @property
    def status(self) -> str:
        return "completed" if self.finished else "running"

    @property
    def completed(self) -> int:
        return len(self.results)

    @property
    def successful(self) -> int:
        return sum(1 for result in self.results.values() if result.success)

    @property
    def failed(self) -> int:
        return self.completed - self.successful


_CAPITAL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def batch_stored(raw: bytes | str) -> dict[str, Any]:
    """A batch's stored JSON object (its meta or one result) with snake_case keys, nested
    objects too: what connections.batches wrote before its keys were the domain's had
    camelCase ones (and lives an hour)."""

    def snake(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {_CAPITAL.sub(r"_\1", key).lower(): snake(inner) for key, inner in value.items()}

    result: dict[str, Any] = snake(json.loads(raw))
    return result
