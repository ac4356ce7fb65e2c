"""ccxt, unmodified, against the paper exchange: every exchange ccxt supports of our six
(Bybit, Binance spot and USD-M, OKX, BingX; ccxt has no Pionex or OrangeX).

Only ``exchange.urls['api']`` is configured: each of its URLs keeps its path and gets the
paper exchange's address plus ``/<exchange>`` instead of the real host. ccxt's defaults stay
as they are (market loading reads every market type and, with a key, the currency list), so
what ccxt asks of a real exchange is what the paper exchange must answer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest

from tests.paper.clients.conftest import (
    CLIENT_TIMEOUT_SECONDS,
    TriedSince,
    exchange_stats,
    paper_account,
    signature_failures,
)

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@dataclass(frozen=True)
class Case:
    exchange: str  # ccxt id and paper exchange name
    perp_amount: float = 0.01  # in ccxt's amount unit (OKX counts contracts of 0.01 BTC)
    perp_base: float = 0.01  # the same in BTC
    leverage_params: dict[str, Any] = field(default_factory=dict)
    fetch_order_params: dict[str, Any] = field(default_factory=dict)
    # BingX refuses a base-sized spot market buy (the facts: quoteOrderQty is required),
    # so its market buy goes through ccxt's cost-sized call
    market_buy_by_cost: bool = False


CASES = [
    # ccxt's bybit.fetch_order refuses unless told it only sees the last 500 orders
    Case("bybit", fetch_order_params={"acknowledged": True}),
    Case("binance"),
    Case("okx", perp_amount=1, perp_base=0.01),
    Case("bingx", leverage_params={"side": "BOTH"}, market_buy_by_cost=True),
]


def point_at_paper(client: ccxt.Exchange, paper_url: str) -> ccxt.Exchange:
    """Every API URL of the client keeps its path and moves to the paper exchange."""
    base = f"{paper_url}/{client.id}"

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: moved(item) for key, item in value.items()}
        if isinstance(value, str):
            return base + urlsplit(value.replace("{hostname}", client.hostname or "")).path
        return value

    client.urls["api"] = moved(client.urls["api"])
    return client


def make_client(paper_url: str, exchange: str) -> ccxt.Exchange:
    credentials = paper_account(paper_url, exchange)
    client = getattr(ccxt, exchange)(
        {
            "apiKey": credentials.api_key,
            "secret": credentials.api_secret,
            "password": credentials.passphrase or None,
            "timeout": CLIENT_TIMEOUT_SECONDS * 1000,
            "enableRateLimit": False,
        }
    )
    return point_at_paper(client, paper_url)


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.exchange)
def session(request: pytest.FixtureRequest, paper_url: str) -> Any:
    """One paper account and one ccxt client per exchange, shared by the module's tests."""
    case: Case = request.param
    before = signature_failures(paper_url, case.exchange)
    client = make_client(paper_url, case.exchange)
    client.load_markets()
    yield case, client
    assert signature_failures(paper_url, case.exchange) == before


def test_markets_tickers_and_balance_load(session: Any, outside_hosts: TriedSince) -> None:
    _case, client = session
    assert {SPOT, PERP} <= set(client.markets)
    assert client.markets[SPOT]["spot"] and client.markets[PERP]["swap"]
    assert client.markets[PERP]["linear"]
    ticker = client.fetch_ticker(SPOT)
    assert ticker["symbol"] == SPOT and ticker["last"] == 60000
    assert client.fetch_ticker(PERP)["symbol"] == PERP
    balance = client.fetch_balance()
    assert balance["USDT"]["free"] == 100000
    assert outside_hosts() == []


