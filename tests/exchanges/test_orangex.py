"""The OrangeX connector against exact JSON-RPC payloads (facts: docs/exchanges/orangex.md).

Payload shapes follow the facts file; where it records no payload (order not found, the
over-limit answer) the test says so and uses the most plausible JSON-RPC form.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from exchanges import errors, orangex
from exchanges.base import Credentials, ExchangeOrder, OrderRequest
from exchanges.symbols import parse_symbol
from tests.exchanges.contract import (
    API_KEY,
    API_SECRET,
    CLIENT_ID,
    FROZEN_NOW,
    ConnectorContract,
    RecordingThrottle,
)

BASE = "https://contract.test"
TOKEN = "orangex-access-token-0001"
ORDER_ID = "828610767077068800"
FULL_SCOPE = "account:read_write trade:read_write wallet:read_write"
READ_ONLY_SCOPE = "account:read block_trade:undefined trade:read wallet:read"


def url(method: str, base: str = BASE) -> str:
    return f"{base}/api/v1{method}"


def ok(result: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "usIn": 1700000000120,
        "usOut": 1700000000125,
        "usDiff": 5,
        "result": result,
    }


def failure(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message, "data": {}}}


def auth_result(scope: str = FULL_SCOPE, expires_in: int = 43199) -> dict[str, Any]:
    return {
        "access_token": TOKEN,
        "token_type": "bearer",
        "refresh_token": "refresh-0001",
        "expires_in": expires_in,
        "scope": scope,
    }


def raw_order(**changes: Any) -> dict[str, Any]:
    """get_order_state's fields as listed in the facts (section 3)."""
    raw = {
        "order_id": ORDER_ID,
        "order_state": "open",
        "instrument_name": "BTC-USDT-PERPETUAL",
        "direction": "buy",
        "amount": "0.01",
        "price": "50000",
        "filled_amount": "0",
        "average_price": "0",
        "condition_type": "NORMAL",
        "trigger_price": "0",
        "position_side": "BOTH",
        "leverage": "10",
        "error_code": 0,
    }
    raw.update(changes)
    return raw


def add_auth(rsps: responses.RequestsMock, scope: str = FULL_SCOPE, base: str = BASE) -> None:
    rsps.add(responses.POST, url(orangex.AUTH, base), json=ok(auth_result(scope)))


