"""The outcome rule of the connector base class, against real sockets on 127.0.0.1.

Each server below misbehaves the way a real network or gateway does. A write that fails
before any byte could leave is NetworkError (surely not received); every other failure of a
write is OrderOutcomeUnknown with its deadline; a read failing the same ways is only
ExchangeUnavailable. The whole request (connect, send, the whole body) has one deadline.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exchanges import errors, transport
from exchanges.base import Call, Connector, Credentials, Response

DEADLINE_MS = 1_700_000_005_000
SIGNATURE = "sig0123456789abcdef"
JSON_OK = b'{"ok": true}'


class WireConnector(Connector):
    """The smallest connector: the base class's pipeline with a trivial envelope."""

    name = "wire"
    rest_hosts = {}
    error_table = errors.ErrorTable()

    def sign(self, call: Call) -> None:
        call.params.append(("signature", SIGNATURE))
        call.deadline_ms = DEADLINE_MS

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        return None if response.status < 400 else (None, f"HTTP {response.status}")

    def check_capabilities(self) -> None:
        """No exchange stands behind this double, so it has no row in the capability table."""

    def _never_called(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("only the request pipeline is under test here")

    server_time = check_credentials = heartbeat_read = balances = instruments = ticker = (
        set_leverage
    ) = cancel_all = open_orders = order_history = positions = _place_order = _cancel_order = (
        _get_order
    ) = _never_called


Behaviour = Callable[[socket.socket], None]


@contextlib.contextmanager
def server(behaviour: Behaviour) -> Iterator[tuple[int, list[bytes]]]:
    """A one-thread TCP server on a free port; each connection's request is read, recorded,
    then answered by ``behaviour``."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(5)
                received.append(_read_request(client))
                with contextlib.suppress(OSError):
                    behaviour(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _read_request(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def answer(
    status: str, body: bytes, *, content_type: str = "application/json", length: int | None = None
) -> bytes:
    length = len(body) if length is None else length
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def whole_json(client: socket.socket) -> None:
    client.sendall(answer("200 OK", JSON_OK))


def cut_off_body(client: socket.socket) -> None:
    client.sendall(answer("200 OK", JSON_OK[:5], length=len(JSON_OK)))


def reset_before_any_byte(client: socket.socket) -> None:
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_without_answer(client: socket.socket) -> None:
    client.shutdown(socket.SHUT_RDWR)


def gateway_page(client: socket.socket) -> None:
    client.sendall(
        answer(
            "502 Bad Gateway",
            b"<html><body>502 Bad Gateway</body></html>",
            content_type="text/html",
        )
    )


def html_with_200(client: socket.socket) -> None:
    client.sendall(answer("200 OK", b"<html>maintenance</html>", content_type="text/html"))


def garbled_json(client: socket.socket) -> None:
    client.sendall(answer("200 OK", b'{"ok": tr'))


def deeply_nested_json(client: socket.socket) -> None:
    client.sendall(answer("200 OK", b"[" * 100_000 + b"]" * 100_000))


def not_http(client: socket.socket) -> None:
    client.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


def trickle(client: socket.socket) -> None:
    """One byte every 0.15 s: no single read ever waits long."""
    for byte in answer("200 OK", JSON_OK):
        client.sendall(bytes([byte]))
        time.sleep(0.15)


def connector(port: int, **kwargs: Any) -> WireConnector:
    return WireConnector(
        credentials=Credentials(api_key="key-1234", api_secret="s"),
        base_url=f"http://127.0.0.1:{port}",
        **kwargs,
    )


def write_call() -> Call:
    return Call(method="POST", path="/order", params=[("qty", "1")], signed=True, write=True)


def read_call() -> Call:
    return Call(method="GET", path="/order", params=[("id", "1")], signed=True)


AFTER_SENDING = [
    cut_off_body,
    reset_before_any_byte,
    close_without_answer,
    gateway_page,
    html_with_200,
    garbled_json,
    deeply_nested_json,
    not_http,
]


@pytest.mark.parametrize("behaviour", AFTER_SENDING, ids=lambda b: b.__name__)
def test_every_failure_after_sending_a_write_leaves_its_outcome_unknown(behaviour):
    with server(behaviour) as (port, received), pytest.raises(errors.OrderOutcomeUnknown) as caught:
        connector(port).request(write_call())
    assert received, "the request reached the server"
    assert caught.value.deadline_ms == DEADLINE_MS


@pytest.mark.parametrize("behaviour", AFTER_SENDING, ids=lambda b: b.__name__)
def test_the_same_failures_of_a_read_are_only_unavailable(behaviour):
    with server(behaviour) as (port, _), pytest.raises(errors.ExchangeUnavailable):
        connector(port).request(read_call())


def test_a_whole_answer_is_decoded():
    with server(whole_json) as (port, _):
        assert connector(port).request(write_call()).payload == {"ok": True}


def test_a_trickling_answer_meets_the_whole_request_deadline():
    # the answer would take about 10 s at one byte per 0.15 s; a per-read timeout never fires
    with server(trickle) as (port, _), pytest.raises(errors.RequestTimeout) as caught:
        connector(port, timeout=1.0).request(write_call())
    assert caught.value.deadline_ms == DEADLINE_MS


def test_a_trickling_read_is_unavailable_at_the_deadline():
    with server(trickle) as (port, _), pytest.raises(errors.ExchangeUnavailable):
        connector(port, timeout=1.0).request(read_call())


def test_a_refused_connection_surely_sent_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(errors.NetworkError):
            connector(port).request(write_call())


def test_a_refused_destination_is_never_dialled():
    seen: list[tuple[str, int, list[str]]] = []

    def refuse(host: str, port: int, addresses: Any) -> None:
        seen.append((host, port, list(addresses)))
        raise errors.DestinationNotAllowed("loopback is not allowed")

    with server(whole_json) as (port, received), pytest.raises(errors.DestinationNotAllowed):
        connector(port, destination_guard=refuse).request(write_call())
    assert seen == [("127.0.0.1", port, ["127.0.0.1"])]
    assert received == []


def test_an_allowed_destination_is_dialled_at_the_address_the_guard_saw():
    seen: list[list[str]] = []
    with server(whole_json) as (port, received):
        connector(port, destination_guard=lambda h, p, a: seen.append(list(a))).request(read_call())
    assert seen == [["127.0.0.1"]]
    assert len(received) == 1


def test_an_answer_larger_than_the_bound_is_not_read_whole():
    def big(client: socket.socket) -> None:
        client.sendall(answer("200 OK", b'{"a": "' + b"x" * 5000 + b'"}'))

    with server(big) as (port, _):
        bounded = transport.new_session(max_body_bytes=1000)
        with pytest.raises(errors.OrderOutcomeUnknown):
            connector(port, session=bounded).request(write_call())
        assert (
            connector(port, session=transport.new_session(max_body_bytes=6000))
            .request(write_call())
            .status
            == 200
        ), "the same answer within a larger bound is read"


def test_a_session_reads_answers_up_to_32_mib_by_default():
    assert transport.new_session().get_adapter("https://").max_body_bytes == 32 * 1024 * 1024


@pytest.mark.parametrize(
    "behaviour", [cut_off_body, trickle, gateway_page], ids=lambda b: b.__name__
)
def test_failures_never_carry_the_signed_query_string(behaviour):
    with server(behaviour) as (port, _), pytest.raises(errors.ExchangeError) as caught:
        connector(port, timeout=1.0).request(write_call())
    shown = "".join(traceback.format_exception(caught.value))
    assert SIGNATURE not in shown
    assert "127.0.0.1" not in str(caught.value)


def test_a_failure_before_the_network_is_judged_by_its_kind():
    broken = connector(1)
    broken.base_url = "http://[::1"  # not a URL: nothing can have been sent
    with pytest.raises(errors.NetworkError):
        broken.request(write_call())


def test_a_write_reports_its_signed_deadline_before_any_byte_leaves():
    with server(whole_json) as (port, received):
        wire = connector(port)
        seen: list[tuple[int | None, int]] = []
        wire.before_write = lambda deadline: seen.append((deadline, len(received)))
        wire.request(write_call())
        wire.request(read_call())
    assert seen == [(DEADLINE_MS, 0)], "once, for the write, with nothing received yet"
