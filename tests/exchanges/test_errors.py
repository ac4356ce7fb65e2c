"""An exchange's words reach our errors only as a code and one short line."""

from __future__ import annotations

from exchanges import errors
from exchanges.errors import MAX_CODE_CHARS, MAX_REASON_CHARS


def test_a_huge_message_is_cut_to_the_bound_with_an_ellipsis():
    error = errors.InvalidOrder("x" * 10_000, exchange="binance", code=-1013)
    assert len(error.message) == MAX_REASON_CHARS and error.message.endswith("…")
    assert str(error).startswith("binance [-1013] x")


def test_a_multi_line_html_message_becomes_one_line_without_control_characters():
    error = errors.ExchangeError("<html>\r\n<body>\tBad\x00 Gateway\x1b[31m</body>\n</html>")
    assert "\n" not in error.message and "\r" not in error.message
    assert "\x00" not in error.message and "\x1b" not in error.message
    assert error.message == "<html> <body> Bad Gateway [31m</body> </html>"


def test_a_huge_code_is_cut_too():
    assert len(errors.ExchangeError("x", code="9" * 500).code) == MAX_CODE_CHARS


def test_every_error_class_is_bounded_the_same_way():
    for error_class in (
        errors.RateLimited,
        errors.OrderOutcomeUnknown,
        errors.RequestTimeout,
        errors.DestinationNotAllowed,
    ):
        assert len(error_class("y" * 1000).message) == MAX_REASON_CHARS


def test_a_short_message_and_code_are_kept_as_they_are():
    error = errors.OrderNotFound("Order does not exist.", code=-2013, exchange="binance")
    assert (error.message, error.code) == ("Order does not exist.", "-2013")


def test_destination_not_allowed_is_an_invalid_request():
    assert issubclass(errors.DestinationNotAllowed, errors.InvalidRequest)
    assert not errors.DestinationNotAllowed.retryable
