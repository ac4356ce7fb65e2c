"""Credentials are encrypted at rest and can be rotated to a new key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.services import connection_credentials
from tests.connections.factories import BYBIT_KEY, BYBIT_SECRET, make_connection

pytestmark = pytest.mark.django_db


def raw_row(pk):
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM connections_exchangeconnection WHERE id = %s", [pk])
        return " ".join(str(value) for value in cursor.fetchone())


def test_the_raw_database_row_holds_no_plaintext_secret(owner):
    connection = make_connection(owner, exchange="okx", passphrase="okx-passphrase-plain")
    row = raw_row(connection.pk)
    for plaintext in (BYBIT_KEY, BYBIT_SECRET, "okx-passphrase-plain"):
        assert plaintext not in row
    assert connection_credentials(connection=connection) == {
        "api_key": BYBIT_KEY,
        "api_secret": BYBIT_SECRET,
        "passphrase": "okx-passphrase-plain",
    }


def test_rotation_reencrypts_under_the_newest_key_and_is_safe_twice(owner, settings):
    old_key = settings.CONNECTION_ENCRYPTION_KEYS[0]
    connection = make_connection(owner)
    new_key = Fernet.generate_key().decode()
    settings.CONNECTION_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys")
    call_command("rotate_encryption_keys")

    connection.refresh_from_db()
    newest_only = Fernet(new_key.encode())
    assert newest_only.decrypt(connection.api_secret_encrypted.encode()).decode() == BYBIT_SECRET
    assert newest_only.decrypt(connection.api_key_encrypted.encode()).decode() == BYBIT_KEY
    settings.CONNECTION_ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
    assert connection_credentials(connection=connection)["api_secret"] == BYBIT_SECRET
    assert ConnectionSyncLog.objects.filter(action="credentials_rotated").count() == 2


def test_a_token_under_an_unknown_key_is_a_configuration_error(owner, settings):
    from django.core.exceptions import ImproperlyConfigured

    connection = make_connection(owner)
    settings.CONNECTION_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured) as caught:
        connection_credentials(connection=ExchangeConnection.objects.get(pk=connection.pk))
    assert BYBIT_SECRET not in str(caught.value)
