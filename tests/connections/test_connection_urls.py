"""A connection's baseUrl and wsUrl reach only its exchange's official hosts (or the
operator's allowlist): a URL of another shape than the schema states is a 400, a
well-formed one on a host that is not allowed a 422 url_not_allowed, each naming the field,
and nothing is saved."""

from __future__ import annotations

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.services import connection_connector
from exchanges import errors
from exchanges.hosts import vet_addresses
from tests.connections.factories import create_body, make_connection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"

HOSTILE_BASE_URLS = {
    "lookalike_suffix": "https://api.bybit.com.attacker.example",
    "trailing_dot": "https://api.bybit.com.",
    "userinfo": "https://user:pass@api.bybit.com",
    "userinfo_hiding_the_host": "https://api.bybit.com@attacker.example",
    "fragment": "https://api.bybit.com#frag",
    "query": "https://api.bybit.com?a=1",
    "non_default_port": "https://api.bybit.com:8443",
    "plain_http": "http://api.bybit.com",
    "ip_literal": "https://169.254.169.254",
    "loopback_ip_literal": "http://127.0.0.1:6379",
    "uppercase": "https://API.BYBIT.COM",
    "idn_homoglyph": "https://\u0430pi.bybit.com",
    "another_exchanges_host": "https://api.binance.com",
    "testnet_host_on_live": "https://api-testnet.bybit.com",
    "overlong": "https://api.bybit.com/" + "a" * 300,
    "not_a_url": "not a url",
}
HOSTILE_WS_URLS = {
    "lookalike_suffix": "wss://stream.bybit.com.attacker.example",
    "plain_ws": "ws://stream.bybit.com",
    "userinfo": "wss://u:p@stream.bybit.com",
    "fragment": "wss://stream.bybit.com/v5#x",
    "query": "wss://stream.bybit.com/v5?x=1",
    "ip_literal": "wss://10.0.0.1",
    "rest_scheme": "https://stream.bybit.com",
}


# well formed (the schema's URL pattern) but on a host the connection may not use
NOT_ALLOWED = {
    "https://api.bybit.com.attacker.example",
    "https://api.bybit.com:8443",
    "http://api.bybit.com",
    "https://169.254.169.254",
    "http://127.0.0.1:6379",
    "https://API.BYBIT.COM",
    "https://api.binance.com",
    "https://api-testnet.bybit.com",
    "wss://stream.bybit.com.attacker.example",
    "ws://stream.bybit.com",
    "wss://10.0.0.1",
    "http://127.0.0.1:8900/bybit",
    "https://api.bybit.com",
}


def assert_refused(response, field: str, url: str) -> None:
    status, code = (422, "url_not_allowed") if url in NOT_ALLOWED else (400, "validation_error")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert list(error["fields"]) == [field] and error["fields"][field][0]


@pytest.mark.parametrize("url", HOSTILE_BASE_URLS.values(), ids=HOSTILE_BASE_URLS.keys())
def test_create_with_a_hostile_base_url_is_400_and_saves_nothing(owner_client, url):
    assert_refused(owner_client.post(URL, create_body(baseUrl=url), format="json"), "baseUrl", url)
    assert not ExchangeConnection.objects.exists()
    assert not ConnectionSyncLog.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_WS_URLS.values(), ids=HOSTILE_WS_URLS.keys())
def test_create_with_a_hostile_ws_url_is_400_and_saves_nothing(owner_client, url):
    assert_refused(owner_client.post(URL, create_body(wsUrl=url), format="json"), "wsUrl", url)
    assert not ExchangeConnection.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_BASE_URLS.values(), ids=HOSTILE_BASE_URLS.keys())
def test_patch_to_a_hostile_base_url_is_400_and_changes_nothing(owner_client, owner, url):
    connection = make_connection(owner)
    before = ExchangeConnection.objects.filter(pk=connection.pk).values().get()
    assert_refused(
        owner_client.patch(f"{URL}/{connection.pk}", {"baseUrl": url}, format="json"),
        "baseUrl",
        url,
    )
    assert ExchangeConnection.objects.filter(pk=connection.pk).values().get() == before
    assert not ConnectionSyncLog.objects.filter(action="updated").exists()


@pytest.mark.parametrize("url", HOSTILE_WS_URLS.values(), ids=HOSTILE_WS_URLS.keys())
def test_patch_to_a_hostile_ws_url_is_400_and_changes_nothing(owner_client, owner, url):
    connection = make_connection(owner)
    before = ExchangeConnection.objects.filter(pk=connection.pk).values().get()
    assert_refused(
        owner_client.patch(f"{URL}/{connection.pk}", {"wsUrl": url}, format="json"), "wsUrl", url
    )
    assert ExchangeConnection.objects.filter(pk=connection.pk).values().get() == before


