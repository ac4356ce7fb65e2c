"""The connection test tells the truth about the key: the API answers ``key`` and a
``withdraw_enabled`` warning, and the admin shows a withdraw-enabled key in red."""

from __future__ import annotations

import pytest

from exchanges.hosts import url_endpoint
from tests.connections.factories import make_connection
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/settings/connections"


def key_on_paper(owner, paper, settings, exchange, permissions):
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({url_endpoint(paper)})
    credentials = make_paper_credentials(paper, exchange, permissions=permissions)
    return make_connection(
        owner,
        name=f"{exchange} desk",
        exchange=exchange,
        base_url=f"{paper}/{exchange}",
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        passphrase=credentials.passphrase,
    )


@pytest.mark.parametrize("exchange", ["bybit", "okx", "bingx"])
def test_a_withdraw_enabled_key_is_warned_of_in_the_api(
    owner_client, owner, paper, settings, exchange
):
    connection = key_on_paper(owner, paper, settings, exchange, ["read", "trade", "withdraw"])
    result = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    assert result["success"] is True, result
    assert "withdraw_enabled" in result["warnings"]
    key = result["key"]
    assert {"read", "trade", "withdraw"} <= set(key["permissions"])
    assert (key["ipRestricted"], key["expiresAt"]) == (False, None)


def test_a_trade_only_key_has_no_withdraw_warning(owner_client, owner, paper, settings):
    connection = key_on_paper(owner, paper, settings, "binance", ["read", "trade"])
    result = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    assert "withdraw_enabled" not in result["warnings"]
    assert "withdraw" not in result["key"]["permissions"]


def test_the_admin_shows_a_withdraw_enabled_key_in_red(
    client, staff, owner_client, owner, paper, settings
):
    risky = key_on_paper(owner, paper, settings, "bybit", ["read", "trade", "withdraw"])
    safe = key_on_paper(owner, paper, settings, "okx", ["read", "trade"])
    for connection in (risky, safe):
        owner_client.post(f"{URL}/{connection.pk}/test")
    client.force_login(staff)
    listing = client.get("/admin/connections/exchangeconnection/").content.decode()
    assert listing.count('class="key-withdraw" style="color:#ba2121"') == 1
    page = client.get(f"/admin/connections/exchangeconnection/{risky.pk}/change/").content.decode()
    assert "withdraw enabled" in page and "#ba2121" in page
    calm = client.get(f"/admin/connections/exchangeconnection/{safe.pk}/change/").content.decode()
    assert "withdraw enabled" not in calm
