"""The Celery app: configured from Django settings (CELERY_ namespace), tasks autodiscovered."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("exchange_connect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Celery configures no logging of its own (its ``-l`` is then ignored: LOG_LEVEL sets
    the level): its records meet settings.LOGGING's structured formatter like every other."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
