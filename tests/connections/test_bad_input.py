"""Bad input gets the one error body with the right status and changes nothing."""

from __future__ import annotations

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection
from tests.connections.factories import create_body, make_connection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field is not None:
        assert field in body["error"]["fields"], body
    return body["error"]


@pytest.mark.parametrize(
    "changes, code, field",
    [
        ({"exchange": "kraken"}, "validation_error", "exchange"),
        ({"apiType": "options"}, "validation_error", "apiType"),
        ({"environment": "staging"}, "validation_error", "environment"),
        ({"baseUrl": "ftp://example.com"}, "validation_error", "baseUrl"),
        ({"baseUrl": "not a url"}, "validation_error", "baseUrl"),
        ({"baseUrl": "javascript:alert(1)"}, "validation_error", "baseUrl"),
        ({"wsUrl": "http://example.com/ws"}, "validation_error", "wsUrl"),
        ({"volumeFactorLive": 0}, "validation_error", "volumeFactorLive"),
        ({"volumeFactorLive": "-1"}, "validation_error", "volumeFactorLive"),
        ({"volumeFactorPreset": "100.5"}, "validation_error", "volumeFactorPreset"),
        ({"volumeFactorPreset": "lots"}, "validation_error", "volumeFactorPreset"),
        ({"volumeFactorPreset": True}, "validation_error", "volumeFactorPreset"),
        ({"name": "x" * 101}, "validation_error", "name"),
        ({"name": ""}, "validation_error", "name"),
        ({"name": 12345}, "validation_error", "name"),
        ({"apiKey": ["a", "b"]}, "validation_error", "apiKey"),
        ({"apiSecret": "s" * 513}, "validation_error", "apiSecret"),
        ({"enabled": "yes"}, "validation_error", "enabled"),
        ({"enabled": 1}, "validation_error", "enabled"),
        ({"exchange": None, "name": None}, "validation_error", "exchange"),
        ({"isActive": True}, "validation_error", "isActive"),
        ({"owner": 5}, "validation_error", "owner"),
    ],
)
def test_bad_create_is_refused_and_saves_nothing(owner_client, changes, code, field):
    assert_error(owner_client.post(URL, create_body(**changes), format="json"), 400, code, field)
    assert not ExchangeConnection.objects.exists()
    assert not ConnectionSyncLog.objects.exists()


@pytest.mark.parametrize(
    "changes, code, field",
    [
        ({"exchange": "binance", "apiType": "margin"}, "api_type_not_supported", "apiType"),
        ({"exchange": "orangex", "apiType": "spot"}, "api_type_not_supported", "apiType"),
        (
            {"exchange": "pionex", "environment": "testnet"},
            "environment_not_supported",
            "environment",
        ),
        (
            {"exchange": "orangex", "apiType": "perpetual_futures", "environment": "testnet"},
            "environment_not_supported",
            "environment",
        ),
        (
            {"exchange": "bingx", "apiType": "spot", "environment": "testnet"},
            "environment_not_supported",
            "environment",
        ),
        ({"exchange": "okx"}, "credentials_required", "passphrase"),
        ({"apiKey": None}, "credentials_required", "apiKey"),
        ({"apiSecret": None}, "credentials_required", "apiSecret"),
    ],
)
def test_a_well_formed_create_the_exchange_does_not_offer_is_422_and_saves_nothing(
    owner_client, changes, code, field
):
    # the schema allows each field; their combination is what the exchange refuses
    error = assert_error(
        owner_client.post(URL, create_body(**changes), format="json"), 422, code, field
    )
    assert not ExchangeConnection.objects.exists()
    assert not ConnectionSyncLog.objects.exists()
    if code == "environment_not_supported":
        assert "offers environment" in error["message"]


def test_unsupported_api_type_message_names_what_the_exchange_offers(owner_client):
    error = assert_error(
        owner_client.post(URL, create_body(exchange="binance", apiType="margin"), format="json"),
        422,
        "api_type_not_supported",
        "apiType",
    )
    assert "spot" in error["message"] and "perpetual_futures" in error["message"]


@pytest.mark.parametrize("raw", ['{"name": ', "[1, 2]", '"just a string"', "null"])
def test_malformed_or_non_object_json_is_400(owner_client, raw):
    response = owner_client.generic("POST", URL, raw, content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert not ExchangeConnection.objects.exists()


def test_non_json_content_type_is_415(owner_client):
    response = owner_client.generic("POST", URL, "name=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "changes, code, field",
    [
        ({"exchange": "binance"}, "validation_error", "exchange"),
        ({"apiType": "options"}, "validation_error", "apiType"),
        ({"environment": "testnet", "apiType": "spot"}, None, None),
        ({"volumeFactorLive": "0"}, "validation_error", "volumeFactorLive"),
        ({"name": None}, "validation_error", "name"),
        ({"baseUrl": "gopher://x"}, "validation_error", "baseUrl"),
        ({"unknownField": 1}, "validation_error", "unknownField"),
        ({"apiType": "unified_account", "environment": "live"}, None, None),
    ],
)
def test_bad_patch_is_refused_and_changes_nothing(owner_client, owner, changes, code, field):
    connection = make_connection(owner)
    before = ExchangeConnection.objects.filter(pk=connection.pk).values().get()
    response = owner_client.patch(f"{URL}/{connection.pk}", changes, format="json")
    if code is None:  # valid changes for bybit: prove the endpoint accepts real edits
        assert response.status_code == 200, response.json()
        return
    assert_error(response, 400, code, field)
    after = ExchangeConnection.objects.filter(pk=connection.pk).values().get()
    assert before == after
    assert not ConnectionSyncLog.objects.filter(action="updated").exists()


def test_patch_to_an_environment_the_exchange_lacks_is_environment_not_supported(
    owner_client, owner
):
    connection = make_connection(owner, exchange="pionex")
    response = owner_client.patch(
        f"{URL}/{connection.pk}", {"environment": "testnet"}, format="json"
    )
    assert_error(response, 422, "environment_not_supported", "environment")
    connection.refresh_from_db()
    assert connection.environment == "live"


def test_removing_the_okx_passphrase_is_refused(owner_client, owner):
    connection = make_connection(owner, exchange="okx", passphrase="phrase-1")
    response = owner_client.patch(f"{URL}/{connection.pk}", {"passphrase": ""}, format="json")
    assert_error(response, 422, "credentials_required", "passphrase")
    connection.refresh_from_db()
    assert connection.has_passphrase


def test_patch_with_malformed_id_is_404(owner_client):
    assert_error(owner_client.patch(f"{URL}/nope", {"name": "x"}, format="json"), 404, "not_found")


def test_put_is_not_allowed(owner_client, owner):
    connection = make_connection(owner)
    response = owner_client.put(f"{URL}/{connection.pk}", create_body(), format="json")
    assert_error(response, 405, "method_not_allowed")
