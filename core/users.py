"""Who is calling: the signed-in user of a request, typed as the user model."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest

from core.errors import NotAuthenticated


def caller(request: HttpRequest) -> User:
    """The request's user. Views and admin pages reach here only signed in (their
    permission classes say so); an anonymous caller is refused rather than passed on."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated(
            "authentication credentials were not provided", code="not_authenticated"
        )
    return user
