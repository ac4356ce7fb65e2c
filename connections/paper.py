"""Paper connections: generated credentials, an account upserted on the paper exchange."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from connections.errors import Unavailable

DEMO_BALANCES = {"USDT": "100000", "BTC": "2", "ETH": "20"}
PAPER_TIMEOUT_SECONDS = 5


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
    return PaperCredentials(api_key=f"paper{secrets.token_hex(14)}",
                            api_secret=secrets.token_hex(32), passphrase=passphrase)


def paper_base_url(exchange: str) -> str:
    return f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/{exchange}"


def paper_ws_url(exchange: str) -> str:
    root = settings.PAPER_EXCHANGE_URL.rstrip("/")
    return f"{root.replace('http://', 'ws://', 1).replace('https://', 'wss://', 1)}/{exchange}"


@sensitive_variables()
def paper_account_upsert(*, exchange: str, credentials: PaperCredentials) -> None:
    """Create or update the account; 503 paper_exchange_unavailable when it cannot."""
    body = {"exchange": exchange, "apiKey": credentials.api_key,
            "apiSecret": credentials.api_secret, "balances": DEMO_BALANCES,
            "permissions": ["read", "trade"]}
    if credentials.passphrase:
        body["passphrase"] = credentials.passphrase
    url = f"{settings.PAPER_EXCHANGE_URL.rstrip('/')}/_paper/accounts"
    try:
        response = requests.post(url, json=body, timeout=PAPER_TIMEOUT_SECONDS)
    except requests.RequestException:
        raise Unavailable("the paper exchange is not reachable",
                          code="paper_exchange_unavailable") from None
    if response.status_code not in (200, 201):
        raise Unavailable(f"the paper exchange refused the account ({response.status_code})",
                          code="paper_exchange_unavailable")
