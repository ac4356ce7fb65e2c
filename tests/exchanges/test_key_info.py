"""``key_info()`` per exchange, from each key-info endpoint's documented payload
(docs/exchanges/<name>.md names the sources): permissions, the IP binding, the expiry;
None where the exchange does not report one."""

from __future__ import annotations

from datetime import UTC, datetime

import responses

from exchanges import binance, bingx, bybit, okx
from exchanges.base import KeyInfo, unrestricted_key
from tests.exchanges import test_binance, test_bingx, test_bybit, test_okx

BASE = "https://contract.test"


# Bybit docs (v5/user/apikey-info): ips ["*"] = no IP bound; expiredAt only for such keys.
BYBIT_UNBOUND = {
    "id": "13770661",
    "note": "desk",
    "apiKey": "XXXXXX",
    "readOnly": 0,
    "secret": "",
    "permissions": {
        "ContractTrade": ["Order", "Position"],
        "Spot": ["SpotTrade"],
        "Wallet": ["AccountTransfer", "SubMemberTransfer", "Withdraw"],
        "Options": ["OptionsTrade"],
        "Derivatives": ["DerivativesTrade"],
        "Exchange": ["ExchangeHistory"],
        "Earn": [],
        "NFT": [],
        "BlockTrade": [],
        "Affiliate": [],
    },
    "ips": ["*"],
    "type": 1,
    "deadlineDay": 66,
    "expiredAt": "2023-12-01T02:36:06Z",
    "createdAt": "2023-09-27T02:36:06Z",
    "unified": 0,
    "uta": 1,
    "userID": 24617703,
    "inviterID": 0,
    "vipLevel": "No VIP",
    "mktMakerLevel": "0",
    "affiliateID": 0,
    "rsaPublicKey": "",
    "isMaster": True,
    "parentUid": "0",
    "kycLevel": "LEVEL_DEFAULT",
    "kycRegion": "",
}


def test_bybit_reads_permissions_ips_and_the_expiry_of_an_unbound_key():
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bybit.API_KEY_INFO, json=test_bybit.envelope(BYBIT_UNBOUND))
        key = test_bybit.make().key_info()
    assert key == KeyInfo(
        permissions=frozenset({"read", "trade", "futures", "withdraw", "transfer"}),
        ip_restricted=False,
        ips=(),
        expires_at=datetime(2023, 12, 1, 2, 36, 6, tzinfo=UTC),
    )
    assert key.warnings() == ("withdraw_enabled", "no_ip_whitelist")


def test_bybit_a_bound_key_lists_its_ips_and_has_no_expiry():
    bound = {
        **BYBIT_UNBOUND,
        "ips": ["203.0.113.7", "198.51.100.2"],
        "expiredAt": "",
        "permissions": {"Spot": ["SpotTrade"], "Wallet": []},
    }
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bybit.API_KEY_INFO, json=test_bybit.envelope(bound))
        key = test_bybit.make().key_info()
    assert (key.ip_restricted, key.ips, key.expires_at) == (
        True,
        ("203.0.113.7", "198.51.100.2"),
        None,
    )
    assert not key.withdraw_enabled and key.warnings() == ()


def test_bybit_the_connection_test_carries_the_key_from_the_same_answer():
    with responses.RequestsMock() as rsps:
        rsps.add(
            "GET",
            BASE + bybit.SERVER_TIME,
            json=test_bybit.envelope(
                {"timeSecond": "1700000000", "timeNano": "1700000000000000000"}
            ),
        )
        rsps.add("GET", BASE + bybit.API_KEY_INFO, json=test_bybit.envelope(BYBIT_UNBOUND))
        result = test_bybit.make().test_connection()
        assert len(rsps.calls) == 2  # one key-info read, not two
    assert result.key is not None and result.key.withdraw_enabled
    assert "withdraw_enabled" in result.warnings


# Binance docs (wallet/account/api-key-permission); tradingAuthorityExpirationTime is the
# expiry of the spot and margin trading permission (present for some keys only).
BINANCE_RESTRICTIONS = {
    "ipRestrict": False,
    "createTime": 1698645219000,
    "enableReading": True,
    "enableWithdrawals": True,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": True,
    "enableSpotAndMarginTrading": True,
    "enablePortfolioMarginTrading": True,
    "tradingAuthorityExpirationTime": 1628985600000,
}