def sent(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


def calls_to(rsps: responses.RequestsMock, method: str) -> list[Any]:
    return [call for call in rsps.calls if call.request.url == url(method)]


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    orangex.clear_token_cache()
    yield
    orangex.clear_token_cache()


class TestOrangexContract(ConnectorContract):
    exchange = "orangex"
    connector_class = orangex.OrangexConnector
    api_type = "perpetual_futures"
    symbol = "BTC/USDT:USDT"
    base_url = BASE
    status_cases = [
        (raw_order(), "open"),
        (raw_order(filled_amount="0.004"), "partially_filled"),
        (raw_order(order_state="filled", filled_amount="0.01", average_price="50000"), "filled"),
        (raw_order(order_state="canceled"), "canceled"),  # live spelling
        (raw_order(order_state="cancelled"), "canceled"),  # docs spelling
        (raw_order(order_state="canceled", filled_amount="0.004"), "canceled"),
        (raw_order(order_state="rejected"), "rejected"),
        (raw_order(order_state="canceled", error_code=5998), "rejected"),  # hedge auto-cancel
    ]
    error_cases = [
        (200, failure(10000, "Authentication Failure"), errors.AuthenticationError),
        (200, failure(2033, "Access denied"), errors.PermissionDenied),
        (200, failure(1000, "No service found"), errors.NotSupported),
        (200, failure(1001, "Bad requested"), errors.InvalidRequest),
        (200, failure(8000, "Request params not valid!"), errors.InvalidRequest),
        (200, failure(10001, "invalid params"), errors.InvalidRequest),
        (200, failure(5001, "Instrument does not exist."), errors.InvalidRequest),
        (200, failure(9999, "System error, please try again later"), errors.OrderOutcomeUnknown),
        # UNVERIFIED: no over-limit answer was ever observed; a plain 429 is taken as one.
        (429, {"message": "Too Many Requests"}, errors.RateLimited),
        (200, failure(4242, "a code nobody documented"), errors.ExchangeError),
    ]
    weight_cases = [
        (url(orangex.BUY)[len(BASE) :], 1),
        ("/api/v1/public/auth", 1),
        ("/api/v1/private/get_assets_info", 1),
    ]

    def _remember(self, rsps: responses.RequestsMock) -> None:
        self._rsps = rsps
        add_auth(rsps)

    def add_place_success(self, rsps, order: OrderRequest) -> None:
        self._remember(rsps)
        method = orangex.BUY if order.side == "buy" else orangex.SELL
        rsps.add(
            responses.POST,
            url(method),
            json=ok({"order": {"order_id": ORDER_ID, "custom_order_id": ""}}),
        )
        rsps.add(
            responses.POST,
            url(orangex.ORDER_STATE),
            json=ok(raw_order(amount=str(order.quantity), price=str(order.price))),
        )

    def add_place_answer(self, rsps, status, body, headers=None) -> None:
        self._remember(rsps)
        rsps.add(responses.POST, url(orangex.BUY), json=body, status=status, headers=headers or {})

    def add_place_exception(self, rsps, exc) -> None:
        self._remember(rsps)
        rsps.add(responses.POST, url(orangex.BUY), body=exc)

    def add_cancel_success(self, rsps, client_order_id) -> None:
        self._remember(rsps)
        rsps.add(responses.POST, url(orangex.CANCEL), json=ok({"order_id": ORDER_ID}))
        rsps.add(
            responses.POST, url(orangex.ORDER_STATE), json=ok(raw_order(order_state="canceled"))
        )

    def add_get_not_found(self, rsps) -> None:
        # The facts record no not-found answer for get_order_state; an empty result is the
        # JSON-RPC form (an error message naming the order is covered below).
        self._remember(rsps)
        rsps.add(responses.POST, url(orangex.ORDER_STATE), json=ok(None))

    def add_server_time(self, rsps) -> None:
        rsps.add(responses.POST, url(orangex.TICKERS), json=ok([]))

    def parse_order(self, raw) -> ExchangeOrder:
        return orangex.parse_order(raw)

    def lookup_kwargs(self) -> dict[str, str]:
        return {"exchange_order_id": ORDER_ID}

    def assert_signed(self, request) -> None:
        """OrangeX signs the token grant; every private call then carries the bearer token."""
        assert request.headers.get("Authorization") == f"bearer {TOKEN}"
        grants = [
            call.request for call in self._rsps.calls if call.request.url == url(orangex.AUTH)
        ]
        assert grants, "no token grant was sent"
        params = json.loads(grants[-1].body)["params"]
        assert params["grant_type"] == "client_signature"
        assert params["timestamp"] == str(int(FROZEN_NOW * 1000))
        assert params["signature"] == orangex.sign(
            API_SECRET, API_KEY, int(params["timestamp"]), params["nonce"]
        )


# -- OrangeX-specific ----------------------------------------------------------------------


@pytest.fixture
def throttle() -> RecordingThrottle:
    return RecordingThrottle()


@pytest.fixture
def now() -> list[float]:
    return [FROZEN_NOW]


@pytest.fixture
def conn(throttle, now) -> orangex.OrangexConnector:
    return orangex.OrangexConnector(
        credentials=Credentials(API_KEY, API_SECRET),
        api_type="perpetual_futures",
        environment="live",
        base_url=BASE,
        throttle=throttle,
        clock=lambda: now[0],
    )


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def limit_order(**changes: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "symbol": "BTC/USDT:USDT",
        "side": "buy",
        "type": "limit",
        "quantity": Decimal("0.01"),
        "price": Decimal("50000"),
        "client_order_id": CLIENT_ID,
    }
    values.update(changes)
    return OrderRequest(**values)


class TestSymbolsAndQuantities:
    def test_unified_perpetual_maps_to_the_perpetual_instrument_name(self):
        assert orangex.to_exchange_symbol(parse_symbol("BTC/USDT:USDT")) == "BTC-USDT-PERPETUAL"
        assert orangex.to_exchange_symbol(parse_symbol("1000SHIB/USDT:USDT")) == (
            "1000SHIB-USDT-PERPETUAL"
        )

    def test_instrument_names_map_back_to_unified_symbols(self):
        assert orangex.to_unified_symbol("ETH-USDT-PERPETUAL") == "ETH/USDT:USDT"
        assert orangex.to_unified_symbol("BTC-USDT") is None  # a spot name
        assert orangex.to_unified_symbol("BTC-SANDBOX-1") is None
        assert orangex.to_unified_symbol("-USDT-PERPETUAL") is None

    def test_non_usdt_perpetuals_and_spot_symbols_are_refused(self):
        with pytest.raises(errors.InvalidRequest):
            orangex.to_exchange_symbol(parse_symbol("BTC/USDC:USDC"))
        with pytest.raises(errors.InvalidRequest):
            orangex.to_exchange_symbol(parse_symbol("BTC/USDT"))

    def test_base_quantity_is_sent_as_the_amount_in_plain_decimal(self):
        params = orangex.order_params(
            limit_order(quantity=Decimal("1E-3"), price=Decimal("5.00E+4")), "BTC-USDT-PERPETUAL"
        )
        assert params == {
            "instrument_name": "BTC-USDT-PERPETUAL",
            "amount": "0.001",
            "type": "limit",
            "price": "50000",
            "time_in_force": "good_til_cancelled",
            "custom_order_id": CLIENT_ID,
            "position_side": "BOTH",
        }

    def test_market_orders_send_no_price_and_flags_are_booleans(self):
        params = orangex.order_params(
            limit_order(type="market", price=None, reduce_only=True, side="sell"),
            "BTC-USDT-PERPETUAL",
        )
        assert "price" not in params and "time_in_force" not in params
        assert params["reduce_only"] is True and params["type"] == "market"

    def test_time_in_force_maps_to_orangex_names(self):
        for ours, theirs in (("IOC", "immediate_or_cancel"), ("FOK", "fill_or_kill")):
            params = orangex.order_params(limit_order(time_in_force=ours), "X-USDT-PERPETUAL")
            assert params["time_in_force"] == theirs and "post_only" not in params
        post_only = orangex.order_params(limit_order(time_in_force="POST_ONLY"), "X-USDT-PERPETUAL")
        assert post_only["post_only"] is True
        assert post_only["time_in_force"] == "good_til_cancelled"

    @pytest.mark.parametrize(
        "changes",
        [
            {"quantity": Decimal("0")},
            {"quantity": Decimal("-1")},
            {"price": None},
            {"price": Decimal("0")},
            {"side": "long"},
            {"type": "stop"},
            {"time_in_force": "GTD"},
            {"client_order_id": "bad id with spaces"},
            {"client_order_id": "x" * 37},
            {"type": "market", "price": None, "time_in_force": "POST_ONLY"},
        ],
    )
    def test_bad_orders_are_refused_before_anything_is_sent(self, conn, mock, changes):
        with pytest.raises(errors.InvalidRequest):
            conn.place_order(limit_order(**changes))
        assert len(mock.calls) == 0

    def test_spot_margin_is_not_supported_and_sends_nothing(self, conn, mock):
        with pytest.raises(errors.NotSupported):
            conn.place_order(limit_order(margin=True))
        assert len(mock.calls) == 0

    def test_client_order_id_rule_is_orangex_s(self, conn):
        pattern = conn.client_order_id_pattern
        assert pattern.fullmatch("a.b:c/d_e-F9")
        assert pattern.fullmatch("x" * 36) and not pattern.fullmatch("x" * 37)
        assert not pattern.fullmatch("a+b") and not pattern.fullmatch("")


class TestBadInputAndEnvironments:
    def test_spot_symbol_on_a_perpetual_connection_is_refused_without_a_request(self, conn, mock):
        with pytest.raises(errors.InvalidRequest):
            conn.place_order(limit_order(symbol="BTC/USDT"))
        with pytest.raises(errors.InvalidRequest):
            conn.ticker("BTC/USDT")
        assert len(mock.calls) == 0

    def test_malformed_symbol_is_refused(self, conn, mock):
        with pytest.raises(errors.InvalidRequest):
            conn.positions("BTCUSDT")
        assert len(mock.calls) == 0

    def test_there_is_no_testnet(self):
        with pytest.raises(errors.NotSupported) as caught:
            orangex.OrangexConnector(
                credentials=Credentials(API_KEY, API_SECRET),
                api_type="perpetual_futures",
                environment="testnet",
            )
        assert caught.value.code == "environment_not_supported"

    def test_spot_connections_are_not_supported(self):
        with pytest.raises(errors.NotSupported):
            orangex.OrangexConnector(credentials=Credentials(API_KEY, API_SECRET), api_type="spot")

    def test_paper_without_a_base_url_has_no_host(self, mock):
        connector = orangex.OrangexConnector(
            credentials=Credentials(API_KEY, API_SECRET),
            api_type="perpetual_futures",
            environment="paper",
        )
        with pytest.raises(errors.NotSupported):
            connector.instruments()
        assert len(mock.calls) == 0

    def test_live_uses_the_official_host_and_json_rpc_headers(self, mock):
        live = "https://api.orangex.com"
        connector = orangex.OrangexConnector(
            credentials=Credentials(API_KEY, API_SECRET),
            api_type="perpetual_futures",
            clock=lambda: 1.0,
        )
        mock.add(responses.POST, url(orangex.AUTH, live), json=ok(auth_result()))
        mock.add(responses.POST, url(orangex.ASSETS, live), json=ok({"PERPETUAL": {}}))
        connector.heartbeat_read()
        grant, read = (call.request for call in mock.calls)
        assert grant.headers["Content-Type"] == "application/json"
        assert "Authorization" not in grant.headers
        assert read.headers["Authorization"] == f"bearer {TOKEN}"
        body = json.loads(read.body)
        assert body.pop("id") != json.loads(grant.body)["id"]
        assert body == {
            "jsonrpc": "2.0",
            "method": "/private/get_assets_info",
            "params": {"asset_type": ["PERPETUAL"]},
        }
        assert orangex.WS_HOSTS[("live", "linear")] + orangex.WS_PATH == (
            "wss://api.orangex.com/ws/api/v1"
        )

    def test_paper_environment_behaves_like_live_on_its_base_url(self, mock):
        connector = orangex.OrangexConnector(
            credentials=Credentials(API_KEY, API_SECRET),
            api_type="perpetual_futures",
            environment="paper",
            base_url="http://127.0.0.1:8900/orangex/",
        )
        mock.add(
            responses.POST,
            "http://127.0.0.1:8900/orangex/api/v1/public/get_instruments",
            json=ok([]),
        )
        assert connector.instruments() == []


class TestTokens:
    def test_the_token_is_granted_once_and_reused(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.heartbeat_read()
        conn.heartbeat_read()
        assert len(calls_to(mock, orangex.AUTH)) == 1
        assert len(calls_to(mock, orangex.ASSETS)) == 2

    def test_the_cache_is_shared_by_connectors_of_the_same_key(self, conn, mock, throttle):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.heartbeat_read()
        twin = orangex.OrangexConnector(
            credentials=Credentials(API_KEY, API_SECRET),
            api_type="perpetual_futures",
            base_url=BASE,
            clock=lambda: FROZEN_NOW,
        )
        twin.heartbeat_read()
        assert len(calls_to(mock, orangex.AUTH)) == 1

    def test_a_token_is_renewed_before_it_expires(self, conn, mock, now):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.heartbeat_read()
        now[0] += 43199 - orangex.TOKEN_REFRESH_MARGIN_SECONDS + 1
        conn.heartbeat_read()
        assert len(calls_to(mock, orangex.AUTH)) == 2

    def test_a_cached_token_refused_is_replaced_once(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        mock.add(responses.POST, url(orangex.ASSETS), json=failure(10000, "Authentication Failure"))
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.heartbeat_read()
        conn.heartbeat_read()
        assert len(calls_to(mock, orangex.AUTH)) == 2
        assert len(calls_to(mock, orangex.ASSETS)) == 3

    def test_a_refused_grant_is_an_authentication_error_without_retries(self, conn, mock):
        mock.add(responses.POST, url(orangex.AUTH), json=failure(10000, "Authentication Failure"))
        with pytest.raises(errors.AuthenticationError):
            conn.heartbeat_read()
        assert len(mock.calls) == 1

    def test_a_grant_without_a_token_is_an_authentication_error(self, conn, mock):
        mock.add(responses.POST, url(orangex.AUTH), json=ok({"scope": FULL_SCOPE}))
        with pytest.raises(errors.AuthenticationError):
            conn.heartbeat_read()

    def test_the_token_never_shows_in_reprs(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.heartbeat_read()
        assert TOKEN not in repr(conn._token) and TOKEN not in repr(conn)


class TestCredentialsAndTime:
    def test_permissions_and_warnings_come_from_the_token_scope(self):
        full = orangex.credential_check(FULL_SCOPE)
        assert full.permissions == ("read", "trade", "futures", "withdraw")
        assert full.warnings == ("withdraw_enabled",)
        read_only = orangex.credential_check(READ_ONLY_SCOPE)
        assert read_only.permissions == ("read",)
        assert read_only.warnings == ("read_only",)

    def test_check_credentials_takes_a_fresh_grant_then_reads_the_account(self, conn, mock):
        add_auth(mock, scope=READ_ONLY_SCOPE)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        conn.check_credentials()
        check = conn.check_credentials()
        assert check.warnings == ("read_only",)
        assert len(calls_to(mock, orangex.AUTH)) == 2

    def test_server_time_is_the_usout_of_a_public_reply(self, conn, mock):
        mock.add(responses.POST, url(orangex.TICKERS), json=ok([]))
        assert conn.server_time() == 1700000000125
        assert sent(mock.calls[0])["params"] == {"instrument_name": "BTC-USDT-PERPETUAL"}

    def test_usout_in_microseconds_is_also_understood(self):
        assert orangex.envelope_time_ms({"usOut": 1700000000125000}) == 1700000000125
        with pytest.raises(errors.ExchangeError):
            orangex.envelope_time_ms({"result": []})

    def test_test_connection_reports_offset_and_permissions(self, conn, mock):
        mock.add(responses.POST, url(orangex.TICKERS), json=ok([]))
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ASSETS), json=ok({"PERPETUAL": {}}))
        result = conn.test_connection()
        assert result.server_time_offset_ms == 125
        assert "trade" in result.permissions and result.warnings == ("withdraw_enabled",)
        grant = sent(calls_to(mock, orangex.AUTH)[0])["params"]
        assert grant["timestamp"] == str(int(FROZEN_NOW * 1000) + 125)  # corrected clock


class TestErrorsAndPauses:
    @pytest.mark.parametrize(
        ("code", "message", "expected"),
        [
            (10000, "Authentication Failure", errors.AuthenticationError),
            (2033, "Access denied", errors.PermissionDenied),
            (1000, "No service found", errors.NotSupported),
            (1001, "Bad requested", errors.InvalidRequest),
            (5001, "Instrument does not exist.", errors.InvalidRequest),
            (9902, "json parse error", errors.InvalidRequest),
            (9999, "System error, please try again later", errors.ExchangeUnavailable),
            (10004, "order_not_found", errors.OrderNotFound),  # Deribit's codes: UNVERIFIED
            (10009, "not_enough_funds", errors.InsufficientFunds),
            (10028, "too_many_requests", errors.RateLimited),
            (11044, "not_open_order", errors.InvalidOrder),
            (77, "Order not found", errors.OrderNotFound),  # message rows: UNVERIFIED
            (77, "Insufficient margin", errors.InsufficientFunds),
            (77, "duplicate custom_order_id", errors.DuplicateOrder),
        ],
    )
    def test_error_table_rows(self, code, message, expected):
        assert orangex.ERROR_TABLE.classify(code=code, message=message, http_status=200) is expected

    def test_system_error_on_a_read_is_unavailable_not_outcome_unknown(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.ASSETS),
            json=failure(9999, "System error, please try again later"),
        )
        with pytest.raises(errors.ExchangeUnavailable):
            conn.balances()

    def test_ambiguous_place_has_no_deadline_because_orangex_sends_none(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.BUY),
            json=failure(9999, "System error, please try again later"),
        )
        with pytest.raises(errors.OrderOutcomeUnknown) as caught:
            conn.place_order(limit_order())
        assert caught.value.deadline_ms is None and caught.value.code == "9999"

    def test_read_timeout_on_place_has_no_deadline(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST, url(orangex.BUY), body=requests.exceptions.ReadTimeout("read timed out")
        )
        with pytest.raises(errors.RequestTimeout) as caught:
            conn.place_order(limit_order())
        assert caught.value.deadline_ms is None

    def test_malformed_reply_on_a_write_is_outcome_unknown(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.CANCEL), json={"jsonrpc": "2.0", "id": 1})
        with pytest.raises(errors.OrderOutcomeUnknown):
            conn.cancel_order("BTC/USDT:USDT", exchange_order_id=ORDER_ID)

    def test_rate_limit_pause_honours_retry_after(self, conn, mock, throttle):
        mock.add(
            responses.POST,
            url(orangex.INSTRUMENTS),
            status=429,
            json={},
            headers={"Retry-After": "7"},
        )
        with pytest.raises(errors.RateLimited) as caught:
            conn.instruments()
        assert caught.value.retry_after == 7.0 and throttle.pauses == [7.0]

    def test_rate_limit_without_retry_after_pauses_one_second(self, conn, mock, throttle):
        mock.add(responses.POST, url(orangex.INSTRUMENTS), status=429, body="")
        with pytest.raises(errors.RateLimited):
            conn.instruments()
        assert throttle.pauses == [1.0]

    def test_orangex_reports_no_usage_headers(self, conn, mock, throttle):
        mock.add(
            responses.POST,
            url(orangex.INSTRUMENTS),
            json=ok([]),
            headers={"X-MBX-USED-WEIGHT-1M": "50"},
        )
        conn.instruments()
        assert throttle.usage == [] and throttle.acquired == [(1, "/api/v1/public/get_instruments")]

    def test_unknown_order_state_fails_loudly(self):
        with pytest.raises(errors.ExchangeError):
            orangex.parse_order(raw_order(order_state="untriggered"))


