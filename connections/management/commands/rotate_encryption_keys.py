"""Re-encrypt every stored credential under the newest CONNECTION_ENCRYPTION_KEYS key.

Safe to run twice: each token is decrypted with whichever key fits and written back under
the newest one, row by row inside a transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from connections.services import connection_credentials_rotate


class Command(BaseCommand):
    help = "Re-encrypt all connection credentials under the newest encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = connection_credentials_rotate()
        self.stdout.write(f"re-encrypted the credentials of {count} connection(s)")