def test_binance_reads_ip_restrict_and_the_trading_expiry():
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + binance.API_RESTRICTIONS, json=BINANCE_RESTRICTIONS)
        key = test_binance.make().key_info()
    assert key.permissions == frozenset({"read", "withdraw", "trade"})
    assert (key.ip_restricted, key.ips) == (False, ())
    assert key.expires_at == datetime(2021, 8, 15, tzinfo=UTC)


def test_binance_an_ip_restricted_key_without_expiry():
    raw = {**BINANCE_RESTRICTIONS, "ipRestrict": True, "enableWithdrawals": False}
    del raw["tradingAuthorityExpirationTime"]
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + binance.API_RESTRICTIONS, json=raw)
        key = test_binance.make().key_info()
    assert (key.ip_restricted, key.expires_at, key.withdraw_enabled) == (True, None, False)


# OKX docs (account/config): perm "read_only,withdraw,trade"; ip comma-separated, "" = none.
OKX_CONFIG = {
    "uid": "44705892343619584",
    "mainUid": "44705892343619584",
    "acctLv": "2",
    "posMode": "net_mode",
    "autoLoan": False,
    "greeksType": "PA",
    "level": "Lv1",
    "levelTmp": "",
    "ctIsoMode": "automatic",
    "mgnIsoMode": "automatic",
    "spotOffsetType": "",
    "roleType": "0",
    "traderInsts": [],
    "opAuth": "0",
    "kycLv": "3",
    "label": "v5 test",
    "ip": "203.0.113.7,198.51.100.2",
    "perm": "read_only,withdraw,trade",
    "liquidationGear": "-1",
}


def test_okx_reads_perm_and_the_bound_ips_and_reports_no_expiry():
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + okx.ACCOUNT_CONFIG, json=test_okx.envelope([OKX_CONFIG]))
        key = test_okx.make().key_info()
    assert key == KeyInfo(
        permissions=frozenset({"read", "trade", "withdraw"}),
        ip_restricted=True,
        ips=("203.0.113.7", "198.51.100.2"),
    )


def test_okx_a_key_without_ip_is_unrestricted():
    with responses.RequestsMock() as rsps:
        rsps.add(
            "GET",
            BASE + okx.ACCOUNT_CONFIG,
            json=test_okx.envelope([{**OKX_CONFIG, "ip": "", "perm": "read_only"}]),
        )
        key = test_okx.make().key_info()
    assert (key.ip_restricted, key.permissions) == (False, frozenset({"read"}))
    assert key.warnings() == ("no_ip_whitelist", "read_only")


# BingX docs (account apiPermissions): permissions are numbers (1 spot trading, 2 read,
# 3 perpetual trading, 4 transfer, 5 withdraw, 7 sub-account transfer); ipAddresses.
def test_bingx_reads_the_numbered_permissions_and_ip_addresses():
    data = {
        "apiKey": "XXXX",
        "permissions": [1, 2, 5],
        "ipAddresses": ["203.0.113.7"],
        "note": "desk",
    }
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bingx.API_PERMISSIONS, json=test_bingx.ok(data))
        key = test_bingx.make().key_info()
    assert key == KeyInfo(
        permissions=frozenset({"read", "trade", "withdraw"}),
        ip_restricted=True,
        ips=("203.0.113.7",),
    )


def test_bingx_no_ip_addresses_is_unrestricted():
    data = {"apiKey": "XXXX", "permissions": [2], "ipAddresses": [], "note": ""}
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bingx.API_PERMISSIONS, json=test_bingx.ok(data))
        key = test_bingx.make().key_info()
    assert (key.ip_restricted, key.expires_at) == (False, None)


def test_a_key_whose_binding_is_not_reported_is_unknown_not_unrestricted():
    key = unrestricted_key(["read", "trade"])
    assert key.ip_restricted is None and key.expires_at is None
    assert "no_ip_whitelist" not in key.warnings()