class TestParsers:
    def test_instruments_keep_active_perpetuals_with_their_limits(self, conn, mock):
        mock.add(
            responses.POST,
            url(orangex.INSTRUMENTS),
            json=ok(
                [
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "kind": "perpetual",
                        "is_active": True,
                        "tick_size": "0.1",
                        "min_trade_amount": "0.001",
                        "min_qty": "0.001",
                        "min_notional": "10",
                        "maker_commission": "0.0002",
                        "taker_commission": "0.0006",
                        "base_currency": "USDT",
                        "quote_currency": "BTC",
                        "leverage": 100,
                        "order_price_low_rate": "0.5",
                        "order_price_high_rate": "1.5",
                    },
                    {
                        "instrument_name": "OLD-USDT-PERPETUAL",
                        "is_active": False,
                        "tick_size": "1",
                        "min_trade_amount": "1",
                    },
                    {
                        "instrument_name": "BTC-USDT",
                        "is_active": True,
                        "tick_size": "0.01",
                        "min_trade_amount": "0.0001",
                    },
                ]
            ),
        )
        (btc,) = conn.instruments()
        assert sent(mock.calls[0])["params"] == {"currency": "PERPETUAL"}
        assert (btc.symbol, btc.exchange_symbol, btc.base, btc.quote, btc.kind) == (
            "BTC/USDT:USDT",
            "BTC-USDT-PERPETUAL",
            "BTC",
            "USDT",
            "linear",
        )
        assert (
            btc.tick_size,
            btc.lot_size,
            btc.min_quantity,
            btc.min_notional,
            btc.contract_value,
        ) == (Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("10"), Decimal("1"))

    def test_balances_read_the_perpetual_area(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.ASSETS),
            json=ok(
                {
                    "PERPETUAL": {
                        "available_funds": "9800",
                        "wallet_balance": "10000",
                        "total_margin_balance": "10010",
                        "total_upl": "10",
                        "total_upl_cross": "10",
                        "total_initial_margin_cross": "210",
                        "total_initial_margin_isolated": "0",
                    }
                }
            ),
        )
        (usdt,) = conn.balances()
        assert (usdt.asset, usdt.free, usdt.locked, usdt.total) == (
            "USDT",
            Decimal("9800"),
            Decimal("210"),
            Decimal("10010"),
        )

    def test_empty_account_has_no_balances(self):
        assert orangex.parse_balances({}) == []

    def test_positions_are_signed_and_flat_rows_skipped(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.POSITIONS),
            json=ok(
                [
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "position_side": "SHORT",
                        "size": "-0.02",
                        "average_price": "60000",
                        "margin_type": "cross",
                        "leverage": "10",
                        "floating_profit_loss": "-1.5",
                        "liquid_price": "65000",
                        "stop_loss_price": "0",
                        "take_profit_price": "0",
                        "risk_level": "0.01",
                    },
                    {"instrument_name": "ETH-USDT-PERPETUAL", "position_side": "LONG", "size": "0"},
                ]
            ),
        )
        (short,) = conn.positions("BTC/USDT:USDT")
        assert sent(calls_to(mock, orangex.POSITIONS)[0])["params"] == {
            "instrument_name": "BTC-USDT-PERPETUAL"
        }
        assert (
            short.symbol,
            short.quantity,
            short.entry_price,
            short.leverage,
            short.unrealized_pnl,
        ) == ("BTC/USDT:USDT", Decimal("-0.02"), Decimal("60000"), Decimal("10"), Decimal("-1.5"))

    def test_a_short_row_with_an_unsigned_size_is_still_short(self):
        position = orangex.parse_position(
            {"instrument_name": "BTC-USDT-PERPETUAL", "position_side": "SHORT", "size": "0.5"}
        )
        assert position is not None and position.quantity == Decimal("-0.5")

    def test_ticker_reads_best_bid_and_ask(self, conn, mock):
        mock.add(
            responses.POST,
            url(orangex.TICKERS),
            json=ok(
                [
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "last_price": "60000",
                        "mark_price": "60000.2",
                        "best_bid_price": "59999.9",
                        "best_ask_price": "60000.1",
                        "underlying_price": "60000",
                        "stats": {},
                    }
                ]
            ),
        )
        ticker = conn.ticker("BTC/USDT:USDT")
        assert (ticker.symbol, ticker.bid, ticker.ask, ticker.last) == (
            "BTC/USDT:USDT",
            Decimal("59999.9"),
            Decimal("60000.1"),
            Decimal("60000"),
        )

    def test_ticker_of_an_unknown_instrument_is_invalid(self, conn, mock):
        mock.add(responses.POST, url(orangex.TICKERS), json=ok([]))
        with pytest.raises(errors.InvalidRequest):
            conn.ticker("NOPE/USDT:USDT")

    def test_order_fields_parse_to_base_quantities(self):
        order = orangex.parse_order(
            raw_order(
                order_state="filled",
                filled_amount="0.01",
                average_price="50000.5",
                direction="sell",
            )
        )
        assert (
            order.symbol,
            order.exchange_order_id,
            order.side,
            order.type,
            order.quantity,
            order.filled_quantity,
            order.average_price,
            order.price,
            order.raw_status,
            order.client_order_id,
        ) == (
            "BTC/USDT:USDT",
            ORDER_ID,
            "sell",
            "limit",
            Decimal("0.01"),
            Decimal("0.01"),
            Decimal("50000.5"),
            Decimal("50000"),
            "filled",
            None,
        )

    def test_order_without_a_price_is_a_market_order(self):
        assert orangex.parse_order(raw_order(price="0")).type == "market"


