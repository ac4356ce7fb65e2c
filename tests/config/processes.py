"""Django in a child process, with an environment of its own: production settings, a dead
database or Redis, gunicorn on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the variables a child must not inherit from the test run (it is given its own)
CONFIG_NAMES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "CONNECTION_ENCRYPTION_KEYS",
    "DJANGO_ENV",
    "DEBUG",
    "FLOWER_BASIC_AUTH",
    "DEMO_SEED_ENABLED",
    "PAPER_EXCHANGE_URL",
    "ALLOWED_HOSTS",
    "METRICS_TOKEN",
    "LOG_FORMAT",
)


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_NAMES}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(overrides)
    return env


def run_python(
    code: str, overrides: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_manage(
    args: list[str], overrides: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
