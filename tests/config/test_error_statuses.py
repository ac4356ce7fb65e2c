"""Domain errors carry no HTTP status: config.api's one table gives each its status."""

from __future__ import annotations

import inspect

import pytest

from config.api import SERVICE_ERROR_STATUSES, exception_handler, service_error_status
from connections.health import CircuitOpen
from core import errors
from orders.prechecks import HedgeModeRefused, InsufficientMargin, RiskLimit
from orders.transitions import IllegalTransition

DOMAIN_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.ServiceError) and cls.__module__ == errors.__name__
]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_core_error_has_its_status_in_the_api_table(cls: type) -> None:
    assert cls in SERVICE_ERROR_STATUSES


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_no_domain_error_names_an_http_status(cls: type) -> None:
    assert not hasattr(cls, "status")


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (CircuitOpen, 409),
        (IllegalTransition, 409),
        (RiskLimit, 422),
        (InsufficientMargin, 422),
        (HedgeModeRefused, 422),
    ],
)
def test_an_apps_own_error_answers_with_the_status_of_its_kind(cls: type, status: int) -> None:
    assert service_error_status(cls("refused")) == status


def test_a_throttled_answer_carries_its_retry_after() -> None:
    response = exception_handler(errors.Throttled("wait", extra={"retry_after": 2.5}), {})
    assert response is not None
    assert (response.status_code, response["Retry-After"]) == (429, "3")
    assert response.data == {
        "success": False,
        "error": {"code": "throttled", "message": "wait", "fields": {}, "retryAfter": 2.5},
    }


def test_an_errors_extras_and_the_field_an_extra_names_are_spelled_the_apis_way() -> None:
    # services speak domain names; the body speaks the API's, as it always did
    refused = RiskLimit(
        "too big",
        fields={"max_order_notional": ["exceeded"]},
        extra={"limit": "max_order_notional", "value": "250.00", "maximum": "100"},
    )
    response = exception_handler(refused, {})
    assert response is not None
    assert response.data["error"] == {
        "code": "risk_limit",
        "message": "too big",
        "fields": {"maxOrderNotional": ["exceeded"]},
        "limit": "maxOrderNotional",
        "value": "250.00",
        "maximum": "100",
    }
    response = exception_handler(
        errors.ExchangeFailed("refused", extra={"exchange_code": "-2010"}), {}
    )
    assert response is not None
    assert response.data["error"]["exchangeCode"] == "-2010"
    response = exception_handler(CircuitOpen("open", extra={"retry_after": 7}), {})
    assert response is not None
    assert response.data["error"]["retryAfter"] == 7.0
