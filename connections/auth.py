"""API tokens and logins: tokens issued, revoked and (with API_TOKEN_TTL_HOURS) expired;
logins throttled per username and per client address, on the API and in the admin.

The throttles are DRF's (history in the cache, so in Redis for every process at once);
their scope rates are the settings LOGIN_RATE_PER_USERNAME and LOGIN_RATE_PER_ADDRESS. The
client address is REMOTE_ADDR, or the X-Forwarded-For entry added by the last of
TRUSTED_PROXY_COUNT proxies (DRF's NUM_PROXIES), so a client cannot choose its own.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.throttling import SimpleRateThrottle


def token_name(token: Token) -> str:
    """What a token is called wherever Django prints one (admin titles and messages, the
    admin's history, reprs in tracebacks): its user and last 4 characters, never the key.
    DRF's Token names itself by its key, which is a password."""
    return f"token of user {token.user_id} (…{token.key[-4:]})"


def token_expired(token: Token) -> bool:
    ttl_hours = settings.API_TOKEN_TTL_HOURS
    return bool(ttl_hours) and token.created < timezone.now() - timedelta(hours=ttl_hours)


def token_issue(*, user: User) -> Token:
    """The user's token, or a new one when theirs has expired."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def token_revoke(*, user: User) -> bool:
    """Delete the user's token; True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; with API_TOKEN_TTL_HOURS set, a token older than that is
    refused and deleted, so the next login issues a fresh one."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed("the token has expired; log in again")
        return user, token


def login_username(request: Any) -> str | None:
    """The username a login request names: the JSON body (DRF) or the admin's form."""
    data = request.data if hasattr(request, "data") else request.POST
    username = data.get("username") if hasattr(data, "get") else None
    return username if isinstance(username, str) and username else None


class LoginThrottle(SimpleRateThrottle):
    """A DRF rate throttle whose rate is a Django setting, read when it is used (tests and
    operators change it without touching DRF's class-level rate table)."""

    rate_setting = ""

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)


class LoginAddressThrottle(LoginThrottle):
    """Login attempts per client address."""

    scope = "login_address"
    rate_setting = "LOGIN_RATE_PER_ADDRESS"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(LoginThrottle):
    """Login attempts per username, from wherever they come: guessing one account's
    password from many addresses is throttled too. Keyed by a hash (any length, any
    characters), case-folded so ``Admin`` and ``admin`` share a budget."""

    scope = "login_username"
    rate_setting = "LOGIN_RATE_PER_USERNAME"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        username = login_username(request)
        if username is None:
            return None
        digest = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


LOGIN_THROTTLES: tuple[type[LoginThrottle], ...] = (LoginUsernameThrottle, LoginAddressThrottle)


def login_throttle_wait(request: HttpRequest) -> float | None:
    """Seconds until this login may be tried, when a throttle refuses it; else None (and
    the attempt is counted)."""
    throttles = [throttle() for throttle in LOGIN_THROTTLES]
    # the admin login is a plain Django view: the throttles read only the request's address
    waits = [
        throttle.wait() or 1.0
        for throttle in throttles
        if not throttle.allow_request(request, None)  # type: ignore[arg-type]
    ]
    return max(waits) if waits else None


def throttled_login(login_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The admin's login view behind the same throttles as the token endpoint: a POST over
    them is a 429 with Retry-After and never reaches the password check."""

    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            wait = login_throttle_wait(request)
            if wait is not None:
                return HttpResponse(
                    "Too many login attempts; try again later.\n",
                    status=429,
                    content_type="text/plain",
                    headers={"Retry-After": str(math.ceil(wait))},
                )
        return login_view(request, **kwargs)

    return view