class TestHedgeMode:
    def test_long_and_short_rows_on_one_instrument_mean_hedge_mode(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.POSITIONS),
            json=ok(
                [
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "position_side": "LONG",
                        "size": "0.01",
                    },
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "position_side": "SHORT",
                        "size": "-0.02",
                    },
                ]
            ),
        )
        assert conn.is_hedge_mode() is True

    def test_one_sided_positions_are_one_way(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.POSITIONS),
            json=ok(
                [
                    {
                        "instrument_name": "BTC-USDT-PERPETUAL",
                        "position_side": "LONG",
                        "size": "0.01",
                    },
                    {
                        "instrument_name": "ETH-USDT-PERPETUAL",
                        "position_side": "SHORT",
                        "size": "-1",
                    },
                ]
            ),
        )
        assert conn.is_hedge_mode() is False

    def test_flat_account_is_one_way(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.POSITIONS), json=ok([]))
        assert conn.is_hedge_mode() is False

    def test_an_order_auto_cancelled_with_5998_raises_hedge_mode_unsupported(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.BUY),
            json=ok({"order": {"order_id": ORDER_ID, "custom_order_id": ""}}),
        )
        mock.add(
            responses.POST,
            url(orangex.ORDER_STATE),
            json=ok(raw_order(order_state="canceled", error_code=5998)),
        )
        with pytest.raises(errors.HedgeModeUnsupported):
            conn.place_order(limit_order())


