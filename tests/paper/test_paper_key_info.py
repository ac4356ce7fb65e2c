"""The paper exchange serves each key-info endpoint from the account: its permissions
(withdraw among them), its ipWhitelist and keyExpiresAt (the control API), read back by
every connector's ``key_info()``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from exchanges.registry import connector_class
from tests.paper import make_paper_credentials

EXPIRES_MS = 1_900_000_000_000
EXPIRES = datetime.fromtimestamp(EXPIRES_MS / 1000, tz=UTC)
API_TYPE = {"orangex": "perpetual_futures"}
# what each exchange reports (docs/exchanges/<name>.md): Bybit and Binance an expiry, OKX,
# BingX and Bybit the bound IPs, Binance only that it is bound; Pionex and OrangeX neither
REPORTS_IPS = {"bybit", "okx", "bingx"}
REPORTS_BINDING = REPORTS_IPS | {"binance"}
REPORTS_EXPIRY = {"bybit", "binance"}
# Pionex tells nothing of withdrawals (its test probes reading and trading only)
REPORTS_WITHDRAW = {"bybit", "binance", "okx", "bingx", "orangex"}
ALL = ("bybit", "binance", "okx", "bingx", "pionex", "orangex")


def restricted_account(paper_url: str, exchange: str, **key: object):
    credentials = make_paper_credentials(
        paper_url, exchange, permissions=["read", "trade", "withdraw"]
    )
    body = {
        "exchange": exchange,
        "apiKey": credentials.api_key,
        "apiSecret": credentials.api_secret,
        **key,
    }
    if credentials.passphrase:
        body["passphrase"] = credentials.passphrase
    response = requests.post(f"{paper_url}/_paper/accounts", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return credentials, response.json()["account"]


def connect(paper_url: str, exchange: str, credentials):
    return connector_class(exchange)(
        credentials=credentials,
        api_type=API_TYPE.get(exchange, "spot"),
        environment="paper",
        base_url=f"{paper_url}/{exchange}",
    )


@pytest.mark.parametrize("exchange", ALL)
def test_a_withdraw_enabled_ip_bound_expiring_key_reads_back(paper_reset, exchange):
    credentials, account = restricted_account(
        paper_reset, exchange, ipWhitelist=["203.0.113.7"], keyExpiresAt=EXPIRES_MS
    )
    assert (account["ipWhitelist"], account["keyExpiresAt"]) == (["203.0.113.7"], EXPIRES_MS)
    key = connect(paper_reset, exchange, credentials).key_info()
    assert key.withdraw_enabled is (exchange in REPORTS_WITHDRAW), exchange
    assert "trade" in key.permissions
    assert key.ip_restricted is (True if exchange in REPORTS_BINDING else None)
    assert key.ips == (("203.0.113.7",) if exchange in REPORTS_IPS else ())
    assert key.expires_at == (EXPIRES if exchange in REPORTS_EXPIRY else None)


@pytest.mark.parametrize("exchange", ALL)
def test_a_key_without_ip_binding_or_expiry(paper_reset, exchange):
    credentials = make_paper_credentials(paper_reset, exchange, permissions=["read", "trade"])
    key = connect(paper_reset, exchange, credentials).key_info()
    assert not key.withdraw_enabled
    assert key.ip_restricted is (False if exchange in REPORTS_BINDING else None)
    assert key.expires_at is None


@pytest.mark.parametrize(
    "body, message",
    [
        ({"ipWhitelist": "203.0.113.7"}, "ipWhitelist"),
        ({"ipWhitelist": [""]}, "ipWhitelist"),
        ({"keyExpiresAt": "tomorrow"}, "keyExpiresAt"),
        ({"keyExpiresAt": -1}, "keyExpiresAt"),
    ],
)
def test_the_control_api_refuses_bad_key_restrictions(paper_reset, body, message):
    response = requests.post(
        f"{paper_reset}/_paper/accounts",
        json={"exchange": "bybit", "apiKey": "paperbadrestrictions", "apiSecret": "s" * 32, **body},
        timeout=10,
    )
    assert response.status_code == 400 and message in response.text
