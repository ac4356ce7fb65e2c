"""Writes on connections. Views, admin, tasks and commands call these and nothing else."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import crypto
from connections.models import (
    DEFAULT_PRICE_BAND_PERCENT,
    ConnectionState,
    ConnectionSyncLog,
    ExchangeConnection,
)
from connections.paper import (
    PaperCredentials,
    paper_account_upsert,
    paper_base_url,
    paper_credentials_generate,
    paper_ws_url,
)
from connections.ratelimits import connection_throttle, run_time_limits_store
from core.errors import Conflict, Unprocessable, ValidationFailed
from core.types import Id
from exchanges import binance, errors
from exchanges.base import Connector, Credentials, Throttle
from exchanges.capabilities import API_TYPES, ENVIRONMENTS, EXCHANGES, capability
from exchanges.hosts import (
    Transport,
    UrlNotAllowed,
    check_connection_url,
    url_endpoint,
    vet_addresses,
)
from exchanges.registry import connector_class

SECRET_FIELDS = ("api_key", "api_secret", "passphrase")
STATE_FIELDS = ("volume_factor_live", "volume_factor_preset")
URL_FIELDS: tuple[tuple[str, Transport], ...] = (("base_url", "rest"), ("ws_url", "websocket"))
PLAIN_FIELDS = (
    "name",
    "api_type",
    "environment",
    "base_url",
    "ws_url",
    "enabled",
    "max_order_notional",
    "max_open_orders",
    "price_band_percent",
)
# what an order on the exchange was sent with: these cannot change under an order in flight
TRADING_IDENTITY_FIELDS = ("api_type", "environment", "base_url", *SECRET_FIELDS)
# Apps above this one (orders) say whether a connection has orders in flight; this app
# cannot import them (imports point one way), so they register here at start.
IN_FLIGHT_ORDER_CHECKS: list[Callable[[ExchangeConnection], bool]] = []
# How the 409 connection_has_open_orders message names the fields it lists: the message is
# prose for API users, in the words of docs/api.md. Error ``fields`` and the sync log use
# the domain names; the API's exception handler spells ``fields`` the API's way.
IDENTITY_FIELD_WORDS = {
    "api_type": "apiType",
    "environment": "environment",
    "base_url": "baseUrl",
    "api_key": "apiKey",
    "api_secret": "apiSecret",
    "passphrase": "passphrase",
}


class Unset(enum.Enum):
    """A field a partial update leaves as it is (``None`` is a value there: it clears a
    limit)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class ConnectionSpec:
    """A new connection. Credentials are for live and testnet connections (paper ones
    generate their own); what is left out takes the model's default."""

    name: str
    exchange: str
    api_type: str
    environment: str
    base_url: str = ""
    ws_url: str = ""
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)
    enabled: bool = True
    volume_factor_live: Decimal = Decimal("1")
    volume_factor_preset: Decimal = Decimal("1")
    max_order_notional: Decimal | None = None
    max_open_orders: int | None = None
    price_band_percent: Decimal | None = DEFAULT_PRICE_BAND_PERCENT

    def named_fields(self) -> list[str]:
        """The fields set (the required ones, and the others that differ from their
        defaults), sorted: what the sync log records of a creation."""
        return sorted(
            each.name
            for each in fields(self)
            if each.default is MISSING or getattr(self, each.name) != each.default
        )


@dataclass(frozen=True)
class ConnectionChanges:
    """A partial update: a field left UNSET stays as it is. The exchange is not one of
    them: a connection's exchange never changes. ``dead_man_seconds`` (the dead-man
    switch's window, None: off) is set by ``connections.dead_man.connection_update_with_dead_man``,
    which checks it against the exchange and disarms what it turns off."""

    name: str | Unset = UNSET
    api_type: str | Unset = UNSET
    environment: str | Unset = UNSET
    base_url: str | Unset = UNSET
    ws_url: str | Unset = UNSET
    api_key: str | Unset = field(default=UNSET, repr=False)
    api_secret: str | Unset = field(default=UNSET, repr=False)
    passphrase: str | Unset = field(default=UNSET, repr=False)
    enabled: bool | Unset = UNSET
    volume_factor_live: Decimal | Unset = UNSET
    volume_factor_preset: Decimal | Unset = UNSET
    max_order_notional: Decimal | Unset | None = UNSET
    max_open_orders: int | Unset | None = UNSET
    price_band_percent: Decimal | Unset | None = UNSET
    dead_man_seconds: int | Unset | None = UNSET

    def given(self) -> dict[str, Any]:
        """The fields this update sets, by domain name."""
        return {
            each.name: getattr(self, each.name)
            for each in fields(self)
            if getattr(self, each.name) is not UNSET
        }


