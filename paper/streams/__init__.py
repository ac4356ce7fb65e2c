"""The paper exchange's private streams: one WebSocket endpoint per exchange and product at
``/<exchange>/<the real ws path>``, each with that exchange's auth, subscriptions, heartbeat
and message shapes (docs/paper-exchange.md).

- ``hub.py``: the publish/subscribe hub. The engine tells it what happened (an order
  accepted, filled, closed; balances funded); it renders the events once per account and
  pushes them, in order, to that account's live authenticated streams; it applies the stream
  faults (drop, stall, repeat, reorder, expire a listen key) and counts.
- ``base.py``: what every exchange's stream server shares (the socket loop, bounded frames,
  heartbeats, the outgoing queue the faults act on).
- ``listen_keys.py``: REST-issued listen keys (Binance USD-M, BingX).
- one module per exchange (``bybit.py``, ``binance.py``, ``okx.py``, ``bingx.py``,
  ``pionex.py``, ``orangex.py``), all the same shape: routes, auth, subscriptions, renderers.

Like the REST adapters, these modules are written from the facts files and import nothing
from ``exchanges/``.
"""

from __future__ import annotations

from paper.streams.hub import STREAM_ACTIONS, StreamHub, StreamTiming

__all__ = ("STREAM_ACTIONS", "StreamHub", "StreamTiming")
