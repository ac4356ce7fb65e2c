"""The demo for `make run`: an admin user and, when the paper exchange answers, one paper
connection per exchange. Safe to run again."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from connections.errors import ServiceError
from connections.models import ExchangeConnection
from connections.services import connection_create
from exchanges.capabilities import CAPABILITIES

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "exchange-connect-demo"


class Command(BaseCommand):
    help = "Create the demo admin user and paper connections."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        for exchange, offered in CAPABILITIES.items():
            if ExchangeConnection.objects.filter(owner=user, exchange=exchange,
                                                 environment="paper").exists():
                continue
            api_type = "spot" if "spot" in offered.api_types else offered.api_types[0]
            try:
                connection_create(owner=user, actor=user, values={
                    "name": f"Paper {exchange}", "exchange": exchange, "api_type": api_type,
                    "environment": "paper"})
            except ServiceError as exc:
                self.stdout.write(f"paper {exchange}: skipped ({exc.message})")
                break