def actor_name(user: User | None) -> str:
    return user.get_username() if user is not None and user.pk else "system"


def sync_log_write(
    *, connection_id: Id, action: str, actor: str, data: dict[str, Any] | None = None
) -> ConnectionSyncLog:
    return ConnectionSyncLog.objects.create(
        connection_id=str(connection_id), action=action, actor=actor, data=data or {}
    )


def _audit(
    connection: ExchangeConnection, actor: User | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Sync-log data; a staff member acting for another owner (in the admin) is the row's
    actor, and the owner is named beside as ``for_owner``."""
    if actor is not None and actor.pk and actor.pk != connection.owner_id:
        return {**data, "for_owner": connection.owner.get_username()}
    return data


def _field_error(field: str, message: str, *, code: str | None = None) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [message]})


def _refusal(field: str, message: str, *, code: str) -> Unprocessable:
    """A connection the API's schema allows but this exchange or environment does not: a
    422 naming the field (the serializer has refused everything the schema forbids)."""
    return Unprocessable(message, code=code, fields={field: [message]})


def _check_capabilities(*, exchange: str, api_type: str, environment: str) -> None:
    if exchange not in EXCHANGES:
        raise _field_error("exchange", f"unknown exchange; choose one of {', '.join(EXCHANGES)}")
    if api_type not in API_TYPES:
        raise _field_error("api_type", f"unknown apiType; choose one of {', '.join(API_TYPES)}")
    if environment not in ENVIRONMENTS:
        raise _field_error(
            "environment", f"unknown environment; choose one of {', '.join(ENVIRONMENTS)}"
        )
    offered = capability(exchange)
    if not offered.supports_api_type(api_type):
        raise _refusal(
            "api_type",
            f"{exchange} offers apiType {', '.join(offered.api_types)}; not {api_type}",
            code="api_type_not_supported",
        )
    if not offered.supports_environment(environment, api_type):
        environments = ", ".join(offered.environments)
        detail = ""
        if environment == "testnet" and "testnet" in offered.environments:
            detail = f" (its testnet serves {', '.join(offered.testnet_api_types)} only)"
        raise _refusal(
            "environment",
            f"{exchange} offers environment {environments}"
            f"{detail}; not {environment} for {api_type}",
            code="environment_not_supported",
        )


@sensitive_variables()
def _check_credentials(
    *,
    exchange: str,
    environment: str,
    api_key: str,
    api_secret: str,
    passphrase: str,
    creating: bool,
) -> None:
    """Credentials given (blank ones are not): none for paper; a key and secret (and the
    passphrase where the exchange has one) for a connection that needs them anew."""
    secrets = {"api_key": api_key, "api_secret": api_secret, "passphrase": passphrase}
    given = [name for name in SECRET_FIELDS if secrets[name]]
    if environment == "paper":
        if given:
            raise _refusal(
                given[0],
                "paper connections generate their own credentials",
                code="credentials_not_allowed",
            )
        return
    if creating:
        for name in ("api_key", "api_secret"):
            if not secrets[name]:
                raise _refusal(
                    name, f"a {environment} connection needs it", code="credentials_required"
                )
        if capability(exchange).needs_passphrase and not passphrase:
            raise _refusal(
                "passphrase", f"{exchange} API keys need a passphrase", code="credentials_required"
            )


def _url_allowlist(environment: str) -> frozenset[str]:
    """Hosts a stored URL may use besides the official ones: the operator's allowlist, and
    for paper connections the paper exchange itself."""
    allowlist = frozenset(settings.EXCHANGE_HOST_ALLOWLIST)
    if environment == "paper":
        return allowlist | {url_endpoint(settings.PAPER_EXCHANGE_URL)}
    return allowlist


def destination_allowlist() -> frozenset[str]:
    """``host:port`` a connector may reach on a non-public address (docs/security.md)."""
    return frozenset(settings.EXCHANGE_HOST_ALLOWLIST) | {url_endpoint(settings.PAPER_EXCHANGE_URL)}


def _check_urls(*, exchange: str, environment: str, base_url: str, ws_url: str) -> None:
    """A stored base URL or WebSocket URL must be on one of the exchange's official hosts
    for the environment, or allowlisted (exchanges.hosts); blank means the defaults."""
    urls = {"base_url": base_url, "ws_url": ws_url}
    for name, transport in URL_FIELDS:
        url = urls[name]
        if not url:
            continue
        try:
            check_connection_url(
                url,
                exchange=exchange,
                environment=environment,
                transport=transport,
                allowlist=_url_allowlist(environment),
            )
        except UrlNotAllowed as exc:
            raise _refusal(name, str(exc), code="url_not_allowed") from None
        _check_paper_root(name, url, exchange=exchange, transport=transport)


def _check_paper_root(name: str, url: str, *, exchange: str, transport: Transport) -> None:
    """A URL on the paper exchange must be this exchange's root there: its host serves all
    six, and /okx under a pionex connection would answer pionex requests with OKX's API."""
    if url_endpoint(url) != url_endpoint(settings.PAPER_EXCHANGE_URL):
        return
    own = paper_base_url(exchange) if transport == "rest" else paper_ws_url(exchange)
    if url.rstrip("/") != own:
        raise _refusal(
            name, f"on the paper exchange, {exchange}'s root is {own}", code="url_not_allowed"
        )


@sensitive_variables()
def _set_credentials(
    connection: ExchangeConnection, *, api_key: str, api_secret: str, passphrase: str
) -> None:
    connection.api_key_encrypted = crypto.encrypt(api_key)
    connection.api_secret_encrypted = crypto.encrypt(api_secret)
    connection.passphrase_encrypted = crypto.encrypt(passphrase)
    connection.api_key_last4 = api_key[-4:]


@sensitive_variables()
def _provision_paper(connection: ExchangeConnection) -> None:
    """Generate credentials and upsert the paper account before anything is saved."""
    credentials = paper_credentials_generate(exchange=connection.exchange)
    paper_account_upsert(exchange=connection.exchange, credentials=credentials)
    _set_credentials(
        connection,
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        passphrase=credentials.passphrase,
    )


@sensitive_variables()
def paper_account_resync(*, connection: ExchangeConnection) -> None:
    """Upsert a paper connection's account again (after the paper exchange lost it)."""
    credentials = connection_credentials(connection=connection)
    paper_account_upsert(
        exchange=connection.exchange,
        credentials=PaperCredentials(
            api_key=credentials["api_key"],
            api_secret=credentials["api_secret"],
            passphrase=credentials["passphrase"],
        ),
    )


class PlainCredentials(dict[str, str]):
    """Decrypted credentials: a dict whose repr (in a log line, a traceback, a debugger)
    shows the key's last 4 characters and nothing of the secret or passphrase."""

    def __repr__(self) -> str:
        return f"PlainCredentials(api_key='…{self.get('api_key', '')[-4:]}')"

    __str__ = __repr__


@sensitive_variables()
def connection_credentials(*, connection: ExchangeConnection) -> PlainCredentials:
    """Decrypted credentials, for building a connector only. Never log or return them."""
    return PlainCredentials(
        api_key=crypto.decrypt(connection.api_key_encrypted),
        api_secret=crypto.decrypt(connection.api_secret_encrypted),
        passphrase=crypto.decrypt(connection.passphrase_encrypted),
    )


def _check_volume_factors(*, live: Decimal | None, preset: Decimal | None) -> None:
    for name, factor in zip(STATE_FIELDS, (live, preset), strict=True):
        if factor is not None and not (Decimal("0") < Decimal(factor) <= Decimal("100")):
            raise _field_error(name, "must be greater than 0 and at most 100")


@sensitive_variables()
def connection_validate_new(*, spec: ConnectionSpec) -> None:
    """Every rule a new connection must meet, without writing (the admin form uses it)."""
    _check_capabilities(
        exchange=spec.exchange, api_type=spec.api_type, environment=spec.environment
    )
    _check_urls(
        exchange=spec.exchange,
        environment=spec.environment,
        base_url=spec.base_url,
        ws_url=spec.ws_url,
    )
    _check_credentials(
        exchange=spec.exchange,
        environment=spec.environment,
        api_key=spec.api_key,
        api_secret=spec.api_secret,
        passphrase=spec.passphrase,
        creating=True,
    )
    _check_volume_factors(live=spec.volume_factor_live, preset=spec.volume_factor_preset)


@sensitive_variables()
def connection_create(
    *, owner: User, actor: User | None, spec: ConnectionSpec
) -> ExchangeConnection:
    connection_validate_new(spec=spec)
    connection = ExchangeConnection(
        owner=owner, exchange=spec.exchange, **{name: getattr(spec, name) for name in PLAIN_FIELDS}
    )
    if spec.environment == "paper":
        _provision_paper(connection)
    else:
        _set_credentials(
            connection, api_key=spec.api_key, api_secret=spec.api_secret, passphrase=spec.passphrase
        )
    with transaction.atomic():
        connection.save()
        ConnectionState.objects.create(
            connection=connection,
            volume_factor_live=spec.volume_factor_live,
            volume_factor_preset=spec.volume_factor_preset,
        )
        sync_log_write(
            connection_id=connection.pk,
            action="created",
            actor=actor_name(actor),
            data=_audit(
                connection,
                actor,
                {
                    "fields": spec.named_fields(),
                    "exchange": spec.exchange,
                    "api_type": spec.api_type,
                    "environment": spec.environment,
                },
            ),
        )
    return connection


@sensitive_variables()
def connection_update(
    *, connection: ExchangeConnection, actor: User | None, changes: ConnectionChanges
) -> ExchangeConnection:
    """Apply what differs from the stored row and only that: a form that sends every field
    again (the admin's) changes, resets and logs nothing it did not change. The circuit
    and health are reset only when the key or the environment really changed."""
    if changes.dead_man_seconds is not UNSET:
        # the window is checked and armed or disarmed at the exchange: not a plain field
        raise TypeError("dead_man_seconds is set by connection_update_with_dead_man")
    values = _changed_values(connection, changes.given())
    if not values:
        return connection
    _refuse_identity_change_in_flight(connection, values)
    api_type = values.get("api_type", connection.api_type)
    environment = values.get("environment", connection.environment)
    _check_capabilities(exchange=connection.exchange, api_type=api_type, environment=environment)
    if {"base_url", "ws_url", "environment"} & set(values):
        # the URLs as they will be stored, against the environment they will serve (a
        # stored URL is only re-judged when it or the environment changes, so an old row
        # can still be renamed or disabled; the request-time check guards it meanwhile)
        _check_urls(
            exchange=connection.exchange,
            environment=environment,
            base_url=values.get("base_url", connection.base_url),
            ws_url=values.get("ws_url", connection.ws_url),
        )
    _check_volume_factors(
        live=values.get("volume_factor_live"), preset=values.get("volume_factor_preset")
    )
    leaving_paper = connection.environment == "paper" and environment != "paper"
    entering_paper = connection.environment != "paper" and environment == "paper"
    _check_credentials(
        exchange=connection.exchange,
        environment=environment,
        api_key=values.get("api_key", ""),
        api_secret=values.get("api_secret", ""),
        passphrase=values.get("passphrase", ""),
        creating=leaving_paper,
    )
    for name in PLAIN_FIELDS:
        if name in values:
            setattr(connection, name, values[name])
    secrets_changed = [name for name in SECRET_FIELDS if name in values]
    if entering_paper:
        _provision_paper(connection)
    elif secrets_changed:
        current = connection_credentials(connection=connection)
        current.update({name: values[name] for name in secrets_changed})
        if capability(connection.exchange).needs_passphrase and not current["passphrase"]:
            raise _refusal(
                "passphrase",
                f"{connection.exchange} API keys need a passphrase",
                code="credentials_required",
            )
        _set_credentials(connection, **current)
    with transaction.atomic():
        if set(values) - set(STATE_FIELDS) or entering_paper:
            connection.save()
        state_values = {name: values[name] for name in STATE_FIELDS if name in values}
        if secrets_changed or "environment" in values:
            state_values.update(
                health_status="unknown", circuit="closed", consecutive_failures=0, opened_at=None
            )
        if state_values:
            ConnectionState.objects.filter(connection=connection).update(**state_values)
        sync_log_write(
            connection_id=connection.pk,
            action="updated",
            actor=actor_name(actor),
            data=_audit(connection, actor, {"fields": sorted(values)}),
        )
    connection.refresh_from_db()
    return connection


@sensitive_variables()
def _changed_values(connection: ExchangeConnection, given: dict[str, Any]) -> dict[str, Any]:
    """The given values that differ from what is stored (secrets against their decrypted
    values; volume factors against the state row)."""
    stored: dict[str, Any] = {name: getattr(connection, name) for name in PLAIN_FIELDS}
    if set(SECRET_FIELDS) & set(given):
        stored.update(connection_credentials(connection=connection))
    if set(STATE_FIELDS) & set(given):
        state = ConnectionState.objects.filter(connection=connection).first()
        stored.update({name: getattr(state, name) if state else None for name in STATE_FIELDS})
    return {
        name: value
        for name, value in given.items()
        if name not in stored or not _same(stored[name], value)
    }


def _same(stored: Any, value: Any) -> bool:
    if isinstance(stored, Decimal) or isinstance(value, Decimal):
        return stored is not None and value is not None and Decimal(stored) == Decimal(value)
    return bool(stored == value)


def _refuse_identity_change_in_flight(
    connection: ExchangeConnection, values: dict[str, Any]
) -> None:
    changing = [
        name
        for name in TRADING_IDENTITY_FIELDS
        if name in values and (name in SECRET_FIELDS or values[name] != getattr(connection, name))
    ]
    if changing and any(check(connection) for check in IN_FLIGHT_ORDER_CHECKS):
        raise Conflict(
            "this connection has orders that are not settled; wait for them or "
            "cancel them before changing "
            + ", ".join(IDENTITY_FIELD_WORDS[name] for name in changing),
            code="connection_has_open_orders",
        )


def connection_delete(*, connection: ExchangeConnection, actor: User | None) -> None:
    connection_id = connection.pk
    try:
        with transaction.atomic():
            connection.delete()
            sync_log_write(
                connection_id=connection_id,
                action="deleted",
                actor=actor_name(actor),
                data=_audit(
                    connection, actor, {"name": connection.name, "exchange": connection.exchange}
                ),
            )
    except ProtectedError:
        raise Conflict(
            "this connection has orders; disable it instead", code="connection_has_orders"
        ) from None


def connection_activate(
    *, connection: ExchangeConnection, actor: User | None
) -> ExchangeConnection:
    """Make this the owner's one active connection, in one transaction.

    The owner's user row is locked first, so concurrent activations for one owner queue up
    instead of racing on the partial unique index.
    """
    if not connection.enabled:
        raise Conflict(
            "a disabled connection cannot be activated; enable it first", code="connection_disabled"
        )
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user_model.objects.select_for_update().filter(pk=connection.owner_id).first()
            previous = list(
                ExchangeConnection.objects.filter(owner_id=connection.owner_id, is_active=True)
                .exclude(pk=connection.pk)
                .values_list("pk", flat=True)
            )
            ExchangeConnection.objects.filter(pk__in=previous).update(is_active=False)
            # the stale sweep's grace starts now, not at creation (connections.health)
            ExchangeConnection.objects.filter(pk=connection.pk).update(
                is_active=True, activated_at=timezone.now()
            )
            sync_log_write(
                connection_id=connection.pk,
                action="activated",
                actor=actor_name(actor),
                data=_audit(connection, actor, {"deactivated": [str(pk) for pk in previous]}),
            )
    except IntegrityError:
        raise Conflict("another activation for this owner won; try again") from None
    connection.refresh_from_db()
    return connection


@sensitive_variables()
def connection_credentials_rotate() -> int:
    """Re-encrypt every connection's credentials under the newest key; returns the count."""
    count = 0
    for pk in ExchangeConnection.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            connection = ExchangeConnection.objects.select_for_update().get(pk=pk)
            ExchangeConnection.objects.filter(pk=pk).update(
                api_key_encrypted=crypto.rotate(connection.api_key_encrypted),
                api_secret_encrypted=crypto.rotate(connection.api_secret_encrypted),
                passphrase_encrypted=crypto.rotate(connection.passphrase_encrypted),
            )
            sync_log_write(connection_id=pk, action="credentials_rotated", actor="system")
        count += 1
    return count


@sensitive_variables()
def connection_connector(
    *, connection: ExchangeConnection, throttle: Throttle | None = None, max_wait: float = 1.0
) -> Connector:
    """The one place a connection becomes a ready connector: decrypted credentials, the
    environment, its URLs (paper ones derived from PAPER_EXCHANGE_URL), the cluster-wide
    limiter as its throttle (unless another is given), and the check of resolved addresses
    its transport makes before connecting."""
    credentials = connection_credentials(connection=connection)
    key = Credentials(credentials["api_key"], credentials["api_secret"], credentials["passphrase"])
    if throttle is None:
        throttle = connection_throttle(
            exchange=connection.exchange,
            connection_id=connection.pk,
            key_id=key.key_id,
            max_wait=max_wait,
        )
    base_url, ws_url = connection.base_url or None, connection.ws_url or None
    if connection.environment == "paper":
        base_url = base_url or paper_base_url(connection.exchange)
        ws_url = ws_url or paper_ws_url(connection.exchange)
    connector = connector_class(connection.exchange)(
        credentials=key,
        api_type=connection.api_type,
        environment=connection.environment,
        base_url=base_url,
        ws_url=ws_url,
        throttle=throttle,
        timeout=settings.EXCHANGE_TIMEOUT_SECONDS,
        destination_guard=partial(vet_addresses, allowlist=destination_allowlist()),
    )
    connector.connection_id = str(connection.pk)  # the call log's and metrics' connection
    return connector


def exchange_rate_limits_refresh() -> dict[str, int]:
    """Read Binance's rateLimits (both products) from BINANCE_RATE_LIMITS_SOURCE and share
    them with every process, replacing the defaults; {product: rules read}. A product that
    cannot be read keeps its last figures (or the defaults)."""
    source = settings.BINANCE_RATE_LIMITS_SOURCE
    if source == "off":
        return {}
    rules: dict[str, list[Any]] = {}
    for product, api_type in (("spot", "spot"), ("linear", "perpetual_futures")):
        connector = _public_binance_connector(api_type=api_type, paper=source == "paper")
        try:
            rules[product] = connector.rate_limit_rules(product)
        except errors.ExchangeError:
            continue
    read = {product: found for product, found in rules.items() if found}
    if read:
        run_time_limits_store(read)
    return {product: len(found) for product, found in read.items()}


def _public_binance_connector(*, api_type: str, paper: bool) -> binance.BinanceConnector:
    return binance.BinanceConnector(
        credentials=Credentials("", ""),
        api_type=api_type,
        environment="live",
        base_url=paper_base_url(binance.NAME) if paper else None,
        throttle=connection_throttle(exchange=binance.NAME, connection_id="", key_id=""),
        timeout=settings.EXCHANGE_TIMEOUT_SECONDS,
        destination_guard=partial(vet_addresses, allowlist=destination_allowlist()),
    )
