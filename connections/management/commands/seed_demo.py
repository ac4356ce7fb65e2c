"""The demo for `make run`: an admin user and one paper connection per exchange.

Development only: refused when DEMO_SEED_ENABLED is off, always in production. Safe to run
again. ``--paper`` adds the paper connections, waiting up to ``--wait`` seconds
for the paper exchange to answer (the Procfile's web process runs it once the stack is up).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import ExchangeConnection
from connections.services import ConnectionSpec, connection_create
from connections.tasks import health_sweep_task
from core.errors import ServiceError
from exchanges.capabilities import CAPABILITIES

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "exchange-connect-demo"


def _paper_answers(wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    url = f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/_paper/health"
    while True:
        try:
            if requests.get(url, timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


class Command(BaseCommand):
    help = "Create the demo admin user and, with --paper, paper connections."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--paper", action="store_true", help="also create one paper connection per exchange"
        )
        parser.add_argument(
            "--wait", type=float, default=0.0, help="seconds to wait for the paper exchange"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION or not settings.DEMO_SEED_ENABLED:
            raise CommandError(
                "the demo seed is off (DEMO_SEED_ENABLED=0, or DJANGO_ENV="
                "production): it would create an admin with a published "
                "password"
            )
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        self.stdout.write(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        if not options["paper"]:
            return
        if not _paper_answers(options["wait"]):
            self.stdout.write("paper exchange not reachable: no paper connections seeded")
            return
        for exchange, offered in CAPABILITIES.items():
            if ExchangeConnection.objects.filter(
                owner=user, exchange=exchange, environment="paper"
            ).exists():
                continue
            api_type = "spot" if "spot" in offered.api_types else offered.api_types[0]
            try:
                connection_create(
                    owner=user,
                    actor=user,
                    spec=ConnectionSpec(
                        name=f"Paper {exchange}",
                        exchange=exchange,
                        api_type=api_type,
                        environment="paper",
                    ),
                )
                self.stdout.write(f"paper connection seeded: {exchange} {api_type}")
            except ServiceError as exc:
                self.stdout.write(f"paper {exchange}: skipped ({exc.message})")
        # the dashboard has figures at once rather than after the first 5-minute sweep: the
        # worker checks every connection as soon as it is up
        health_sweep_task.delay()
        self.stdout.write("health sweep queued for the seeded connections")
