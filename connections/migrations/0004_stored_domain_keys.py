"""Stored JSON in domain terms: the last test result on each state row and the sync log's
data had the API's camelCase keys (``latencyMs``, ``forOwner``) and the sync log named
fields the API's way (``apiType``); both become snake_case (``latency_ms``, ``for_owner``,
``api_type``). Reversible: going back spells them the old way again.

The conversion is written out here, not imported, so the migration keeps meaning what it
meant when the application code moves on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db import migrations

BATCH = 500
_CAPITAL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_SEPARATOR = re.compile(r"_([a-z0-9])")


def snake_case(name: str) -> str:
    """``serverTimeOffsetMs`` -> ``server_time_offset_ms``; snake_case stays as it is."""
    return _CAPITAL.sub(r"_\1", name).lower()


def camel_case(name: str) -> str:
    """``server_time_offset_ms`` -> ``serverTimeOffsetMs``; camelCase stays as it is."""
    return _SEPARATOR.sub(lambda match: match.group(1).upper(), name)


def _keys(value: Any, spell: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {spell(key): _keys(inner, spell) for key, inner in value.items()}
    if isinstance(value, list):
        return [_keys(inner, spell) for inner in value]
    return value


def stored_result_converted(data: dict[str, Any], spell: Callable[[str], str]) -> dict[str, Any]:
    """A stored test result with its keys (the error's too) spelled anew; values stay."""
    return _keys(data, spell)


def sync_log_data_converted(data: dict[str, Any], spell: Callable[[str], str]) -> dict[str, Any]:
    """Sync-log data with its keys spelled anew, and the field names it lists too (the
    ``fields`` of a creation or an update); other values (names, ids) stay."""
    converted = {spell(key): value for key, value in data.items()}
    if isinstance(converted.get("fields"), list):
        converted["fields"] = sorted(spell(name) for name in converted["fields"])
    return converted


def _convert(apps: Any, spell: Callable[[str], str]) -> None:
    state_model = apps.get_model("connections", "ConnectionState")
    changed = []
    for state in state_model.objects.exclude(test_results={}).only("pk", "test_results").iterator():
        converted = stored_result_converted(state.test_results, spell)
        if converted != state.test_results:
            state.test_results = converted
            changed.append(state)
    state_model.objects.bulk_update(changed, ["test_results"], batch_size=BATCH)

    log_model = apps.get_model("connections", "ConnectionSyncLog")
    changed = []
    for log in log_model.objects.exclude(data={}).only("pk", "data").iterator():
        converted = sync_log_data_converted(log.data, spell)
        if converted != log.data:
            log.data = converted
            changed.append(log)
    log_model.objects.bulk_update(changed, ["data"], batch_size=BATCH)


def forwards(apps: Any, schema_editor: Any) -> None:
    _convert(apps, snake_case)


def backwards(apps: Any, schema_editor: Any) -> None:
    _convert(apps, camel_case)


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0003_live_session"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
