"""The alert webhook's URL, judged once at start: an outside destination we POST to."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def alert_webhook_url(value: str) -> str:
    """``value`` when it is an http(s) URL with a host, "" when blank (alerts off); anything
    else stops the process at start. The message never repeats the URL: a webhook URL
    (Slack's) is itself a credential."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ImproperlyConfigured("ALERT_WEBHOOK_URL is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise ImproperlyConfigured("ALERT_WEBHOOK_URL must be an http or https URL")
    if not host or any(char.isspace() for char in value):
        raise ImproperlyConfigured("ALERT_WEBHOOK_URL must name a host")
    return value