def test_create_on_official_regional_and_stream_hosts_is_accepted(owner_client):
    response = owner_client.post(
        URL,
        create_body(baseUrl="https://api.bybit.nl", wsUrl="wss://stream.bybit.com/v5/private"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()["connection"]
    assert body["baseUrl"] == "https://api.bybit.nl"
    assert body["wsUrl"] == "wss://stream.bybit.com/v5/private"


def test_patch_to_another_official_host_is_accepted(owner_client, owner):
    connection = make_connection(owner)
    response = owner_client.patch(
        f"{URL}/{connection.pk}", {"baseUrl": "https://api.bytick.com"}, format="json"
    )
    assert response.status_code == 200, response.json()
    connection.refresh_from_db()
    assert connection.base_url == "https://api.bytick.com"


def test_a_blank_url_means_the_exchanges_default(owner_client, owner):
    connection = make_connection(owner, base_url="https://api.bybit.nl")
    response = owner_client.patch(f"{URL}/{connection.pk}", {"baseUrl": ""}, format="json")
    assert response.status_code == 200, response.json()


def test_changing_the_environment_re_judges_the_stored_url(owner_client, owner):
    connection = make_connection(owner, base_url="https://api.bybit.com")
    response = owner_client.patch(
        f"{URL}/{connection.pk}", {"environment": "testnet"}, format="json"
    )
    assert_refused(response, "baseUrl", "https://api.bybit.com")
    connection.refresh_from_db()
    assert connection.environment == "live"


def test_an_allowlisted_host_may_be_used_with_plain_http(owner_client, settings):
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({"proxy.internal:8080"})
    response = owner_client.post(
        URL, create_body(baseUrl="http://proxy.internal:8080/bybit"), format="json"
    )
    assert response.status_code == 201, response.json()


def test_the_paper_host_is_not_a_host_for_live_connections(owner_client, settings):
    settings.PAPER_EXCHANGE_URL = "http://127.0.0.1:8900"
    url = "http://127.0.0.1:8900/bybit"
    assert_refused(owner_client.post(URL, create_body(baseUrl=url), format="json"), "baseUrl", url)


def test_a_paper_connection_refuses_an_official_host_and_saves_nothing(owner_client):
    response = owner_client.post(
        URL,
        {
            "name": "Paper",
            "exchange": "bybit",
            "apiType": "spot",
            "environment": "paper",
            "baseUrl": "https://api.bybit.com",
        },
        format="json",
    )
    assert_refused(response, "baseUrl", "https://api.bybit.com")
    assert not ExchangeConnection.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_paper_connection_may_name_the_paper_exchange_itself(owner_client, paper):
    response = owner_client.post(
        URL,
        {
            "name": "Paper",
            "exchange": "bybit",
            "apiType": "spot",
            "environment": "paper",
            "baseUrl": f"{paper}/bybit",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    "field, root", [("baseUrl", "{paper}/okx"), ("baseUrl", "{paper}"), ("wsUrl", "{ws}/okx")]
)
def test_a_paper_connection_naming_another_exchanges_paper_root_is_422(
    owner_client, paper, field, root
):
    # found by the schema fuzzer: a pionex connection on /okx reached OKX's paper API and
    # every read answered 503 exchange_unavailable
    url = root.format(paper=paper, ws=paper.replace("http://", "ws://"))
    response = owner_client.post(
        URL,
        {
            "name": "Paper",
            "exchange": "pionex",
            "apiType": "spot",
            "environment": "paper",
            field: url,
        },
        format="json",
    )
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "url_not_allowed" and list(error["fields"]) == [field]
    assert "/pionex" in error["message"]
    assert not ExchangeConnection.objects.exists()


def test_a_paper_connections_patch_to_another_exchanges_paper_root_is_422(owner_client, paper):
    created = owner_client.post(
        URL,
        {"name": "Paper", "exchange": "pionex", "apiType": "spot", "environment": "paper"},
        format="json",
    ).json()
    response = owner_client.patch(
        f"{URL}/{created['connection']['id']}", {"baseUrl": f"{paper}/okx"}, format="json"
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "url_not_allowed"
    assert ExchangeConnection.objects.get().base_url == ""


def test_the_connector_checks_resolved_addresses_with_the_allowlist(owner, settings):
    settings.PAPER_EXCHANGE_URL = "http://127.0.0.1:8900"
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({"proxy.internal:8080"})
    guard = connection_connector(connection=make_connection(owner)).destination_guard
    assert guard.func is vet_addresses
    guard("api.bybit.com", 443, ["52.84.150.39"])
    guard("127.0.0.1", 8900, ["127.0.0.1"])  # the paper exchange
    guard("proxy.internal", 8080, ["10.0.0.8"])  # allowlisted
    for host, port, address in (
        ("api.bybit.com", 443, "127.0.0.1"),
        ("api.bybit.com", 443, "169.254.169.254"),
        ("127.0.0.1", 6379, "127.0.0.1"),
    ):
        with pytest.raises(errors.DestinationNotAllowed):
            guard(host, port, [address])


def test_a_refused_destination_has_its_own_test_result_code():
    from connections.health import error_code_of

    assert error_code_of(errors.DestinationNotAllowed("no")) == "destination_not_allowed"
    assert error_code_of(errors.InvalidRequest("no")) == "exchange_error"
