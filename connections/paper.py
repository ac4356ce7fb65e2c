"""Paper connections: generated credentials, an account upserted on the paper exchange."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from core.errors import Unavailable

DEMO_BALANCES = {"USDT": "100000", "BTC": "2", "ETH": "20"}
PAPER_TIMEOUT_SECONDS = 5
# The whole production start-up probe of the control API, name resolution included.
PAPER_PROBE_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class PaperCredentials:
    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str = field(repr=False)

    def __repr__(self) -> str:
        return f"PaperCredentials(api_key='…{self.api_key[-4:]}')"


@sensitive_variables()
def paper_credentials_generate(*, exchange: str) -> PaperCredentials:
    passphrase = secrets.token_urlsafe(12) if exchange == "okx" else ""
    return PaperCredentials(
        api_key=f"paper{secrets.token_hex(14)}",
        api_secret=secrets.token_hex(32),
        passphrase=passphrase,
    )


def paper_base_url(exchange: str) -> str:
    return f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/{exchange}"


def paper_ws_url(exchange: str) -> str:
    root = settings.PAPER_EXCHANGE_URL.rstrip("/")
    return f"{root.replace('http://', 'ws://', 1).replace('https://', 'wss://', 1)}/{exchange}"


@sensitive_variables()
def paper_account_upsert(*, exchange: str, credentials: PaperCredentials) -> None:
    """Create or update the account; 503 paper_exchange_unavailable when it cannot."""
    body = {
        "exchange": exchange,
        "apiKey": credentials.api_key,
        "apiSecret": credentials.api_secret,
        "balances": DEMO_BALANCES,
        "permissions": ["read", "trade"],
    }
    if credentials.passphrase:
        body["passphrase"] = credentials.passphrase
    url = f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/_paper/accounts"
    try:
        response = requests.post(url, json=body, timeout=PAPER_TIMEOUT_SECONDS)
    except requests.RequestException:
        raise Unavailable(
            "the paper exchange is not reachable", code="paper_exchange_unavailable"
        ) from None
    if response.status_code not in (200, 201):
        raise Unavailable(
            f"the paper exchange refused the account ({response.status_code})",
            code="paper_exchange_unavailable",
        )


def paper_control_answers(*, timeout: float = PAPER_PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether PAPER_EXCHANGE_URL's control API answers ``GET /_paper/health`` with
    ``{"ok": true}`` within ``timeout`` seconds, all in: requests' own timeout does not bound
    name resolution, so the probe runs on a daemon thread that is abandoned at the deadline.
    Only that answer counts; every failure (no DNS, refused, silent, another service) is
    "does not answer", so a start without network is neither refused nor slowed past it."""
    url = f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/_paper/health"
    answered = threading.Event()

    def probe() -> None:
        try:
            response = requests.get(url, timeout=timeout, allow_redirects=False)
            if response.status_code == 200 and response.json().get("ok") is True:
                answered.set()
        except (requests.RequestException, ValueError, AttributeError):
            pass

    threading.Thread(target=probe, name="paper-probe", daemon=True).start()
    return answered.wait(timeout)
