"""Flower never runs open: ``python -m config.flower`` starts it only with FLOWER_BASIC_AUTH
(production refuses to start without it, development generates one), passed through
Flower's environment, never its command line; a real Flower answers 401 without it."""

from __future__ import annotations

import base64
import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from config.flower import FlowerRefused, flower_command
from tests.config.processes import ROOT, child_env, closed_port
from tests.config.test_production_refusals import assert_refused, production_env

AUTH = "ops:a-flower-password-0123"


def test_flower_gets_the_settings_auth_through_its_environment(settings, monkeypatch):
    settings.FLOWER_BASIC_AUTH = AUTH
    monkeypatch.setenv("FLOWER_UNAUTHENTICATED_API", "true")
    command, env = flower_command(["--port=5555"])
    assert command[-4:] == ["-A", "config", "flower", "--port=5555"]
    assert not any(AUTH in part for part in command)
    assert env["FLOWER_BASIC_AUTH"] == AUTH
    assert "FLOWER_UNAUTHENTICATED_API" not in env
    assert "PROMETHEUS_MULTIPROC_DIR" not in env


@pytest.mark.parametrize("value", ["", "nocolon", "user:", ":password", "a b:c"])
def test_flower_refuses_to_start_without_a_well_formed_auth(settings, value):
    settings.FLOWER_BASIC_AUTH = value
    with pytest.raises(FlowerRefused, match="FLOWER_BASIC_AUTH"):
        flower_command([])


def test_flower_refuses_basic_auth_on_its_command_line(settings):
    settings.FLOWER_BASIC_AUTH = AUTH
    with pytest.raises(FlowerRefused, match="not --basic-auth"):
        flower_command([f"--basic-auth={AUTH}"])


def test_development_generates_an_auth_for_flower():
    result = subprocess.run(
        [sys.executable, "-m", "config.flower", "credentials"],
        cwd=ROOT,
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    user, _, password = result.stdout.strip().partition(":")
    assert user and len(password) >= 20


def test_production_flower_refuses_to_start_without_its_auth():
    env = child_env(production_env())
    del env["FLOWER_BASIC_AUTH"]
    result = subprocess.run(
        [sys.executable, "-m", "config.flower", "--port=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_refused(result, "FLOWER_BASIC_AUTH")


@pytest.fixture(scope="module")
def flower_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    from django.conf import settings

    port = closed_port()
    log_path = tmp_path_factory.mktemp("flower") / "flower.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "config.flower", "--address=127.0.0.1", f"--port={port}"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(
                {
                    "FLOWER_BASIC_AUTH": AUTH,
                    "FLOWER_UNAUTHENTICATED_API": "true",
                    "REDIS_URL": settings.REDIS_URL,
                }
            ),
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(("127.0.0.1", port), "/healthcheck")
                break
            except OSError:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "Flower did not start"
                time.sleep(0.3)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=20)


def get(address: tuple[str, int], path: str, auth: str | None = None) -> Any:
    connection = http.client.HTTPConnection(*address, timeout=10)
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


@pytest.mark.parametrize("path", ["/", "/tasks", "/api/workers", "/api/tasks"])
def test_a_real_flower_asks_for_its_auth_even_with_an_open_api_asked_for(flower_address, path):
    assert get(flower_address, path) == 401
    assert get(flower_address, path, auth="ops:wrong-password") == 401
    assert get(flower_address, path, auth=AUTH) == 200
