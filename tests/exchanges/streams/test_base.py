"""Shared rules: bounded decoding, refusing malformed frames cleanly, the registry."""

from __future__ import annotations

import gzip
import json

import pytest

from exchanges.errors import NotSupported
from exchanges.streams import PROTOCOLS, protocol_for
from exchanges.streams.base import MAX_DEPTH, MAX_MESSAGE_BYTES, MessageRefused, decode_frame
from exchanges.streams.bingx import BingxStream
from exchanges.streams.bybit import BybitStream


def test_oversized_frames_are_refused_unread():
    with pytest.raises(MessageRefused, match="size"):
        decode_frame("[" + " " * MAX_MESSAGE_BYTES + "]")
    with pytest.raises(MessageRefused, match="size"):
        decode_frame(b"x" * (MAX_MESSAGE_BYTES + 1))


def test_deeply_nested_frames_are_refused():
    with pytest.raises(MessageRefused, match="deep"):
        decode_frame("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(MessageRefused):
        decode_frame("[" * 100_000 + "]" * 100_000)


def test_a_gzip_bomb_is_refused():
    bomb = gzip.compress(b"[" + b"0," * MAX_MESSAGE_BYTES + b"0]")
    assert len(bomb) < MAX_MESSAGE_BYTES
    with pytest.raises(MessageRefused, match="inflates"):
        BingxStream("perpetual_futures").parse(bomb)


def test_malformed_frames_are_refused_with_a_code():
    stream = BybitStream("spot")
    with pytest.raises(MessageRefused) as caught:
        stream.parse('{"topic": "order", ')
    assert caught.value.code == "not_json"
    with pytest.raises(MessageRefused):
        stream.parse(b"\xff\xfe")
    with pytest.raises(MessageRefused, match="missing"):
        stream.parse(json.dumps({"topic": "order", "data": [{"category": "spot"}]}))
    with pytest.raises(MessageRefused, match="status"):
        stream.parse(
            json.dumps(
                {
                    "topic": "order",
                    "data": [
                        {
                            "category": "spot",
                            "symbol": "BTCUSDT",
                            "orderId": "1",
                            "side": "Buy",
                            "orderStatus": "Exploded",
                        }
                    ],
                }
            )
        )
    with pytest.raises(MessageRefused, match="number"):
        stream.parse(
            json.dumps(
                {
                    "topic": "execution",
                    "data": [
                        {
                            "category": "spot",
                            "symbol": "BTCUSDT",
                            "execId": "1",
                            "orderId": "1",
                            "side": "Buy",
                            "execPrice": "NaN",
                            "execQty": "1",
                        }
                    ],
                }
            )
        )
    with pytest.raises(MessageRefused, match="list of objects"):
        stream.parse(json.dumps({"topic": "order", "data": "nope"}))


def test_unknown_topics_and_text_give_no_updates():
    stream = BybitStream("spot")
    assert stream.parse(json.dumps({"topic": "greeks", "data": [{"x": 1}]})) == []
    assert stream.parse("hello") == []


def test_every_exchange_has_a_protocol_of_the_same_shape():
    assert set(PROTOCOLS) == {"bybit", "binance", "okx", "bingx", "pionex", "orangex"}
    for name, cls in PROTOCOLS.items():
        stream = cls("perpetual_futures")
        assert stream.name == name
        assert stream.heartbeat.dead_after_seconds > stream.heartbeat.interval_seconds
        assert stream.quotas.source


def test_a_silent_stream_is_dead_within_two_heartbeat_periods():
    """Issue 12: a stall is detected within two heartbeat periods (ours, or the server's
    pings where it sends them)."""
    for cls in PROTOCOLS.values():
        heartbeat = cls("perpetual_futures").heartbeat
        assert heartbeat.dead_after_seconds <= 2 * heartbeat.interval_seconds, cls.name


def test_api_types_without_a_stream_are_not_supported():
    with pytest.raises(NotSupported):
        protocol_for("orangex", "spot")
    with pytest.raises(NotSupported):
        protocol_for("pionex", "live_nowhere")
    with pytest.raises(NotSupported):
        protocol_for("pionex", "spot").url("testnet")
