"""What production refuses at start (DJANGO_ENV=production), as plain functions of the
settings so that config/settings.py can raise ImproperlyConfigured before anything runs.

The paper exchange's control API is the one refusal that needs the network; it is checked
in ConnectionsConfig.ready() (connections/paper.py), not here: settings stay free of I/O.
"""

from __future__ import annotations

import re

# Flower's --basic-auth: one or more user:password pairs, comma separated, none empty.
FLOWER_BASIC_AUTH_FORM = re.compile(r"[^:,\s]+:[^,\s]+(?:,[^:,\s]+:[^,\s]+)*")


def flower_basic_auth_problem(value: str) -> str | None:
    if not value:
        return "FLOWER_BASIC_AUTH must be set (user:password) when DJANGO_ENV=production"
    if not FLOWER_BASIC_AUTH_FORM.fullmatch(value):
        return (
            "FLOWER_BASIC_AUTH must be user:password (several comma separated), each "
            "with a user and a password"
        )
    return None


# /metrics's bearer token: long enough that guessing it is hopeless
METRICS_TOKEN_MIN_CHARS = 24


def metrics_token_problem(value: str) -> str | None:
    if not value:
        return (
            "METRICS_TOKEN must be set when DJANGO_ENV=production (Prometheus sends it as "
            "Authorization: Bearer <token> to /metrics)"
        )
    if len(value) < METRICS_TOKEN_MIN_CHARS or any(char.isspace() for char in value):
        return (
            f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_CHARS} characters, without spaces"
        )
    return None


def production_problems(
    *, debug: bool, flower_basic_auth: str, demo_seed_enabled: bool, metrics_token: str
) -> list[str]:
    """Every unsafe production setting, each named with what to do."""
    problems = []
    if debug:
        problems.append("DEBUG must be off when DJANGO_ENV=production")
    flower = flower_basic_auth_problem(flower_basic_auth)
    if flower:
        problems.append(flower)
    metrics = metrics_token_problem(metrics_token)
    if metrics:
        problems.append(metrics)
    if demo_seed_enabled:
        problems.append(
            "DEMO_SEED_ENABLED must be off when DJANGO_ENV=production (the demo "
            "admin has a published password)"
        )
    return problems