class TestOrders:
    def place(self, conn, mock, state_answer: dict[str, Any]) -> ExchangeOrder:
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.BUY),
            json=ok({"order": {"order_id": ORDER_ID, "custom_order_id": ""}}),
        )
        mock.add(responses.POST, url(orangex.ORDER_STATE), json=state_answer)
        return conn.place_order(limit_order())

    def test_place_sends_buy_and_then_asks_for_the_state(self, conn, mock):
        placed = self.place(conn, mock, ok(raw_order()))
        buy = sent(calls_to(mock, orangex.BUY)[0])
        assert buy["method"] == "/private/buy" and buy["jsonrpc"] == "2.0"
        assert buy["params"]["custom_order_id"] == CLIENT_ID
        assert sent(calls_to(mock, orangex.ORDER_STATE)[0])["params"] == {"order_id": ORDER_ID}
        assert (placed.exchange_order_id, placed.client_order_id, placed.status) == (
            ORDER_ID,
            CLIENT_ID,
            "open",
        )

    def test_sell_goes_to_the_sell_method(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.SELL),
            json=ok({"order": {"order_id": ORDER_ID, "custom_order_id": ""}}),
        )
        mock.add(responses.POST, url(orangex.ORDER_STATE), json=ok(raw_order(direction="sell")))
        assert conn.place_order(limit_order(side="sell")).side == "sell"

    def test_a_stale_or_malformed_state_after_placing_reports_the_accepted_order(self, conn, mock):
        placed = self.place(conn, mock, {"jsonrpc": "2.0", "id": 3})
        assert (placed.status, placed.raw_status, placed.quantity, placed.price) == (
            "open",
            "accepted",
            Decimal("0.01"),
            Decimal("50000"),
        )

    @pytest.mark.parametrize("result", [{"order": {}}, {"order": None}, None, []])
    def test_a_buy_reply_without_an_order_id_is_outcome_unknown(self, conn, mock, result):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.BUY), json=ok(result))
        with pytest.raises(errors.OrderOutcomeUnknown):
            conn.place_order(limit_order())

    def test_lookup_by_client_id_is_not_supported_and_sends_nothing(self, conn, mock):
        with pytest.raises(errors.NotSupported) as caught:
            conn.get_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)
        assert "client order id" in str(caught.value)
        with pytest.raises(errors.NotSupported):
            conn.cancel_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)
        assert len(mock.calls) == 0

    def test_lookup_needs_an_id(self, conn):
        with pytest.raises(errors.InvalidRequest):
            conn.get_order("BTC/USDT:USDT")

    def test_get_order_by_exchange_id_keeps_our_client_id_when_given(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.ORDER_STATE),
            json=ok(raw_order(filled_amount="0.005", average_price="50000")),
        )
        found = conn.get_order(
            "BTC/USDT:USDT", exchange_order_id=ORDER_ID, client_order_id=CLIENT_ID
        )
        assert (found.status, found.filled_quantity, found.client_order_id) == (
            "partially_filled",
            Decimal("0.005"),
            CLIENT_ID,
        )

    def test_an_error_naming_a_missing_order_is_order_not_found(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.ORDER_STATE), json=failure(12345, "order not found"))
        with pytest.raises(errors.OrderNotFound):
            conn.get_order("BTC/USDT:USDT", exchange_order_id="1")

    def test_cancel_reports_the_state_a_query_sees_right_after(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.CANCEL), json=ok({"order_id": ORDER_ID}))
        mock.add(responses.POST, url(orangex.ORDER_STATE), json=ok(raw_order()))  # stale
        canceled = conn.cancel_order("BTC/USDT:USDT", exchange_order_id=ORDER_ID)
        assert sent(calls_to(mock, orangex.CANCEL)[0])["params"] == {"order_id": ORDER_ID}
        assert canceled.status == "open"  # honest: the flip comes a moment later

    def test_cancel_with_an_unreadable_state_reports_cancel_requested(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.CANCEL), json=ok({"order_id": ORDER_ID}))
        mock.add(responses.POST, url(orangex.ORDER_STATE), json=failure(9999, "System error"))
        canceled = conn.cancel_order("BTC/USDT:USDT", exchange_order_id=ORDER_ID)
        assert (canceled.exchange_order_id, canceled.raw_status) == (ORDER_ID, "cancel_requested")

    def test_cancel_all_by_instrument_returns_the_count(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.CANCEL_BY_INSTRUMENT), json=ok(3))
        assert conn.cancel_all("BTC/USDT:USDT") == 3
        assert sent(mock.calls[-1])["params"] == {"instrument_name": "BTC-USDT-PERPETUAL"}

    def test_cancel_all_without_symbol_cancels_the_perpetual_currency(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.CANCEL_BY_CURRENCY), json=ok([{"order_id": "1"}]))
        assert conn.cancel_all() == 1
        assert sent(mock.calls[-1])["params"] == {"currency": "PERPETUAL"}

    def test_cancel_count_accepts_the_shapes_seen(self):
        assert orangex.cancel_count(2) == 2 and orangex.cancel_count("4") == 4
        assert orangex.cancel_count([{}, {}]) == 2 and orangex.cancel_count(None) == 0

    def test_open_orders_by_instrument(self, conn, mock):
        add_auth(mock)
        mock.add(
            responses.POST,
            url(orangex.OPEN_ORDERS),
            json=ok([raw_order(), raw_order(order_id="2", filled_amount="0.001")]),
        )
        orders = conn.open_orders("BTC/USDT:USDT")
        assert [order.status for order in orders] == ["open", "partially_filled"]
        assert sent(mock.calls[-1])["params"] == {"instrument_name": "BTC-USDT-PERPETUAL"}

    def test_open_orders_without_symbol_ask_by_currency(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.OPEN_ORDERS_ALL), json=ok([]))
        assert conn.open_orders() == []
        assert sent(mock.calls[-1])["params"] == {"currency": "PERPETUAL"}

    def test_order_history_filters_by_creation_time(self, conn, mock):
        add_auth(mock)
        # creation_timestamp is Deribit's field name (UNVERIFIED for OrangeX); rows without
        # it are kept rather than dropped.
        mock.add(
            responses.POST,
            url(orangex.ORDER_HISTORY),
            json=ok(
                [
                    raw_order(order_id="1", order_state="filled", creation_timestamp=1000),
                    raw_order(order_id="2", order_state="canceled", creation_timestamp=3000),
                    raw_order(order_id="3", order_state="canceled"),
                ]
            ),
        )
        history = conn.order_history("BTC/USDT:USDT", since_ms=2000)
        assert [order.exchange_order_id for order in history] == ["2", "3"]
        assert history[0].created_at_ms == 3000

    def test_set_leverage_sends_a_string_and_counts_as_a_write(self, conn, mock):
        add_auth(mock)
        mock.add(responses.POST, url(orangex.LEVERAGE), json=ok("ok"))
        conn.set_leverage("BTC/USDT:USDT", 15)
        assert sent(mock.calls[-1])["params"] == {
            "instrument_name": "BTC-USDT-PERPETUAL",
            "leverage": "15",
        }

    @pytest.mark.parametrize("leverage", [0, -1, "10", 2.5])
    def test_bad_leverage_is_refused_without_a_request(self, conn, mock, leverage):
        with pytest.raises(errors.InvalidRequest):
            conn.set_leverage("BTC/USDT:USDT", leverage)
        assert len(mock.calls) == 0

    def test_request_ids_increase(self, conn, mock):
        mock.add(responses.POST, url(orangex.INSTRUMENTS), json=ok([]))
        conn.instruments()
        conn.instruments()
        assert [sent(call)["id"] for call in mock.calls] == [1, 2]


