"""A margin refusal spells each amount the same way in its message and in its fields."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.base import Balance
from orders.prechecks import InsufficientMargin, Sized, check_margin


class _Balances:
    def __init__(self, **free: Decimal) -> None:
        self.free = free

    def balances(self) -> list[Balance]:
        return [
            Balance(asset=asset, free=amount, locked=Decimal("0"))
            for asset, amount in self.free.items()
        ]


def test_the_message_and_the_fields_print_the_same_numbers():
    # 1E+1 is how a normalized Decimal("10.00") prints with str()
    connector = _Balances(USDT=Decimal("10.00").normalize())
    sized = Sized(
        quantity=Decimal("0.0010"), price=Decimal("60000"), reference_price=Decimal("60000")
    )
    with pytest.raises(InsufficientMargin) as refused:
        check_margin(
            connector=connector,
            symbol="BTC/USDT",
            side="buy",
            sized=sized,
            leverage=None,
            reduce_only=False,
        )
    error = refused.value
    assert (error.extra["available"], error.extra["required"]) == ("10", "60.06")
    assert error.message == "USDT available 10 is less than the 60.06 this order needs"
    assert "E+" not in error.message
