"""Listen keys: REST-issued tokens that open a private stream (Binance USD-M, BingX).

A key is valid for 60 minutes after it was created or last kept alive; it lapses then (the
hub's sweep expires it and its streams hear the exchange's expiry event), and a DELETE
invalidates it at once. Binance returns the account's active key to a second POST (one key
per account); BingX issues a new one each time (``shared``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

VALID_MS = 60 * 60 * 1000


@dataclass
class ListenKey:
    key: str
    exchange: str
    api_key: str
    product: str  # "spot" | "linear"
    expires_ms: int


class ListenKeys:
    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._keys: dict[tuple[str, str], ListenKey] = {}  # (exchange, key) -> key

    def create(self, exchange: str, api_key: str, product: str, *, shared: bool) -> ListenKey:
        """A new key, or (``shared``) the account's active one, valid for 60 minutes."""
        if shared:
            for found in self.of_account(exchange, api_key):
                if found.product == product:
                    found.expires_ms = self._now_ms() + VALID_MS
                    return found
        key = ListenKey(
            key=secrets.token_urlsafe(48),
            exchange=exchange,
            api_key=api_key,
            product=product,
            expires_ms=self._now_ms() + VALID_MS,
        )
        self._keys[(exchange, key.key)] = key
        return key

    def find(self, exchange: str, key: str) -> ListenKey | None:
        found = self._keys.get((exchange, key))
        return found if found is not None and found.expires_ms > self._now_ms() else None

    def of_account(self, exchange: str, api_key: str) -> list[ListenKey]:
        now = self._now_ms()
        return [
            k
            for k in self._keys.values()
            if (k.exchange, k.api_key) == (exchange, api_key) and k.expires_ms > now
        ]

    def keep_alive(self, exchange: str, key: str) -> ListenKey | None:
        found = self.find(exchange, key)
        if found is not None:
            found.expires_ms = self._now_ms() + VALID_MS
        return found

    def delete(self, exchange: str, key: str) -> ListenKey | None:
        found = self.find(exchange, key)
        if found is not None:
            del self._keys[(exchange, key)]
        return found

    def expire(self, exchange: str, api_key: str | None = None) -> list[ListenKey]:
        """Lapse the exchange's keys (of one account when ``api_key`` is given) now."""
        chosen = [
            k
            for k in self._keys.values()
            if k.exchange == exchange and api_key in (None, k.api_key)
        ]
        for key in chosen:
            del self._keys[(key.exchange, key.key)]
        return chosen

    def sweep(self) -> list[ListenKey]:
        """Remove and return the keys whose 60 minutes ran out."""
        now = self._now_ms()
        lapsed = [k for k in self._keys.values() if k.expires_ms <= now]
        for key in lapsed:
            del self._keys[(key.exchange, key.key)]
        return lapsed

    def count(self, exchange: str) -> int:
        now = self._now_ms()
        return sum(1 for k in self._keys.values() if k.exchange == exchange and k.expires_ms > now)

    def clear(self) -> list[ListenKey]:
        every = list(self._keys.values())
        self._keys.clear()
        return every
