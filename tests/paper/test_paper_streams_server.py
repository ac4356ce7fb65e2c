"""The private streams of the paper exchange started as ``python -m paper`` (the session's
subprocess): every stream path upgrades (or refuses a missing credential in its exchange's
way), and the stats carry the stream counters of all six."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import requests

SIX = ("bybit", "binance", "okx", "bingx", "pionex", "orangex")
OPEN_PATHS = (
    "/bybit/v5/private",
    "/binance/ws-api/v3",
    "/okx/ws/v5/private",
    "/pionex/wsUA",
    "/orangex/ws/api/v1",
)
KEYED_PATHS = (
    "/binance/ws/none",
    "/binance/private/ws?listenKey=none",
    "/bingx/swap-market?listenKey=none",
    "/bingx/market?listenKey=none",
    "/pionex/ws?key=none&timestamp=1&signature=00",
)


async def _upgrade(url: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2)):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_every_open_stream_path_upgrades(paper_url: str, path: str) -> None:
    assert asyncio.run(_upgrade(paper_url.replace("http", "ws") + path)) == 101


@pytest.mark.parametrize("path", KEYED_PATHS)
def test_a_stream_path_needing_a_credential_refuses_a_bad_one_at_the_handshake(
    paper_url: str, path: str
) -> None:
    assert asyncio.run(_upgrade(paper_url.replace("http", "ws") + path)) in (400, 401)


def test_stats_carry_stream_counters_for_all_six(paper_url: str) -> None:
    exchanges = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    for name in SIX:
        assert set(exchanges[name]["streams"]) == {
            "connections",
            "live",
            "authFailures",
            "messagesSent",
            "listenKeys",
        }
