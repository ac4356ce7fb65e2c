"""Credentials at rest: MultiFernet over CONNECTION_ENCRYPTION_KEYS (newest first)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables


@lru_cache(maxsize=4)
@sensitive_variables()
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "CONNECTION_ENCRYPTION_KEYS must be url-safe base64 Fernet keys"
        ) from exc


@sensitive_variables()
def fernet() -> MultiFernet:
    keys = tuple(settings.CONNECTION_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured("CONNECTION_ENCRYPTION_KEYS is empty")
    return _fernet(keys)


@sensitive_variables()
def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "a stored credential cannot be decrypted with CONNECTION_ENCRYPTION_KEYS"
        ) from exc


@sensitive_variables()
def rotate(token: str) -> str:
    """Re-encrypt under the newest key; a token already under it is re-encrypted too."""
    if not token:
        return ""
    return fernet().rotate(token.encode()).decode()
