"""Shared infrastructure under every app: domain errors, the Redis client, locks, strict
serializer fields and the schema helpers. It imports no app and not config."""
