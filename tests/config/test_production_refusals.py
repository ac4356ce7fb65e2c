"""Production is safe by default: each unsafe setting is refused at start (in a child
process, ImproperlyConfigured), `check --deploy` passes with the documented settings,
.env.example is safe to copy and docker-compose.yml publishes only the web port."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from config.production import production_problems
from tests.config.processes import ROOT, closed_port, run_manage, run_python

START = "import django; django.setup(); print('STARTED')"


def production_env(**overrides: str) -> dict[str, str]:
    values = {
        "DJANGO_ENV": "production",
        "DATABASE_URL": "postgres://u@db.invalid/x",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "SECRET_KEY": "k3y-" + "".join(chr(65 + i % 26) + str(i) for i in range(40)),
        "CONNECTION_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FLOWER_BASIC_AUTH": "ops:a-long-flower-password",
        "DEBUG": "0",
        "METRICS_TOKEN": "metrics-" + "".join(str(i % 10) for i in range(30)),
        "PAPER_EXCHANGE_URL": f"http://127.0.0.1:{closed_port()}",
        "ALLOWED_HOSTS": "exchange-connect.example.com",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def assert_refused(result: Any, *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr, result.stderr[-2000:]
    for word in words:
        assert word in result.stderr, result.stderr[-2000:]


def test_production_with_safe_settings_starts():
    result = run_python(START, production_env())
    assert result.returncode == 0 and "STARTED" in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("debug", ["1", "true", "on"])
def test_production_refuses_debug_on(debug):
    assert_refused(run_python(START, production_env(DEBUG=debug)), "DEBUG must be off")


@pytest.mark.parametrize(
    "value", ["", "admin", ":password", "admin:", "admin:pw,broken", "admin pw", "a:b,", " "]
)
def test_production_refuses_a_missing_or_malformed_flower_basic_auth(value):
    assert_refused(run_python(START, production_env(FLOWER_BASIC_AUTH=value)), "FLOWER_BASIC_AUTH")


def test_production_refuses_an_unset_flower_basic_auth():
    env = production_env()
    del env["FLOWER_BASIC_AUTH"]
    assert_refused(run_python(START, env), "FLOWER_BASIC_AUTH")


def test_several_flower_users_are_accepted():
    assert (
        production_problems(
            debug=False,
            flower_basic_auth="ops:p1,audit:p2:with-colon",
            demo_seed_enabled=False,
            metrics_token="t" * 24,
        )
        == []
    )


@pytest.mark.parametrize("value", ["", "short-token", "a token with spaces in it, long"])
def test_production_refuses_a_missing_or_weak_metrics_token(value):
    assert_refused(run_python(START, production_env(METRICS_TOKEN=value)), "METRICS_TOKEN")


def test_production_refuses_the_demo_seed():
    assert_refused(run_python(START, production_env(DEMO_SEED_ENABLED="1")), "DEMO_SEED_ENABLED")


def test_every_unsafe_setting_is_named_at_once():
    result = run_python(
        START, production_env(DEBUG="1", FLOWER_BASIC_AUTH="", DEMO_SEED_ENABLED="1")
    )
    assert_refused(result, "DEBUG", "FLOWER_BASIC_AUTH", "DEMO_SEED_ENABLED")


@pytest.mark.django_db
def test_seed_demo_refuses_when_the_demo_seed_is_off(settings, django_user_model):
    settings.DEMO_SEED_ENABLED = False
    with pytest.raises(CommandError, match="demo seed is off"):
        call_command("seed_demo")
    assert not django_user_model.objects.exists()


@pytest.mark.django_db
def test_seed_demo_seeds_the_demo_admin_in_development(settings, django_user_model):
    settings.DEMO_SEED_ENABLED = True
    call_command("seed_demo")
    assert django_user_model.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_seed_demo_refuses_in_production_whatever_the_flag(settings, django_user_model):
    settings.PRODUCTION, settings.DEMO_SEED_ENABLED = True, True
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert not django_user_model.objects.exists()


def test_production_refuses_a_reachable_paper_control_api(paper_url):
    assert_refused(
        run_python(START, production_env(PAPER_EXCHANGE_URL=paper_url)),
        "PAPER_EXCHANGE_URL",
        paper_url,
    )


def test_a_management_command_is_refused_too_while_the_paper_exchange_answers(paper_url):
    result = run_manage(["check"], production_env(PAPER_EXCHANGE_URL=paper_url))
    assert_refused(result, "PAPER_EXCHANGE_URL")


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def another_service() -> Iterator[str]:
    """Answers 200 with a web page on every path, as a catch-all proxy would."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>ok</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    "where", ["closed port", "silent listener", "unresolvable host", "another service", "no url"]
)
def test_a_paper_exchange_that_does_not_answer_neither_refuses_nor_blocks_production(
    where, silent_listener, another_service
):
    url = {
        "closed port": f"http://127.0.0.1:{closed_port()}",
        "silent listener": silent_listener,
        "unresolvable host": "http://paper.invalid:8900",
        "another service": another_service,
        "no url": "",
    }[where]
    result = run_python(START, production_env(PAPER_EXCHANGE_URL=url), timeout=30)
    assert result.returncode == 0 and "STARTED" in result.stdout, result.stderr[-2000:]


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_env_example_is_production_shaped_and_holds_no_secret():
    values = env_example()
    assert values["DJANGO_ENV"] == "production"
    assert values["DEBUG"] == "0" and values["DEMO_SEED_ENABLED"] == "0"
    for secret in (
        "SECRET_KEY",
        "CONNECTION_ENCRYPTION_KEYS",
        "POSTGRES_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "METRICS_TOKEN",
    ):
        assert values[secret] == "", f"{secret} must be left blank in .env.example"


def test_the_env_example_copied_as_is_refuses_to_start():
    values = {
        **env_example(),
        "DATABASE_URL": "postgres://u@db.invalid/x",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }
    assert_refused(run_python(START, values), "SECRET_KEY")


def test_check_deploy_passes_with_the_documented_production_settings():
    """`.env.example` with its blanks filled in: `check --deploy` reports nothing, not even
    a warning (HSTS, secure cookies, the SSL redirect behind SECURE_PROXY_SSL_HEADER)."""
    filled = production_env(POSTGRES_PASSWORD="a-postgres-password")
    values = {
        **env_example(),
        **{
            name: filled[name]
            for name in (
                "SECRET_KEY",
                "CONNECTION_ENCRYPTION_KEYS",
                "POSTGRES_PASSWORD",
                "FLOWER_BASIC_AUTH",
                "METRICS_TOKEN",
                "DATABASE_URL",
                "REDIS_URL",
                "PAPER_EXCHANGE_URL",
            )
        },
    }
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], values)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues (0 silenced)" in result.stdout


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_docker_compose_publishes_only_the_web_port():
    services = compose()["services"]
    assert {name for name, service in services.items() if service.get("ports")} == {"web"}
    assert services["web"]["ports"] == ["8000:8000"]


def test_docker_compose_keeps_the_data_and_the_workers_on_the_internal_network():
    spec = compose()
    assert spec["networks"]["backend"]["internal"] is True
    services = spec["services"]
    for name in ("postgres", "redis", "beat", "flower"):
        assert services[name].get("networks", ["backend"]) == ["backend"], name
    assert "egress" in services["worker"]["networks"]


def test_docker_compose_runs_the_paper_exchange_only_in_the_dev_profile():
    services = compose()["services"]
    assert services["paper"]["profiles"] == ["dev"]
    assert all("profiles" not in service for name, service in services.items() if name != "paper")