def test_a_resting_limit_order_is_found_listed_and_canceled(session: Any, paper_url: str) -> None:
    case, client = session
    client_id = f"cx{secrets.token_hex(6)}"
    placed = client.create_order(SPOT, "limit", "buy", 0.001, 50000, {"clientOrderId": client_id})
    assert placed["id"] and placed["clientOrderId"] == client_id
    found = client.fetch_order(placed["id"], SPOT, case.fetch_order_params)
    assert (found["id"], found["status"], found["amount"], found["price"]) == (
        placed["id"],
        "open",
        0.001,
        50000,
    )
    assert found["clientOrderId"] == client_id
    assert placed["id"] in [order["id"] for order in client.fetch_open_orders(SPOT)]
    client.cancel_order(placed["id"], SPOT)
    assert placed["id"] not in [order["id"] for order in client.fetch_open_orders(SPOT)]
    assert client.fetch_order(placed["id"], SPOT, case.fetch_order_params)["status"] == "canceled"
    assert exchange_stats(paper_url, case.exchange)["ordersByClientId"][client_id] == 1


def test_a_market_buy_fills_and_shows_in_balance_and_trades(session: Any) -> None:
    case, client = session
    before = client.fetch_balance()
    if case.market_buy_by_cost:
        placed = client.create_market_buy_order_with_cost(SPOT, 60)
    else:
        placed = client.create_order(SPOT, "market", "buy", 0.001)
    after = client.fetch_balance()
    assert after["BTC"]["total"] == pytest.approx(before["BTC"]["total"] + 0.001)
    assert after["USDT"]["total"] == pytest.approx(before["USDT"]["total"] - 60)
    trades = [trade for trade in client.fetch_my_trades(SPOT) if trade["order"] == placed["id"]]
    assert [(trade["side"], trade["amount"], trade["price"]) for trade in trades] == [
        ("buy", 0.001, 60000)
    ]


def test_leverage_a_perpetual_position_and_its_trades(session: Any) -> None:
    case, client = session
    client.set_leverage(5, PERP, case.leverage_params)
    placed = client.create_order(PERP, "market", "buy", case.perp_amount)
    positions = [p for p in client.fetch_positions([PERP]) if p["contracts"]]
    assert len(positions) == 1
    position = positions[0]
    assert (position["symbol"], position["side"]) == (PERP, "long")
    assert position["contracts"] * (position["contractSize"] or 1) == pytest.approx(case.perp_base)
    assert position["entryPrice"] == 60000
    # Binance's v3 positionRisk, which ccxt reads, reports no leverage
    assert position["leverage"] in (5, None)
    trades = [t for t in client.fetch_my_trades(PERP) if t["order"] == placed["id"]]
    assert [(t["side"], t["amount"], t["price"]) for t in trades] == [
        ("buy", case.perp_amount, 60000)
    ]
    resting = client.create_order(PERP, "limit", "buy", case.perp_amount, 50000)
    assert resting["id"] in [order["id"] for order in client.fetch_open_orders(PERP)]
    client.cancel_order(resting["id"], PERP)


def test_okx_places_through_batch_orders(paper_url: str) -> None:
    """ccxt places every OKX order, one or many, through ``/api/v5/trade/batch-orders``."""
    client = make_client(paper_url, "okx")
    before = exchange_stats(paper_url, "okx")["requests"].get("POST /api/v5/trade/batch-orders", 0)
    placed = client.create_orders(
        [
            {"symbol": SPOT, "type": "limit", "side": "buy", "amount": 0.001, "price": 40000},
            {"symbol": SPOT, "type": "limit", "side": "buy", "amount": 0.001, "price": 41000},
        ]
    )
    assert len({order["id"] for order in placed}) == 2
    assert {order["id"] for order in placed} <= {o["id"] for o in client.fetch_open_orders(SPOT)}
    stats = exchange_stats(paper_url, "okx")
    assert stats["requests"]["POST /api/v5/trade/batch-orders"] == before + 1


def test_an_unpointed_client_fails_at_once_instead_of_reaching_the_exchange(
    outside_hosts: TriedSince,
) -> None:
    client = ccxt.bybit({"timeout": CLIENT_TIMEOUT_SECONDS * 1000})
    with pytest.raises(ccxt.NetworkError) as failed:
        client.fetch_time()
    # refused, not waited out: a timeout would be ccxt's RequestTimeout
    assert not isinstance(failed.value, ccxt.RequestTimeout), failed.value
    assert outside_hosts() == ["api.bybit.com"]