def test_registry_exposes_the_connector():
    from exchanges.registry import connector_class

    assert connector_class("orangex") is orangex.OrangexConnector


# -- recent fills (private/get_user_trades_by_instrument, UNVERIFIED name) --------------------

TRADE = {
    "trade_id": "T-1",
    "order_id": ORDER_ID,
    "instrument_name": "BTC-USDT-PERPETUAL",
    "direction": "buy",
    "amount": "0.01",
    "price": "50000",
    "timestamp": int(FROZEN_NOW * 1000) - 1000,
    "role": "taker",
    "fee": "0.3",
    "fee_coin_type": "USDT",
    "positionSide": "BOTH",
}


def test_recent_fills_read_the_instruments_user_trades(mock, conn):
    add_auth(mock)
    mock.add(
        responses.POST, url(orangex.USER_TRADES), json=ok({"trades": [TRADE], "has_more": False})
    )
    since = int(FROZEN_NOW * 1000) - 60_000
    [fill] = conn.recent_fills("BTC/USDT:USDT", since_ms=since)
    [call] = calls_to(mock, orangex.USER_TRADES)
    assert sent(call)["params"] == {
        "instrument_name": "BTC-USDT-PERPETUAL",
        "count": 100,
        "sorting": "desc",
        "start_timestamp": since,
    }
    assert call.request.headers["Authorization"] == f"bearer {TOKEN}"
    assert (fill.trade_id, fill.exchange_order_id, fill.symbol, fill.side) == (
        "T-1",
        ORDER_ID,
        "BTC/USDT:USDT",
        "buy",
    )
    assert (fill.quantity, fill.price, fill.fee, fill.fee_asset, fill.liquidity) == (
        Decimal("0.01"),
        Decimal("50000"),
        Decimal("0.3"),
        "USDT",
        "taker",
    )


def test_recent_fills_accept_a_bare_list_reply(mock, conn):
    add_auth(mock)
    mock.add(responses.POST, url(orangex.USER_TRADES), json=ok([{**TRADE, "role": "MAKER"}]))
    [fill] = conn.recent_fills("BTC/USDT:USDT")
    assert fill.liquidity == "maker"
