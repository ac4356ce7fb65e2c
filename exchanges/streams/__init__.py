"""Private-stream protocols, one module per exchange, all of one shape (``base``).

``protocol_for("okx", "perpetual_futures")`` gives the protocol of a connection; the asyncio
driver that runs one is ``session.StreamSession``. Django-free, like the rest of exchanges/.
"""

from __future__ import annotations

from typing import Any

from exchanges.streams.base import StreamProtocol
from exchanges.streams.binance import BinanceStream
from exchanges.streams.bingx import BingxStream
from exchanges.streams.bybit import BybitStream
from exchanges.streams.okx import OkxStream
from exchanges.streams.orangex import OrangexStream
from exchanges.streams.pionex import PionexStream

PROTOCOLS: dict[str, type[StreamProtocol]] = {
    "bybit": BybitStream,
    "binance": BinanceStream,
    "okx": OkxStream,
    "bingx": BingxStream,
    "pionex": PionexStream,
    "orangex": OrangexStream,
}


def protocol_for(exchange: str, api_type: str, **options: Any) -> StreamProtocol:
    """The stream protocol of one connection (raises NotSupported for an api type the
    exchange streams nothing for)."""
    return PROTOCOLS[exchange](api_type, **options)
