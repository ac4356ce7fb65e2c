"""Unit tests of the paper engine: instruments, matching, balances, margin, positions,
duplicates and persistence."""

from __future__ import annotations

import json
import random
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from paper.engine import Engine, PaperAccount, PaperError

D = Decimal
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    engine.register_exchange("binance", duplicate_scope="open")
    return engine


def funded(
    engine: Engine, exchange: str = "binance", key: str = "key-1", **balances: str
) -> PaperAccount:
    amounts = {asset: D(v) for asset, v in (balances or {"USDT": "100000", "BTC": "2"}).items()}
    account, _ = engine.upsert_account(
        exchange, api_key=key, api_secret="secret-1", balances=amounts
    )
    return account


def free(engine: Engine, account: PaperAccount, asset: str) -> Decimal:
    return engine.balances(account.exchange, account)[asset][0]


def locked(engine: Engine, account: PaperAccount, asset: str) -> Decimal:
    return engine.balances(account.exchange, account)[asset][1]


def limit(
    engine: Engine,
    account: PaperAccount,
    side: str,
    qty: str,
    price: str,
    symbol: str = SPOT,
    **kwargs: object,
):
    return engine.place_order(
        account.exchange,
        account,
        symbol=symbol,
        side=side,
        type="limit",
        quantity=D(qty),
        price=D(price),
        **kwargs,
    )


def market(
    engine: Engine, account: PaperAccount, side: str, qty: str, symbol: str = SPOT, **kwargs: object
):
    return engine.place_order(
        account.exchange,
        account,
        symbol=symbol,
        side=side,
        type="market",
        quantity=D(qty),
        **kwargs,
    )


def assert_refused(kind: str, call, *args, **kwargs) -> PaperError:
    with pytest.raises(PaperError) as caught:
        call(*args, **kwargs)
    assert caught.value.kind == kind
    return caught.value


# -- instruments and prices ---------------------------------------------------------------


def test_every_exchange_lists_five_coins_as_spot_and_perpetual(engine: Engine) -> None:
    symbols = {i.symbol for i in engine.instruments("bybit")}
    assert symbols == {f"{c}/USDT" for c in ("BTC", "ETH", "SOL", "XRP", "DOGE")} | {
        f"{c}/USDT:USDT" for c in ("BTC", "ETH", "SOL", "XRP", "DOGE")
    }
    assert all(i.min_notional == D("5") for i in engine.instruments("bybit"))


def test_prices_start_at_the_fixed_start_prices(engine: Engine) -> None:
    assert engine.price("binance", "BTC/USDT") == D("60000")
    assert engine.price("binance", "ETH/USDT:USDT") == D("3000")
    assert engine.price("okx", "SOL/USDT") == D("150")
    assert engine.price("okx", "XRP/USDT:USDT") == D("0.5")
    assert engine.price("bybit", "DOGE/USDT") == D("0.1")


def test_okx_swaps_count_contracts_and_others_count_one() -> None:
    engine = Engine()
    values = {i.symbol: i.contract_value for i in engine.instruments("okx") if i.kind == "linear"}
    assert values == {
        "BTC/USDT:USDT": D("0.01"),
        "ETH/USDT:USDT": D("0.1"),
        "SOL/USDT:USDT": D("1"),
        "XRP/USDT:USDT": D("100"),
        "DOGE/USDT:USDT": D("1000"),
    }
    assert {i.contract_value for i in engine.instruments("binance")} == {D("1")}
    # a lot is a whole number of 0.01 contracts on OKX
    for instrument in engine.instruments("okx"):
        if instrument.kind == "linear":
            assert (instrument.lot_size / instrument.contract_value) % D("0.01") == 0


def test_unknown_symbol_is_refused(engine: Engine) -> None:
    assert_refused("unknown_symbol", engine.instrument, "binance", "PEPE/USDT")
    assert_refused("unknown_symbol", engine.price, "binance", "BTC/EUR")


def test_set_price_refuses_a_non_positive_price(engine: Engine) -> None:
    assert_refused("invalid_price", engine.set_price, "binance", SPOT, D("0"))
    assert_refused("unknown_symbol", engine.set_price, "binance", "NOPE/USDT", D("1"))


