"""Logins are throttled per username and per client address (the token endpoint and the
admin's login); tokens are revoked by logout and expire after API_TOKEN_TTL_HOURS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/auth/token"
LOGOUT_URL = "/api/auth/logout"
PASSWORD = "correct-horse-9"


def login(client: Any, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(
        TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "throttled"
    assert "token" not in body


def test_forty_wrong_passwords_in_a_row_get_throttled(anonymous_client, owner):
    answers = [login(anonymous_client, "owner", f"wrong-{n}") for n in range(40)]
    statuses = [response.status_code for response in answers]
    assert statuses[0] == 401 and 429 in statuses
    first = statuses.index(429)
    assert all(status == 429 for status in statuses[first:])
    assert_throttled(answers[first])
    assert_throttled(login(anonymous_client, "owner", PASSWORD))  # even the right one waits


def test_logins_are_throttled_per_username_whatever_the_address(anonymous_client, owner, settings):
    settings.LOGIN_RATE_PER_USERNAME = "3/minute"
    for n in range(3):
        assert login(anonymous_client, "owner", "wrong", f"10.0.0.{n}").status_code == 401
    assert_throttled(login(anonymous_client, "owner", "wrong", "10.0.0.99"))
    assert_throttled(login(anonymous_client, "Owner", "wrong", "10.0.0.98"))  # case-folded
    assert login(anonymous_client, "outsider", "wrong", "10.0.0.97").status_code == 401


def test_logins_are_throttled_per_address_whatever_the_username(anonymous_client, owner, settings):
    settings.LOGIN_RATE_PER_ADDRESS = "3/minute"
    for n in range(3):
        assert login(anonymous_client, f"user-{n}", "wrong", "10.0.1.1").status_code == 401
    assert_throttled(login(anonymous_client, "owner", PASSWORD, "10.0.1.1"))
    assert login(anonymous_client, "owner", PASSWORD, "10.0.1.2").status_code == 200


def test_a_forged_forwarded_for_header_does_not_buy_new_attempts(anonymous_client, settings):
    settings.LOGIN_RATE_PER_ADDRESS = "2/minute"
    for n in range(2):
        anonymous_client.post(
            TOKEN_URL,
            {"username": f"u{n}", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    response = anonymous_client.post(
        TOKEN_URL,
        {"username": "u9", "password": "x"},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert_throttled(response)


def test_the_admin_login_is_throttled_per_username(owner, settings):
    settings.LOGIN_RATE_PER_USERNAME = "3/minute"
    client = Client()
    for _ in range(3):
        page = client.post("/admin/login/", {"username": "owner", "password": "wrong"})
        assert page.status_code == 200  # the form again, with its error
    refused = client.post("/admin/login/", {"username": "owner", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_the_admin_login_page_itself_is_not_throttled(settings):
    settings.LOGIN_RATE_PER_ADDRESS = "1/minute"
    client = Client()
    assert all(client.get("/admin/login/").status_code == 200 for _ in range(3))


def test_logout_revokes_the_token(anonymous_client, owner):
    token = login(anonymous_client, "owner", PASSWORD).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(LOGOUT_URL)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert not Token.objects.filter(key=token).exists()
    refused = client.get("/api/settings/connections")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    fresh = login(anonymous_client, "owner", PASSWORD).json()["token"]
    assert fresh != token


def test_logout_without_authentication_is_401(anonymous_client):
    response = anonymous_client.post(LOGOUT_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_logout_ends_a_session_login(owner):
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(owner)
    assert client.post(LOGOUT_URL).status_code == 200
    assert client.get("/api/settings/connections").status_code in (401, 403)


def test_a_token_older_than_the_ttl_is_refused_and_deleted(owner_client, owner, settings):
    settings.API_TOKEN_TTL_HOURS = 1
    assert owner_client.get("/api/settings/connections").status_code == 200
    Token.objects.filter(user=owner).update(created=timezone.now() - timedelta(hours=2))
    response = owner_client.get("/api/settings/connections")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    assert not Token.objects.filter(user=owner).exists()


def test_a_login_after_expiry_issues_a_fresh_token(anonymous_client, owner, settings):
    settings.API_TOKEN_TTL_HOURS = 1
    old = login(anonymous_client, "owner", PASSWORD).json()["token"]
    Token.objects.filter(key=old).update(created=timezone.now() - timedelta(hours=2))
    fresh = login(anonymous_client, "owner", PASSWORD).json()["token"]
    assert fresh != old
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
    assert client.get("/api/settings/connections").status_code == 200


def test_tokens_never_expire_with_the_ttl_off(owner_client, owner, settings):
    settings.API_TOKEN_TTL_HOURS = 0
    Token.objects.filter(user=owner).update(created=timezone.now() - timedelta(days=3650))
    assert owner_client.get("/api/settings/connections").status_code == 200
