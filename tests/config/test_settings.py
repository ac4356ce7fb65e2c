"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.redis_urls import celery_broker_url, with_db

ROOT = Path(__file__).resolve().parents[2]


def run_settings(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "CONNECTION_ENCRYPTION_KEYS",
            "DJANGO_ENV",
        )
    }
    env.update(env_overrides)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['HOST'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "missing", ["DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CONNECTION_ENCRYPTION_KEYS"]
)
def test_production_without_a_required_setting_fails_at_start(missing):
    values = {
        "DJANGO_ENV": "production",
        "DATABASE_URL": "postgres://u@db/x",
        "REDIS_URL": "redis://r:6379/0",
        "SECRET_KEY": "s" * 50,
        "CONNECTION_ENCRYPTION_KEYS": "a" * 43 + "=",
    }
    values.pop(missing)
    result = run_settings({**values, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr


def test_a_percent_encoded_socket_host_is_decoded():
    result = run_settings(
        {
            "DATABASE_URL": "postgres://postgres@%2Ftmp%2Fec-abc/postgres",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/tmp/ec-abc"


def test_unix_redis_urls_convert_for_celery():
    assert (
        celery_broker_url("unix:///tmp/ec-1/redis.sock?db=3")
        == "redis+socket:///tmp/ec-1/redis.sock?virtual_host=3"
    )
    assert celery_broker_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert with_db("unix:///tmp/ec-1/redis.sock?db=0", 9) == "unix:///tmp/ec-1/redis.sock?db=9"
    assert with_db("redis://127.0.0.1:6379/0", 9) == "redis://127.0.0.1:6379/9"


def test_devstack_env_prints_given_urls_unchanged():
    env = {**os.environ, "DATABASE_URL": "postgres://given/db", "REDIS_URL": "redis://given/1"}
    printed = subprocess.run(
        [sys.executable, "-m", "config.devstack", "env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "export DATABASE_URL='postgres://given/db'" in printed.stdout
    assert "export REDIS_URL='redis://given/1'" in printed.stdout


def test_devstack_rejects_unknown_commands():
    result = subprocess.run(
        [sys.executable, "-m", "config.devstack", "explode"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "usage" in result.stderr


def test_devstack_rejects_a_malformed_holder():
    result = subprocess.run(
        [sys.executable, "-m", "config.devstack", "down", "--holder", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "usage" in result.stderr


@pytest.mark.parametrize("value", ["-1", "3600", "99999"])
def test_a_stream_heartbeat_out_of_range_fails_at_start(value):
    result = run_settings({"STREAM_HEARTBEAT_SECONDS": value})
    assert result.returncode != 0
    assert "STREAM_HEARTBEAT_SECONDS must be over 0" in result.stderr


def test_a_stream_heartbeat_in_range_starts():
    result = run_settings({"STREAM_HEARTBEAT_SECONDS": "0.5"})
    assert result.returncode == 0, result.stderr[-2000:]