def test_now_ms_is_the_wall_clock_in_milliseconds() -> None:
    assert Engine(clock=lambda: 1_700_000_000.5).now_ms() == 1_700_000_000_500


# -- spot matching and balances -----------------------------------------------------------


def test_spot_market_buy_fills_at_once_at_the_current_price(engine: Engine) -> None:
    account = funded(engine)
    order = market(engine, account, "buy", "0.01")
    assert (order.status, order.filled_quantity, order.average_price) == (
        "filled",
        D("0.01"),
        D("60000"),
    )
    assert free(engine, account, "USDT") == D("99400")
    assert free(engine, account, "BTC") == D("2.01")


def test_spot_market_sell_takes_the_same_price_as_a_buy(engine: Engine) -> None:
    account = funded(engine)
    order = market(engine, account, "sell", "0.5")
    assert order.average_price == D("60000")
    assert free(engine, account, "USDT") == D("130000")
    assert free(engine, account, "BTC") == D("1.5")


def test_spot_limit_buy_rests_and_locks_the_quote(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000")
    assert order.status == "new" and order.is_open
    assert (free(engine, account, "USDT"), locked(engine, account, "USDT")) == (
        D("95000"),
        D("5000"),
    )


def test_spot_limit_sell_locks_the_base(engine: Engine) -> None:
    account = funded(engine)
    limit(engine, account, "sell", "0.5", "70000")
    assert (free(engine, account, "BTC"), locked(engine, account, "BTC")) == (D("1.5"), D("0.5"))


def test_resting_buy_fills_at_its_limit_when_the_price_falls_through(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000")
    filled = engine.set_price("binance", SPOT, D("49000"))
    assert filled == [order]
    assert (order.status, order.average_price) == ("filled", D("50000"))
    assert free(engine, account, "USDT") == D("95000")
    assert locked(engine, account, "USDT") == 0
    assert free(engine, account, "BTC") == D("2.1")


def test_resting_sell_fills_when_the_price_rises_to_it(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "sell", "1", "61000")
    assert engine.set_price("binance", SPOT, D("60999")) == []
    assert engine.set_price("binance", SPOT, D("61000")) == [order]
    assert free(engine, account, "USDT") == D("161000")
    assert engine.balances("binance", account)["BTC"] == (D("1"), D("0"))


def test_a_price_move_on_another_symbol_fills_nothing(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000")
    assert engine.set_price("binance", PERP, D("40000")) == []
    assert engine.set_price("bybit", SPOT, D("40000")) == []
    assert order.status == "new"


def test_marketable_limit_fills_at_once_at_the_better_current_price(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "65000")
    assert (order.status, order.average_price) == ("filled", D("60000"))
    assert free(engine, account, "USDT") == D("94000")
    assert locked(engine, account, "USDT") == 0


def test_partial_fill_leaves_the_rest_open_and_locked(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.3", "50000", client_order_id="part-1")
    engine.fill("binance", client_order_id="part-1", quantity=D("0.1"))
    assert (order.status, order.filled_quantity, order.remaining) == (
        "partially_filled",
        D("0.1"),
        D("0.2"),
    )
    assert locked(engine, account, "USDT") == D("10000")
    assert free(engine, account, "BTC") == D("2.1")
    engine.fill("binance", order_id=order.order_id)
    assert (order.status, order.filled_quantity, order.average_price) == (
        "filled",
        D("0.3"),
        D("50000"),
    )
    assert locked(engine, account, "USDT") == 0
    assert free(engine, account, "USDT") == D("85000")


def test_fill_refuses_more_than_remains_a_closed_order_and_an_unknown_one(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000")
    assert_refused(
        "invalid_quantity", engine.fill, "binance", order_id=order.order_id, quantity=D("0.2")
    )
    assert_refused(
        "invalid_quantity", engine.fill, "binance", order_id=order.order_id, quantity=D("0")
    )
    engine.cancel_order("binance", account, order_id=order.order_id)
    assert_refused("order_not_cancelable", engine.fill, "binance", order_id=order.order_id)
    assert_refused("order_not_found", engine.fill, "binance", order_id="1")
    assert_refused("order_not_found", engine.fill, "binance", client_order_id="never")


def test_average_price_is_weighted_across_fills(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.3", "50000")
    engine.fill("binance", order_id=order.order_id, quantity=D("0.1"))
    order.price = D("53000")  # the rest fills at another price
    engine.fill("binance", order_id=order.order_id)
    assert order.average_price == D("52000")


def test_ioc_and_fok_limits_that_cannot_fill_expire_and_release_funds(engine: Engine) -> None:
    account = funded(engine)
    for tif in ("IOC", "FOK"):
        order = limit(engine, account, "buy", "0.1", "50000", time_in_force=tif)
        assert (order.status, order.filled_quantity) == ("expired", 0)
    assert engine.balances("binance", account)["USDT"] == (D("100000"), D("0"))
    assert engine.open_orders("binance", account) == []


def test_ioc_limit_that_crosses_fills(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "60000", time_in_force="IOC")
    assert order.status == "filled"


def test_post_only_that_would_take_is_refused_and_stores_nothing(engine: Engine) -> None:
    account = funded(engine)
    assert_refused(
        "post_only_would_take",
        limit,
        engine,
        account,
        "buy",
        "0.1",
        "60000",
        time_in_force="POST_ONLY",
    )
    assert engine.order_history("binance", account) == []
    assert engine.balances("binance", account)["USDT"] == (D("100000"), D("0"))


def test_post_only_that_rests_is_accepted(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "sell", "0.1", "60000.01", time_in_force="POST_ONLY")
    assert order.status == "new"


def test_insufficient_funds_are_refused_without_storing(engine: Engine) -> None:
    account = funded(engine, USDT="100", BTC="0.001")
    error = assert_refused("insufficient_funds", market, engine, account, "buy", "0.01")
    assert "USDT" in error.message
    assert_refused("insufficient_funds", limit, engine, account, "sell", "0.01", "70000")
    assert engine.order_history("binance", account) == []
    assert engine.order_stats("binance").orders_accepted == 0


def test_quantity_and_price_rules_are_enforced(engine: Engine) -> None:
    account = funded(engine)
    assert_refused("invalid_quantity", market, engine, account, "buy", "0.000015")  # lot
    assert_refused(
        "invalid_quantity", market, engine, account, "buy", "0.001", symbol="ETH/USDT:USDT"
    )  # not a whole ETH perpetual lot
    assert_refused("invalid_quantity", market, engine, account, "buy", "0.00005")  # notional 3
    assert_refused("invalid_quantity", market, engine, account, "buy", "-1")
    assert_refused("invalid_price", limit, engine, account, "buy", "0.1", "50000.001")
    assert_refused("invalid_price", limit, engine, account, "buy", "0.1", "0")
    assert_refused(
        "invalid_price",
        engine.place_order,
        "binance",
        account,
        symbol=SPOT,
        side="buy",
        type="limit",
        quantity=D("0.1"),
    )
    assert_refused(
        "invalid_quantity",
        engine.place_order,
        "binance",
        account,
        symbol=SPOT,
        side="buy",
        type="limit",
        price=D("50000"),
    )


def test_bad_side_type_or_time_in_force_is_a_programming_error(engine: Engine) -> None:
    account = funded(engine)
    with pytest.raises(ValueError, match="side"):
        engine.place_order(
            "binance", account, symbol=SPOT, side="BUY", type="market", quantity=D("0.01")
        )
    with pytest.raises(ValueError):
        limit(engine, account, "buy", "0.1", "50000", time_in_force="GTD")


def test_market_buy_sized_in_quote_buys_quote_over_price_rounded_to_the_lot(engine: Engine) -> None:
    account = funded(engine)
    order = engine.place_order(
        "binance", account, symbol=SPOT, side="buy", type="market", quote_quantity=D("606.06")
    )
    assert order.filled_quantity == D("0.01010")
    assert free(engine, account, "USDT") == D("100000") - D("606")
    assert_refused(
        "invalid_quantity",
        engine.place_order,
        "binance",
        account,
        symbol=SPOT,
        side="sell",
        type="market",
        quote_quantity=D("600"),
    )


def test_a_read_only_key_cannot_trade(engine: Engine) -> None:
    account, _ = engine.upsert_account(
        "binance", api_key="ro", api_secret="s", balances={"USDT": D("1000")}, permissions=["read"]
    )
    assert_refused("permission_denied", market, engine, account, "buy", "0.001")


def test_amounts_never_come_out_in_exponent_notation(engine: Engine) -> None:
    account = funded(engine, USDT="100000")
    market(engine, account, "buy", "1", symbol=PERP)  # 60000 / 10 is Decimal("6E+3")
    for free_amount, locked_amount in engine.balances("binance", account).values():
        assert "E" not in str(free_amount) and "E" not in str(locked_amount)
    assert str(engine.positions("binance", account)[0].entry_price) == "60000"


# -- perpetuals ---------------------------------------------------------------------------


def test_perpetual_fill_locks_notional_over_leverage_as_margin(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "buy", "0.1", symbol=PERP)
    assert engine.balances("binance", account)["USDT"] == (D("99400"), D("600"))
    [position] = engine.positions("binance", account)
    assert (position.symbol, position.quantity, position.entry_price, position.leverage) == (
        PERP,
        D("0.1"),
        D("60000"),
        10,
    )


def test_set_leverage_changes_the_margin_of_new_positions(engine: Engine) -> None:
    account = funded(engine)
    engine.set_leverage("binance", account, PERP, 20)
    market(engine, account, "sell", "0.1", symbol=PERP)
    assert locked(engine, account, "USDT") == D("300")
    assert engine.positions("binance", account)[0].leverage == 20


def test_set_leverage_refuses_spot_symbols_and_silly_values(engine: Engine) -> None:
    account = funded(engine)
    assert_refused("unknown_symbol", engine.set_leverage, "binance", account, SPOT, 5)
    for bad in (0, 126, -3):
        with pytest.raises(ValueError):
            engine.set_leverage("binance", account, PERP, bad)


def test_perpetual_limit_order_locks_its_margin_until_it_fills(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000", symbol=PERP)
    assert locked(engine, account, "USDT") == D("500")
    engine.cancel_order("binance", account, order_id=order.order_id)
    assert engine.balances("binance", account)["USDT"] == (D("100000"), D("0"))


def test_reducing_a_position_realises_pnl_and_frees_margin(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "buy", "0.2", symbol=PERP)
    engine.set_price("binance", PERP, D("61000"))
    [position] = engine.positions("binance", account)
    assert position.unrealized_pnl == D("200") and position.mark_price == D("61000")
    market(engine, account, "sell", "0.1", symbol=PERP, reduce_only=True)
    [position] = engine.positions("binance", account)
    assert position.quantity == D("0.1")
    assert engine.balances("binance", account)["USDT"] == (D("99500"), D("600"))
    market(engine, account, "sell", "0.1", symbol=PERP)
    assert engine.positions("binance", account) == []
    assert engine.balances("binance", account)["USDT"] == (D("100200"), D("0"))


def test_short_position_loses_when_the_price_rises(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "sell", "0.1", symbol=PERP)
    engine.set_price("binance", PERP, D("62000"))
    assert engine.positions("binance", account)[0].unrealized_pnl == D("-200")
    market(engine, account, "buy", "0.1", symbol=PERP)
    assert engine.balances("binance", account)["USDT"] == (D("99800"), D("0"))


def test_adding_to_a_position_averages_the_entry_price(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "buy", "0.1", symbol=PERP)
    engine.set_price("binance", PERP, D("63000"))
    market(engine, account, "buy", "0.2", symbol=PERP)
    [position] = engine.positions("binance", account)
    assert (position.quantity, position.entry_price) == (D("0.3"), D("62000"))


def test_an_order_larger_than_the_position_flips_it(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "buy", "0.1", symbol=PERP)
    engine.set_price("binance", PERP, D("61000"))
    market(engine, account, "sell", "0.3", symbol=PERP)
    [position] = engine.positions("binance", account)
    assert (position.quantity, position.entry_price) == (D("-0.2"), D("61000"))
    # +100 realised; 0.2 x 61000 / 10 = 1220 margin for the new short
    assert engine.balances("binance", account)["USDT"] == (D("98880"), D("1220"))


def test_reduce_only_is_refused_when_it_would_open_or_increase(engine: Engine) -> None:
    account = funded(engine)
    assert_refused(
        "reduce_only_rejected",
        market,
        engine,
        account,
        "sell",
        "0.1",
        symbol=PERP,
        reduce_only=True,
    )
    market(engine, account, "buy", "0.1", symbol=PERP)
    assert_refused(
        "reduce_only_rejected", market, engine, account, "buy", "0.1", symbol=PERP, reduce_only=True
    )
    assert_refused(
        "reduce_only_rejected",
        market,
        engine,
        account,
        "sell",
        "0.2",
        symbol=PERP,
        reduce_only=True,
    )
    assert_refused(
        "reduce_only_rejected", market, engine, account, "sell", "0.1", reduce_only=True
    )  # spot has no positions


def test_resting_reduce_only_expires_once_the_position_is_gone(engine: Engine) -> None:
    account = funded(engine)
    market(engine, account, "buy", "0.1", symbol=PERP)
    order = limit(engine, account, "sell", "0.1", "70000", symbol=PERP, reduce_only=True)
    assert locked(engine, account, "USDT") == D("600")  # no margin for a reduce-only order
    market(engine, account, "sell", "0.1", symbol=PERP)
    engine.set_price("binance", PERP, D("70000"))
    assert (order.status, order.filled_quantity) == ("expired", 0)
    assert engine.positions("binance", account) == []


def test_closing_order_without_reduce_only_needs_no_new_margin(engine: Engine) -> None:
    account = funded(engine, USDT="700")
    market(engine, account, "buy", "0.1", symbol=PERP)  # 600 margin, 100 free
    order = market(engine, account, "sell", "0.1", symbol=PERP)
    assert order.status == "filled"
    assert engine.balances("binance", account)["USDT"] == (D("700"), D("0"))


def test_perpetual_margin_beyond_the_free_quote_is_insufficient_funds(engine: Engine) -> None:
    account = funded(engine, USDT="500")
    assert_refused("insufficient_funds", market, engine, account, "buy", "0.1", symbol=PERP)


# -- orders: ids, lookups, cancel ---------------------------------------------------------


def test_order_ids_are_numeric_increasing_and_unique_per_exchange(engine: Engine) -> None:
    account = funded(engine)
    other = funded(engine, exchange="bybit")
    ids = [limit(engine, account, "buy", "0.001", "50000").order_id for _ in range(5)]
    ids.append(limit(engine, other, "buy", "0.001", "50000").order_id)
    assert all(i.isdigit() for i in ids)
    binance_ids = [int(i) for i in ids[:5]]
    assert binance_ids == sorted(binance_ids) and len(set(binance_ids)) == 5


def test_get_order_by_client_id_returns_the_newest_and_only_the_owners(engine: Engine) -> None:
    engine.register_exchange("bybit", duplicate_scope="none")
    account = funded(engine, exchange="bybit")
    stranger = funded(engine, exchange="bybit", key="key-2")
    first = limit(engine, account, "buy", "0.001", "50000", client_order_id="same")
    second = limit(engine, account, "buy", "0.001", "51000", client_order_id="same")
    assert engine.get_order("bybit", account, client_order_id="same") is second
    assert engine.get_order("bybit", account, order_id=first.order_id) is first
    assert engine.get_order("bybit", stranger, client_order_id="same") is None
    assert engine.get_order("bybit", stranger, order_id=first.order_id) is None
    assert (
        engine.get_order("bybit", account, order_id=first.order_id, client_order_id="other") is None
    )
    assert engine.get_order("bybit", account) is None


def test_cancel_releases_funds_and_a_closed_order_is_not_cancelable(engine: Engine) -> None:
    account = funded(engine)
    order = limit(engine, account, "buy", "0.1", "50000", client_order_id="c1")
    canceled = engine.cancel_order("binance", account, client_order_id="c1")
    assert canceled is order and order.status == "canceled" and order.canceled_by_user
    assert engine.balances("binance", account)["USDT"] == (D("100000"), D("0"))
    assert_refused(
        "order_not_cancelable", engine.cancel_order, "binance", account, order_id=order.order_id
    )
    assert_refused("order_not_found", engine.cancel_order, "binance", account, order_id="42")
    assert_refused(
        "order_not_found",
        engine.cancel_order,
        "binance",
        account,
        symbol="ETH/USDT",
        order_id=order.order_id,
    )


def test_cancel_all_cancels_only_open_orders_of_the_symbol(engine: Engine) -> None:
    account = funded(engine, USDT="100000", BTC="2", ETH="10")
    btc = limit(engine, account, "buy", "0.01", "50000")
    eth = limit(engine, account, "sell", "1", "4000", symbol="ETH/USDT")
    assert engine.cancel_all("binance", account, SPOT) == [btc]
    assert engine.open_orders("binance", account) == [eth]
    assert engine.cancel_all("binance", account) == [eth]


def test_order_history_is_newest_first_and_filters(engine: Engine) -> None:
    clock = iter(range(1_000, 100_000, 1_000))
    engine = Engine(clock=lambda: next(clock))
    account = funded(engine)
    first = limit(engine, account, "buy", "0.01", "50000")
    second = market(engine, account, "buy", "0.01")
    third = limit(engine, account, "buy", "0.01", "50000", symbol=PERP)
    assert engine.order_history("binance", account) == [third, second, first]
    assert engine.order_history("binance", account, SPOT) == [second, first]
    assert engine.order_history("binance", account, since_ms=second.created_ms) == [third, second]


# -- duplicate client order ids -----------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "refused_while_open", "refused_after_close"),
    [("open", True, False), ("all", True, True), ("none", False, False)],
)
def test_duplicate_client_ids_follow_the_exchange_scope(
    scope: str, refused_while_open: bool, refused_after_close: bool
) -> None:
    engine = Engine()
    engine.register_exchange("x", duplicate_scope=scope)  # type: ignore[arg-type]
    account = funded(engine, exchange="x")
    first = limit(engine, account, "buy", "0.001", "50000", client_order_id="dup")
    try:
        limit(engine, account, "buy", "0.001", "50000", client_order_id="dup")
        refused_open = False
    except PaperError as exc:
        assert exc.kind == "duplicate_client_order_id"
        refused_open = True
    engine.cancel_all("x", account)
    try:
        limit(engine, account, "buy", "0.001", "50000", client_order_id="dup")
        refused_closed = False
    except PaperError as exc:
        refused_closed = exc.kind == "duplicate_client_order_id"
    assert (refused_open, refused_closed) == (refused_while_open, refused_after_close)
    stats = engine.order_stats("x")
    assert stats.orders_by_client_id == {"dup": 3}
    assert stats.duplicates_refused == int(refused_open) + int(refused_closed)
    assert stats.orders_accepted == 3 - stats.duplicates_refused
    assert first.client_order_id == "dup"


def test_duplicate_scope_is_per_account(engine: Engine) -> None:
    first = funded(engine)
    second = funded(engine, key="key-2")
    limit(engine, first, "buy", "0.001", "50000", client_order_id="shared")
    limit(engine, second, "buy", "0.001", "50000", client_order_id="shared")
    assert engine.order_stats("binance").orders_by_client_id == {"shared": 2}


def test_refused_attempts_still_count_under_their_client_id(engine: Engine) -> None:
    account = funded(engine, USDT="10")
    assert_refused(
        "insufficient_funds", market, engine, account, "buy", "0.01", client_order_id="poor"
    )
    assert engine.order_stats("binance").orders_by_client_id == {"poor": 1}
    assert engine.order_stats("binance").orders_accepted == 0


def test_an_unregistered_exchange_refuses_duplicates_among_open_orders() -> None:
    engine = Engine()
    account = funded(engine, exchange="y")
    limit(engine, account, "buy", "0.001", "50000", client_order_id="a")
    assert_refused(
        "duplicate_client_order_id",
        limit,
        engine,
        account,
        "buy",
        "0.001",
        "50000",
        client_order_id="a",
    )
    with pytest.raises(ValueError):
        engine.register_exchange("y", duplicate_scope="sometimes")  # type: ignore[arg-type]


# -- accounts and persistence -------------------------------------------------------------


def test_upsert_account_creates_then_updates(engine: Engine) -> None:
    account, created = engine.upsert_account(
        "binance", api_key="k", api_secret="s1", balances={"USDT": D("10")}
    )
    assert created
    again, created = engine.upsert_account(
        "binance", api_key="k", api_secret="s2", balances={"BTC": D("1")}, permissions=["read"]
    )
    assert again is account and not created
    assert account.api_secret == "s2" and account.permissions == ["read"]
    assert engine.balances("binance", account) == {"USDT": (D("10"), 0), "BTC": (D("1"), 0)}
    assert engine.account("binance", "k") is account
    assert engine.account("bybit", "k") is None
    with pytest.raises(ValueError):
        engine.upsert_account("binance", api_key="k", api_secret="s", balances={"USDT": D("-1")})


def test_account_repr_hides_the_secret_and_passphrase(engine: Engine) -> None:
    account, _ = engine.upsert_account(
        "okx", api_key="k", api_secret="very-secret", passphrase="pass-phrase"
    )
    assert "very-secret" not in repr(account) and "pass-phrase" not in repr(account)


def test_accounts_survive_a_restart_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "accounts.json"
    engine = Engine(path)
    account, _ = engine.upsert_account(
        "okx",
        api_key="k",
        api_secret="s",
        passphrase="p",
        balances={"USDT": D("100000")},
        permissions=["read"],
    )
    account.permissions = ["read", "trade"]
    engine.set_leverage("okx", account, PERP, 5)
    market(engine, account, "buy", "0.1", symbol=PERP)
    limit(engine, account, "buy", "0.1", "50000")  # open orders need not survive

    restarted = Engine(path)
    again = restarted.account("okx", "k")
    assert again is not None
    assert (again.api_secret, again.passphrase, again.leverage) == ("s", "p", {PERP: 5})
    # the open order's 5000 USDT came back as free; the position's 1200 margin stays locked
    assert restarted.balances("okx", again) == {"USDT": (D("98800"), D("1200"))}
    [position] = restarted.positions("okx", again)
    assert (position.quantity, position.entry_price) == (D("0.1"), D("60000"))
    assert restarted.open_orders("okx", again) == []


def test_a_change_after_a_restart_keeps_every_other_account(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    first = Engine(path)
    for key in ("a", "b", "c"):
        funded(first, key=key)
    second = Engine(path)
    market(second, second.account("binance", "b"), "buy", "0.01")
    third = Engine(path)
    assert sorted(a.api_key for a in third.accounts()) == ["a", "b", "c"]
    assert free(third, third.account("binance", "b"), "BTC") == D("2.01")
    assert free(third, third.account("binance", "a"), "BTC") == D("2")


def test_accounts_file_is_private_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    engine = Engine(path)
    funded(engine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["accounts.json"]  # no temp file left
    assert json.loads(path.read_text())["accounts"][0]["apiKey"] == "key-1"


def test_a_corrupt_accounts_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text('{"accounts": [{"exchange": "okx"}]}')
    with pytest.raises(ValueError, match="not valid"):
        Engine(path)


def test_without_a_file_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    engine = Engine()
    funded(engine)
    assert list(tmp_path.iterdir()) == []


# -- reset and the price walk -------------------------------------------------------------


def test_reset_drops_orders_positions_and_prices_but_keeps_accounts(engine: Engine) -> None:
    account = funded(engine)
    limit(engine, account, "buy", "0.1", "50000", client_order_id="r")
    market(engine, account, "buy", "0.1", symbol=PERP)
    engine.set_price("binance", SPOT, D("55000"))
    last_id = int(market(engine, account, "buy", "0.001").order_id)
    engine.reset()
    assert engine.account("binance", "key-1") is account
    assert engine.balances("binance", account)["USDT"][1] == 0
    assert engine.positions("binance", account) == []
    assert engine.order_history("binance", account) == []
    assert engine.price("binance", SPOT) == D("60000")
    assert engine.order_stats("binance").orders_by_client_id == {}
    assert int(market(engine, account, "buy", "0.001").order_id) > last_id


def test_price_walk_moves_prices_on_the_tick_and_fills_crossed_orders(engine: Engine) -> None:
    account = funded(engine)
    below = limit(engine, account, "buy", "0.1", "59999.99")
    above = limit(engine, account, "sell", "0.1", "60000.01")
    rng = random.Random(7)
    for _ in range(50):
        engine.walk_prices(rng, step=0.001)
    price = engine.price("binance", SPOT)
    assert price != D("60000") and price % D("0.01") == 0
    assert engine.price("binance", "DOGE/USDT") % D("0.00001") == 0
    assert {below.status, above.status} & {"filled"}
