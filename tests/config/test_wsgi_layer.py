"""What fails before Django's middleware can answer: a non-text charset with a query string
breaks Django's request object itself, so config.wsgi refuses it first. Proven on the
WSGI callable and on a real gunicorn, whose own answer would be an HTML 500."""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.config.processes import ROOT, child_env, closed_port

NON_TEXT_CHARSETS = ["rot13", "zlib", "base64"]


def wsgi_call(environ_overrides: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    from config.wsgi import application

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/auth/token",
        "QUERY_STRING": "x=1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(b"{}"),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": "2",
        **environ_overrides,
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.mark.parametrize("charset", NON_TEXT_CHARSETS)
def test_the_wsgi_application_refuses_a_non_text_charset_with_a_query_string(charset):
    status, headers, body = wsgi_call({"CONTENT_TYPE": f"application/json; charset={charset}"})
    assert status.startswith("415") and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "unsupported_media_type"


def test_django_itself_cannot_build_that_request():
    """Why the guard sits in front of Django: its request object raises on construction."""
    from django.core.handlers.wsgi import WSGIRequest

    with pytest.raises(LookupError):
        WSGIRequest(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/api/auth/token",
                "QUERY_STRING": "x=1",
                "CONTENT_TYPE": "application/json; charset=rot13",
                "wsgi.input": io.BytesIO(b""),
            }
        )


@pytest.fixture(scope="module")
def gunicorn_address() -> Iterator[tuple[str, int]]:
    port = closed_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=child_env({"ALLOWED_HOSTS": "127.0.0.1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/api/nothing")
                connection.getresponse().read()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=20)


def http_request(
    address: tuple[str, int],
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type", ""), response.read()


@pytest.mark.parametrize("charset", NON_TEXT_CHARSETS)
def test_a_non_text_charset_with_a_query_string_is_a_json_415_under_gunicorn(
    gunicorn_address, charset
):
    status, content_type, body = http_request(
        gunicorn_address,
        "POST",
        "/api/auth/token?x=1",
        b'{"username": "a"}',
        {"Content-Type": f"application/json; charset={charset}"},
    )
    assert status == 415 and content_type == "application/json", body[:300]
    assert json.loads(body)["error"]["code"] == "unsupported_media_type"


def test_a_disallowed_host_is_a_json_400_under_gunicorn(gunicorn_address):
    status, content_type, body = http_request(
        gunicorn_address, "GET", "/api/settings/connections", headers={"Host": "evil.example.com"}
    )
    assert status == 400 and content_type == "application/json", body[:300]


def test_an_unknown_api_path_is_the_json_404_under_gunicorn(gunicorn_address):
    status, content_type, body = http_request(gunicorn_address, "DELETE", "/api/nothing?x=1")
    assert status == 404 and content_type == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"
