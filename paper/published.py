"""The rate limits each exchange publishes, as the paper exchange enforces them.

Written from the facts (docs/rate-limits.md and section 5 of docs/exchanges/<name>.md), not
from the connectors' tables: a wrong figure on our side then meets the exchange's own figure
here instead of agreeing with itself. tests/paper/test_published_rate_limits.py says where
the two tables part. ``budgets_in_force`` applies ``EXCHANGE_RATE_PRESET`` and
``EXCHANGE_RATE_LIMITS`` as our side applies them (taken as given on both sides).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from paper.windows import (
    ACCOUNT,
    IP,
    Budget,
    Counts,
    ExchangeLimit,
    Window,
    apply_overrides,
    with_legacy_limit,
)


def _endpoint(
    scope: str,
    endpoint: str,
    limit: int,
    seconds: int,
    *,
    product: str | None = None,
    counts: Counts = "requests",
    per_instrument: bool = False,
) -> tuple[str, Window]:
    """One per-endpoint window, named ``[<product>] <scope> <endpoint> <interval>s``."""
    prefix = f"{product} " if product else ""
    window = Window(
        limit,
        seconds,
        IP if scope == "ip" else ACCOUNT,
        counts,
        product=product,
        endpoints=frozenset({endpoint}),
        per_instrument=per_instrument,
    )
    return f"{prefix}{scope} {endpoint} {seconds}s", window


# Bybit: 600 requests per 5 s per IP; per UID a rolling second per endpoint, spot apart from
# derivatives for the trade endpoints (UTA 2.0 Pro table). UNVERIFIED: set-leverage is not
# in the facts (Hummingbot's 10/s).
BYBIT = Budget(
    windows=dict(
        [
            ("ip requests 5s", Window(600, 5, IP)),
            *(
                _endpoint("account", path, limit, 1, product=product)
                for path in ("/v5/order/create", "/v5/order/cancel", "/v5/order/cancel-all")
                for product, limit in (("spot", 20), ("linear", 10))
            ),
            *(
                _endpoint("account", path, 50, 1)
                for path in (
                    "/v5/order/realtime",
                    "/v5/order/history",
                    "/v5/position/list",
                    "/v5/account/wallet-balance",
                    "/v5/account/info",
                )
            ),
            # UNVERIFIED for this endpoint: the trade group's 50 / s
            _endpoint("account", "/v5/execution/list", 50, 1),
            _endpoint("account", "/v5/user/query-api", 10, 1),
            _endpoint("account", "/v5/position/set-leverage", 10, 1),
            # UNVERIFIED: DCP is absent from Bybit's rate-limit table; 10/s assumed
            _endpoint("account", "/v5/order/disconnected-cancel-all", 10, 1),
        ]
    )
)

# Binance: spot and USD-M are separate pools. The spot figures are exchangeInfo's example
# values (raw requests raised to 300,000 / 5 min on 2026-04-02). UNVERIFIED: USD-M's
# 300 orders / 10 s is Hummingbot's value from exchangeInfo, not in the official text.
BINANCE = Budget(
    pools={"spot": "spot", "linear": "usdm"},
    windows={
        "spot ip weight 1m": Window(6000, 60, IP, "weight", product="spot"),
        "spot ip requests 5m": Window(300_000, 300, IP, "requests", product="spot"),
        "spot account orders 10s": Window(
            50, 10, ACCOUNT, "orders", product="spot", endpoints=frozenset({"POST /api/v3/order"})
        ),
        "spot account orders 1d": Window(
            160_000,
            86400,
            ACCOUNT,
            "orders",
            product="spot",
            endpoints=frozenset({"POST /api/v3/order"}),
        ),
        "usdm ip weight 1m": Window(2400, 60, IP, "weight", product="linear"),
        "usdm account orders 1m": Window(
            1200,
            60,
            ACCOUNT,
            "orders",
            product="linear",
            endpoints=frozenset({"POST /fapi/v1/order"}),
        ),
        "usdm account orders 10s": Window(
            300,
            10,
            ACCOUNT,
            "orders",
            product="linear",
            endpoints=frozenset({"POST /fapi/v1/order"}),
        ),
    },
)

# OKX: every endpoint has its own 2 s budget, per IP for public ones, per sub-account for
# private ones; placing and canceling count per instrument. UNVERIFIED in the facts:
# orders-history 40 / 2 s and set-leverage 20 / 2 s (OKX's docs).
OKX = Budget(
    windows=dict(
        [
            _endpoint("ip", "/api/v5/public/time", 10, 2),
            _endpoint("ip", "/api/v5/market/ticker", 20, 2),
            _endpoint("ip", "/api/v5/public/instruments", 20, 2),
            _endpoint("account", "POST /api/v5/trade/order", 60, 2, per_instrument=True),
            _endpoint("account", "/api/v5/trade/cancel-order", 60, 2, per_instrument=True),
            _endpoint("account", "/api/v5/trade/cancel-batch-orders", 300, 2, counts="orders"),
            _endpoint("account", "GET /api/v5/trade/order", 60, 2),
            _endpoint("account", "/api/v5/trade/orders-pending", 60, 2),
            _endpoint("account", "/api/v5/account/balance", 10, 2),
            _endpoint("account", "/api/v5/account/positions", 10, 2),
            _endpoint("account", "/api/v5/account/config", 5, 2),
            _endpoint("account", "/api/v5/trade/orders-history", 40, 2),
            _endpoint("account", "/api/v5/account/set-leverage", 20, 2),
            _endpoint("account", "/api/v5/trade/cancel-all-after", 1, 1),
            # "Get transaction details": last 3 days 60 / 2 s, last 3 months 10 / 2 s
            _endpoint("account", "/api/v5/trade/fills", 60, 2),
            _endpoint("account", "/api/v5/trade/fills-history", 10, 2),
            # new and amended orders of one sub-account, REST and WebSocket together (50061)
            (
                "account orders 2s",
                Window(
                    1000, 2, ACCOUNT, "orders", endpoints=frozenset({"POST /api/v5/trade/order"})
                ),
            ),
        ]
    )
)

# BingX: per IP, market data shares 500 / 10 s and account endpoints 2,000 / 10 s (support
# article, 2025-10-16); per UID each endpoint counts apart. UNVERIFIED per endpoint: the
# docs-v3 figures (most swap endpoints 5/s, many spot ones 10/s).
_SWAP = "/openApi/swap"
_SPOT = "/openApi/spot/v1"
BINGX = Budget(
    windows=dict(
        [
            ("ip public requests 10s", Window(500, 10, IP, signed=False)),
            ("ip private requests 10s", Window(2000, 10, IP, signed=True)),
            _endpoint("account", f"POST {_SWAP}/v2/trade/order", 10, 1),
            _endpoint("account", f"DELETE {_SWAP}/v2/trade/order", 5, 1),
            _endpoint("account", f"GET {_SWAP}/v2/trade/order", 5, 1),
            *(
                _endpoint("account", path, 5, 1)
                for path in (
                    f"{_SWAP}/v2/trade/allOpenOrders",
                    f"{_SWAP}/v2/trade/openOrders",
                    f"{_SWAP}/v2/trade/allOrders",
                    f"{_SWAP}/v3/user/balance",
                    f"{_SWAP}/v2/user/positions",
                    f"{_SWAP}/v1/positionSide/dual",
                    f"{_SWAP}/v2/trade/leverage",
                    "/openApi/v1/account/apiPermissions",
                )
            ),
            _endpoint("account", f"{_SPOT}/trade/order", 5, 1),
            _endpoint("account", f"{_SPOT}/trade/cancel", 5, 1),
            _endpoint("account", f"{_SPOT}/trade/cancelOpenOrders", 2, 1),
            _endpoint("account", f"{_SPOT}/trade/query", 10, 1),
            *(
                _endpoint("account", f"{_SPOT}{path}", 10, 1)
                for path in ("/account/balance", "/trade/openOrders", "/trade/historyOrders")
            ),
            _endpoint("account", f"{_SPOT}/trade/cancelAllAfter", 2, 1),
            _endpoint("account", f"{_SWAP}/v2/trade/cancelAllAfter", 2, 1),
            _endpoint("account", f"{_SPOT}/trade/myTrades", 5, 1),
            _endpoint("account", f"{_SWAP}/v1/trade/fillHistory", 5, 1),
        ]
    )
)

# Pionex: 10 weight per second per IP for every endpoint, and per account for private ones.
PIONEX = Budget(
    windows={
        "ip weight 1s": Window(10, 1, IP, "weight"),
        "account weight 1s": Window(10, 1, ACCOUNT, "weight", signed=True),
    }
)

# OrangeX publishes no REST limits: its support's "10 requests/second", held per IP.
ORANGEX = Budget(windows={"ip requests 1s": Window(10, 1, IP)})

PUBLISHED: dict[str, Budget] = {
    "bybit": BYBIT,
    "binance": BINANCE,
    "okx": OKX,
    "bingx": BINGX,
    "pionex": PIONEX,
    "orangex": ORANGEX,
}

# EXCHANGE_RATE_PRESET=conservative: the original system's figures (weight per second, per
# minute, requests in flight), which our side can be told to hold; the paper then holds them.
CONSERVATIVE_LIMITS: dict[str, ExchangeLimit] = {
    "bybit": ExchangeLimit(per_second=8, per_minute=120, concurrent=5),
    "binance": ExchangeLimit(per_second=10, per_minute=1200, concurrent=10),
    "okx": ExchangeLimit(per_second=20, per_minute=600, concurrent=10),
    "bingx": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "pionex": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "orangex": ExchangeLimit(per_second=5, per_minute=100, concurrent=3),
}


def budgets_in_force(
    *, overrides: str | Mapping[str, Any] | None = None, preset: str = ""
) -> dict[str, Budget]:
    """The published table, or the conservative one (``preset``), then ``overrides``.
    Raises ValueError on anything malformed."""
    table = dict(PUBLISHED)
    if preset == "conservative":
        table = {
            name: with_legacy_limit(budget, CONSERVATIVE_LIMITS[name])
            for name, budget in table.items()
        }
    elif preset not in ("", "published"):
        raise ValueError(f"EXCHANGE_RATE_PRESET: unknown preset {preset!r}")
    data = json.loads(overrides) if isinstance(overrides, str) and overrides else overrides
    if not data:
        return table
    if not isinstance(data, Mapping):
        raise ValueError("EXCHANGE_RATE_LIMITS must be a JSON object keyed by exchange")
    for exchange, values in data.items():
        if exchange not in table:
            raise ValueError(f"EXCHANGE_RATE_LIMITS: unknown exchange {exchange!r}")
        if not isinstance(values, Mapping):
            raise ValueError(f"EXCHANGE_RATE_LIMITS: {exchange} must map to an object")
        table[exchange] = apply_overrides(table[exchange], values, exchange=exchange)
    return table


def budgets_from_environment() -> dict[str, Budget]:
    """``budgets_in_force`` as ``EXCHANGE_RATE_PRESET`` and ``EXCHANGE_RATE_LIMITS`` say."""
    return budgets_in_force(
        overrides=os.environ.get("EXCHANGE_RATE_LIMITS"),
        preset=os.environ.get("EXCHANGE_RATE_PRESET", ""),
    )
