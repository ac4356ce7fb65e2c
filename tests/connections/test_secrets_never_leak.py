"""A connection's key, secret and passphrase (and an API token) never appear in a response,
a log record, the admin, an error report or a repr."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db import connection as db
from django.test import Client
from django.views.debug import ExceptionReporter
from rest_framework.authtoken.models import Token

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.paper import PaperCredentials, paper_credentials_generate
from connections.services import ConnectionSpec, connection_create, connection_credentials
from exchanges.base import Credentials

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"
KEY = "KeY-sentinel-4c1d8e2f9a7b3605"
SECRET = "SeCrEt-sentinel-8f3a1c0d9e7b5a42"
PASSPHRASE = "PaSs-sentinel-5e6f7a8b"
SECOND_SECRET = "SeCrEt-sentinel-second-0b9c8d7e"
SENTINELS = (KEY, SECRET, PASSPHRASE, SECOND_SECRET)


def okx_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Desk OKX",
        "exchange": "okx",
        "apiType": "spot",
        "environment": "live",
        "apiKey": KEY,
        "apiSecret": SECRET,
        "passphrase": PASSPHRASE,
        **overrides,
    }


def assert_no_sentinel(text: str, where: str) -> None:
    for sentinel in SENTINELS:
        assert sentinel not in text, f"{sentinel} leaked into {where}"


def record_text(record: logging.LogRecord) -> str:
    text = f"{record.getMessage()} {record.__dict__!r}"
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


def test_a_posted_secret_appears_in_no_response_no_log_record_and_not_in_the_admin(
    owner_client, owner, staff, caplog
):
    caplog.set_level(logging.DEBUG)
    responses = [owner_client.post(URL, okx_body(), format="json")]
    assert responses[0].status_code == 201, responses[0].json()
    connection_id = responses[0].json()["connection"]["id"]
    detail = f"{URL}/{connection_id}"
    responses += [
        owner_client.get(detail),
        owner_client.get(URL),
        owner_client.patch(detail, {"apiSecret": SECOND_SECRET}, format="json"),
        # refused bodies carrying secrets: the errors name fields, never values
        owner_client.patch(
            detail, {"apiSecret": SECOND_SECRET, "exchange": "binance"}, format="json"
        ),
        owner_client.post(URL, okx_body(exchange=SECRET, apiType=KEY), format="json"),
        owner_client.post(URL, okx_body(apiSecret=SECRET * 20), format="json"),
        owner_client.post(URL, okx_body(environment=PASSPHRASE, unknown=SECRET), format="json"),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 400, 400, 400, 400]
    for response in responses:
        assert_no_sentinel(response.content.decode(), f"the response {response.status_code}")
    for record in caplog.records:
        assert_no_sentinel(record_text(record), f"the log record {record.name}")
    for row in ConnectionSyncLog.objects.all():
        assert_no_sentinel(repr(row.data), "the sync log")

    admin = Client()
    admin.force_login(staff)
    for page in (
        f"/admin/connections/exchangeconnection/{connection_id}/change/",
        "/admin/connections/exchangeconnection/",
        "/admin/connections/connectionsynclog/",
        f"/admin/connections/exchangeconnection/{connection_id}/history/",
    ):
        response = admin.get(page)
        assert response.status_code == 200, page
        assert_no_sentinel(response.content.decode(), page)


def full_report(request: Any, exc_info: Any) -> str:
    """Django's error report as an error e-mail holds it (AdminEmailHandler): the text, and
    the HTML with the request's POST and META and every frame's local variables."""
    reporter = ExceptionReporter(request, *exc_info)
    return reporter.get_traceback_text() + reporter.get_traceback_html()


def error_reports(records: list[logging.LogRecord]) -> list[str]:
    request = next((r.request for r in records if hasattr(r, "request")), None)
    return [full_report(getattr(r, "request", request), r.exc_info) for r in records if r.exc_info]


REFUSAL = "the audit log refuses writes"


def refuse_audit_log_writes() -> None:
    """The database itself refuses every new sync-log row from now on (a trigger, rolled
    back with the test's transaction): a real failure deep inside a service, after the
    connection's own rows were written."""
    table = ConnectionSyncLog._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION test_refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$;
            CREATE TRIGGER test_refuse_write BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION test_refuse_write();""")


def test_a_failing_admin_save_reports_no_secret(client, staff, owner, caplog):
    """The admin form's POST is sensitive_post_parameters, its frames sensitive_variables."""
    refuse_audit_log_writes()
    client.force_login(staff)
    client.raise_request_exception = False
    caplog.set_level(logging.ERROR)
    response = client.post(
        "/admin/connections/exchangeconnection/add/",
        {
            "owner": owner.pk,
            "name": "From admin",
            "exchange": "okx",
            "api_type": "spot",
            "environment": "live",
            "enabled": "on",
            "api_key": KEY,
            "api_secret": SECRET,
            "passphrase": PASSPHRASE,
            "state-TOTAL_FORMS": "0",
            "state-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 500
    reports = error_reports(caplog.records)
    assert reports and REFUSAL in reports[0]
    for report in reports:
        assert_no_sentinel(report, "the error report")


def unusable_encryption_keys(settings: Any) -> None:
    settings.CONNECTION_ENCRYPTION_KEYS = ["not-a-fernet-key"]


@pytest.mark.parametrize(
    "failure, error, message",
    [
        # the connection's rows are written, then the database refuses the audit row
        (lambda settings: refuse_audit_log_writes(), DatabaseError, REFUSAL),
        # the secrets are in the encrypting frames' variables when the keys turn out unusable
        (unusable_encryption_keys, ImproperlyConfigured, "must be url-safe base64 Fernet keys"),
    ],
    ids=["audit-row-refused", "encryption-keys-unusable"],
)
def test_a_failure_inside_a_service_holding_secrets_rolls_back_and_masks_them_in_reports(
    owner, settings, failure, error, message
):
    failure(settings)
    with pytest.raises(error) as caught:
        connection_create(
            owner=owner,
            actor=owner,
            spec=ConnectionSpec(
                name="x",
                exchange="okx",
                api_type="spot",
                environment="live",
                api_key=KEY,
                api_secret=SECRET,
                passphrase=PASSPHRASE,
            ),
        )
    report = full_report(None, (caught.type, caught.value, caught.tb))
    assert message in report and "connection_create" in report
    assert_no_sentinel(report, "the error report")
    assert not ExchangeConnection.objects.exists()


def test_an_api_failure_while_creating_logs_and_reports_no_secret(owner_client, caplog):
    refuse_audit_log_writes()
    caplog.set_level(logging.DEBUG)
    response = owner_client.post(URL, okx_body(), format="json")
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "server_error",
        "message": "internal server error",
        "fields": {},
    }
    for record in caplog.records:
        assert_no_sentinel(record_text(record), f"the log record {record.name}")
    assert not ExchangeConnection.objects.exists()
    reports = error_reports(caplog.records)
    assert reports and REFUSAL in reports[0]
    for report in reports:
        assert_no_sentinel(report, "the error report")


def test_objects_holding_credentials_have_masked_reprs(owner):
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="x",
            exchange="okx",
            api_type="spot",
            environment="live",
            api_key=KEY,
            api_secret=SECRET,
            passphrase=PASSPHRASE,
        ),
    )
    plain = connection_credentials(connection=connection)
    assert plain["api_secret"] == SECRET  # still the values, for the connector
    generated = paper_credentials_generate(exchange="okx")
    for holder in (
        plain,
        Credentials(KEY, SECRET, PASSPHRASE),
        PaperCredentials(api_key=KEY, api_secret=SECRET, passphrase=PASSPHRASE),
        connection,
        connection.state,
    ):
        assert_no_sentinel(repr(holder), type(holder).__name__)
        assert_no_sentinel(str(holder), type(holder).__name__)
        assert_no_sentinel(f"{[holder]}", type(holder).__name__)
    assert generated.api_secret not in repr(generated)
    assert generated.passphrase not in repr(generated)


def test_api_tokens_are_never_shown_in_the_admin_or_named_by_their_key(owner, staff):
    token, _ = Token.objects.get_or_create(user=owner)
    assert token.key not in str(token) and token.key not in repr(token)
    admin = Client()
    admin.force_login(staff)
    listing = admin.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 200 and "••••" + token.key[-4:] in listing.content.decode()
    page = admin.get(f"/admin/authtoken/tokenproxy/{owner.pk}/change/")
    assert page.status_code == 200
    for response in (listing, page):
        assert token.key not in response.content.decode()
