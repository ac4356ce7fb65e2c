"""Small shared type names."""

from __future__ import annotations

import uuid

# A row's primary key as callers hold it: a UUID from the ORM, or its text from a URL or
# a Celery task's arguments.
Id = uuid.UUID | str


def as_uuid(value: Id) -> uuid.UUID:
    """``value`` as a UUID (a foreign key column takes no text in a typed lookup)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
