"""What each exchange offers: api types, transports and environments.

Sources: the facts files, docs/exchanges/. Used to validate connections (an api type
or environment the exchange lacks is refused with a message naming what it offers).
"""

from __future__ import annotations

from dataclasses import dataclass

EXCHANGES = ("bybit", "binance", "okx", "bingx", "pionex", "orangex")
API_TYPES = ("spot", "margin", "perpetual_futures", "unified_account")
ENVIRONMENTS = ("live", "testnet", "paper")
TRANSPORTS = ("rest", "websocket")
# how each exchange spells its own name (not str.title(): "OKX", not "Okx")
EXCHANGE_DISPLAY_NAMES = {
    "bybit": "Bybit",
    "binance": "Binance",
    "okx": "OKX",
    "bingx": "BingX",
    "pionex": "Pionex",
    "orangex": "OrangeX",
}


def exchange_display_name(exchange: str) -> str:
    return EXCHANGE_DISPLAY_NAMES.get(exchange, exchange)


@dataclass(frozen=True)
class Capability:
    exchange: str
    api_types: tuple[str, ...]
    environments: tuple[str, ...]
    transports: tuple[str, ...]
    # api types the testnet serves, where the exchange's testnet is narrower than live
    testnet_api_types: tuple[str, ...] = ()
    needs_passphrase: bool = False

    def supports_api_type(self, api_type: str) -> bool:
        return api_type in self.api_types

    def supports_environment(self, environment: str, api_type: str | None = None) -> bool:
        if environment not in self.environments:
            return False
        if environment == "testnet" and api_type and self.testnet_api_types:
            return api_type in self.testnet_api_types
        return True

    def as_dict(self) -> dict[str, object]:
        return {
            "apiTypes": list(self.api_types),
            "environments": list(self.environments),
            "transports": list(self.transports),
            "testnetApiTypes": list(self.testnet_api_types or self.api_types)
            if "testnet" in self.environments
            else [],
            "needsPassphrase": self.needs_passphrase,
        }


CAPABILITIES: dict[str, Capability] = {
    "bybit": Capability(
        "bybit",
        ("spot", "margin", "perpetual_futures", "unified_account"),
        ("live", "testnet", "paper"),
        TRANSPORTS,
    ),
    "binance": Capability(
        "binance", ("spot", "perpetual_futures"), ("live", "testnet", "paper"), TRANSPORTS
    ),
    "okx": Capability(
        "okx",
        ("spot", "margin", "perpetual_futures", "unified_account"),
        ("live", "testnet", "paper"),
        TRANSPORTS,
        needs_passphrase=True,
    ),
    # BingX's VST demo simulates only the USDT-M perpetuals.
    "bingx": Capability(
        "bingx",
        ("spot", "perpetual_futures"),
        ("live", "testnet", "paper"),
        TRANSPORTS,
        testnet_api_types=("perpetual_futures",),
    ),
    "pionex": Capability("pionex", ("spot", "perpetual_futures"), ("live", "paper"), TRANSPORTS),
    "orangex": Capability("orangex", ("perpetual_futures",), ("live", "paper"), TRANSPORTS),
}


def capability(exchange: str) -> Capability:
    return CAPABILITIES[exchange]


def matrix() -> dict[str, dict[str, object]]:
    """The whole matrix in API shape (camelCase keys), for /api/system/status."""
    return {name: cap.as_dict() for name, cap in CAPABILITIES.items()}
