"""The OpenAPI schema says what the API answers: envelopes as the views build them, every
error status with the one Error component, Retry-After where a client must wait, and the
rules the serializers enforce."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from orders.services import IDEMPOTENCY_KEY

ERROR_REF = "#/components/schemas/Error"


@cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema()["paths"].items()
        for method, operation in item.items()
    ]


def component(name: str) -> dict[str, Any]:
    return schema()["components"]["schemas"][name]


def ok_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
    return schema()["paths"][path][method]["responses"][status]["content"]["application/json"][
        "schema"
    ]


@pytest.mark.parametrize(
    "path, component_name, keys",
    [
        (
            "/api/settings/connections",
            "ConnectionListOut",
            {"success", "count", "filters", "connections"},
        ),
        ("/api/orders", "OrderListOut", {"success", "count", "next", "previous", "orders"}),
    ],
)
def test_list_endpoints_are_described_as_the_envelope_they_answer(path, component_name, keys):
    assert ok_schema(path, "get") == {"$ref": f"#/components/schemas/{component_name}"}
    listed = component(component_name)
    assert set(listed["properties"]) == keys == set(listed["required"])


def test_the_connection_list_filters_are_all_five_each_nullable():
    filters = component("AppliedFiltersOut")["properties"]
    assert set(filters) == {"exchange", "apiType", "environment", "isActive", "enabled"}
    assert all(value.get("nullable") for value in filters.values())


def test_delete_is_documented_as_the_200_it_answers():
    responses = schema()["paths"]["/api/settings/connections/{id}"]["delete"]["responses"]
    assert "204" not in responses
    assert ok_schema("/api/settings/connections/{id}", "delete") == {
        "$ref": "#/components/schemas/SuccessOut"
    }


@pytest.mark.parametrize(
    "path, method, status",
    [
        ("/api/settings/connections", "post", "201"),
        ("/api/orders", "post", "202"),
        ("/api/orders/cancel-all", "post", "202"),
        ("/api/settings/connections/batch-test", "post", "202"),
        ("/api/orders/{id}/cancel", "post", "202"),
    ],
)
def test_created_and_accepted_answers_are_documented(path, method, status):
    assert status in schema()["paths"][path][method]["responses"]


def test_every_operation_documents_401_and_503_with_the_error_component():
    for path, method, operation in operations():
        for status in ("401", "503"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": ERROR_REF}, (path, method, status)


def test_every_error_response_uses_the_one_error_component_and_names_its_codes():
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema_of = response["content"]["application/json"]["schema"]
            assert schema_of == {"$ref": ERROR_REF}, (path, method, status)
            assert "Codes: `" in response["description"], (path, method, status)


def test_429_and_503_carry_a_required_retry_after_header():
    for path, method, operation in operations():
        for status in ("429", "503"):
            if status in operation["responses"]:
                header = operation["responses"][status]["headers"]["Retry-After"]
                assert header["required"] is True, (path, method, status)


@pytest.mark.parametrize(
    "path, method, status, codes",
    [
        ("/api/settings/connections/{id}/test", "post", "429", ["throttled"]),
        ("/api/settings/connections/{id}", "delete", "409", ["connection_has_orders"]),
        (
            "/api/settings/connections",
            "post",
            "422",
            ["environment_not_supported", "url_not_allowed", "credentials_required"],
        ),
        (
            "/api/orders",
            "post",
            "422",
            ["insufficient_margin", "risk_limit", "hedge_mode_unsupported", "symbol_not_traded"],
        ),
        ("/api/orders", "post", "409", ["idempotency_key_reused", "circuit_open"]),
        ("/api/orders/{id}/cancel", "post", "409", ["order_not_cancelable"]),
        ("/api/settings/connections", "post", "413", ["request_too_large"]),
        ("/api/settings/connections", "post", "415", ["unsupported_media_type"]),
        ("/api/auth/token", "post", "429", ["throttled"]),
        (
            "/api/settings/connections/{id}/balances",
            "get",
            "503",
            ["exchange_unavailable", "service_unavailable"],
        ),
    ],
)
def test_each_operation_names_the_codes_it_answers(path, method, status, codes):
    description = schema()["paths"][path][method]["responses"][status]["description"]
    for code in codes:
        assert f"`{code}`" in description, (code, description)


def test_the_error_component_is_success_false_code_message_fields():
    error = component("Error")
    assert error["properties"]["success"] == {"$ref": "#/components/schemas/Failed"}
    assert component("Failed") == {"type": "boolean", "enum": [False]}
    detail = component("ErrorDetailOut")
    assert {"code", "message", "fields"} <= set(detail["required"])


@pytest.mark.parametrize(
    "name",
    [
        "ConnectionWriteRequest",
        "PatchedConnectionUpdateRequest",
        "LimitOrderInRequest",
        "MarketOrderInRequest",
        "BatchTestInRequest",
        "CancelAllInRequest",
        "TokenInRequest",
    ],
)
def test_bodies_that_refuse_unknown_fields_say_so(name):
    assert component(name)["additionalProperties"] is False


def test_secrets_are_write_only_and_never_answered():
    write = component("ConnectionWriteRequest")["properties"]
    assert all(write[name]["writeOnly"] for name in ("apiKey", "apiSecret", "passphrase"))
    answered = component("ConnectionOut")["properties"]
    assert not {"apiKey", "apiSecret", "passphrase"} & set(answered)


def test_a_patch_cannot_name_the_exchange():
    assert "exchange" not in component("PatchedConnectionUpdateRequest")["properties"]


def test_an_order_body_is_a_limit_or_a_market_order_by_its_type():
    body = component("OrderInRequest")
    assert body["discriminator"]["propertyName"] == "type"
    assert "price" in component("LimitOrderInRequest")["required"]
    market_tif = component("MarketOrderInTimeInForceEnum")["enum"]
    assert "POST_ONLY" not in market_tif


def test_the_idempotency_key_header_states_the_servers_pattern():
    parameters = schema()["paths"]["/api/orders"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["schema"]["pattern"] == IDEMPOTENCY_KEY.pattern


def test_the_order_list_page_bounds_are_the_servers():
    parameters = {
        p["name"]: p["schema"] for p in schema()["paths"]["/api/orders"]["get"]["parameters"]
    }
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 500)
    assert parameters["offset"]["minimum"] == 0


def test_a_batch_names_one_to_fifty_distinct_uuids():
    ids = component("BatchTestInRequest")["properties"]["connectionIds"]
    assert (ids["minItems"], ids["maxItems"], ids["uniqueItems"]) == (1, 50, True)
    assert ids["items"]["format"] == "uuid"


def test_decimals_in_requests_are_a_plain_decimal_string_or_a_number_on_their_grid():
    quantity = component("LimitOrderInRequest")["properties"]["quantity"]
    string, number = quantity["anyOf"]
    assert string["type"] == "string" and string["pattern"].startswith("^")
    assert number == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10**18,
        "exclusiveMaximum": True,
        "multipleOf": 1e-12,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/orders",
        "/api/settings/connections",
        "/api/settings/connections/batch-test",
        "/api/orders/cancel-all",
        "/api/auth/token",
    ],
)
def test_a_body_with_required_fields_is_itself_required(path):
    # the fuzzer sent POST /api/orders without a body, which the schema allowed
    assert schema()["paths"][path]["post"]["requestBody"]["required"] is True
