"""The operators' console. Every write goes through connections.services, with the staff
member as the actor: the sync log names them, and the owner too when they act for another
owner (``for_owner``). Secrets are set through password fields and never displayed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from connections import batches, dead_man, health, services, trading
from connections.models import (
    ConnectionState,
    ConnectionSyncLog,
    ExchangeConnection,
    HealthCheck,
    LedgerBalance,
    LedgerPosition,
    StreamState,
)
from core.admin_display import decimal_column, readonly_columns
from core.errors import ServiceError
from core.users import caller

SECRET_FIELDS = ("api_key", "api_secret", "passphrase")
RISK_LIMITS = ("max_order_notional", "max_open_orders", "price_band_percent")
EDITABLE = (
    "owner",
    "name",
    "exchange",
    "api_type",
    "environment",
    "base_url",
    "ws_url",
    "enabled",
    *RISK_LIMITS,
)


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored value.",
    )


class ConnectionAdminForm(forms.ModelForm):
    api_key = _secret_field("API key")
    api_secret = _secret_field("API secret")
    passphrase = _secret_field("Passphrase")
    volume_factor_live = forms.DecimalField(max_digits=12, decimal_places=6, required=False)
    volume_factor_preset = forms.DecimalField(max_digits=12, decimal_places=6, required=False)
    dead_man_seconds = forms.IntegerField(
        label="Dead-man switch (seconds)",
        required=False,
        min_value=1,
        help_text="Blank: off. The exchange's range applies (docs/dead-man-switch.md); the "
        "live session arms and refreshes it.",
    )
    # the risk limits within the API's bounds (blank: no limit, no band)
    max_order_notional = forms.DecimalField(
        max_digits=24,
        decimal_places=8,
        required=False,
        min_value=Decimal("0.00000001"),
        help_text="Largest order value in the quote currency. Blank: no limit.",
    )
    max_open_orders = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100000,
        help_text="Most orders open at once on this connection. Blank: no limit.",
    )
    price_band_percent = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        help_text="A limit price must lie within this percentage of the ticker. Blank: no band.",
    )

    class Meta:
        model = ExchangeConnection
        fields = (*EDITABLE, "dead_man_seconds")

    @sensitive_variables()
    def _service_values(self) -> dict[str, Any]:
        """Cleaned data by domain name: blank secrets and factors mean 'keep' (or, for a
        new connection, the defaults)."""
        values = {
            name: self.cleaned_data[name]
            for name in EDITABLE
            if name in self.cleaned_data and name not in ("owner", "exchange")
        }
        for name in (*SECRET_FIELDS, "volume_factor_live", "volume_factor_preset"):
            if self.cleaned_data.get(name) not in (None, ""):
                values[name] = self.cleaned_data[name]
        return values

    def service_spec(self) -> services.ConnectionSpec:
        """A new connection, as connection_create takes it."""
        return services.ConnectionSpec(
            exchange=self.cleaned_data["exchange"], **self._service_values()
        )

    def service_changes(self) -> services.ConnectionChanges:
        """Every editable field, as connection_update_with_dead_man takes them (the
        exchange is fixed: ``clean`` refuses a change of it); a blank window turns the
        switch off."""
        return services.ConnectionChanges(
            **self._service_values(), dead_man_seconds=self.cleaned_data.get("dead_man_seconds")
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            if self.instance._state.adding:
                services.connection_validate_new(spec=self.service_spec())
            elif cleaned.get("exchange") != self.instance.exchange:
                raise forms.ValidationError({"exchange": "the exchange cannot change"})
            dead_man.dead_man_check(
                exchange=cleaned.get("exchange", ""),
                api_type=cleaned.get("api_type", ""),
                seconds=cleaned.get("dead_man_seconds"),
            )
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


class ConnectionStateInline(admin.StackedInline):
    model = ConnectionState
    can_delete = False
    extra = 0
    readonly_fields = (
        "health_status",
        "circuit",
        "consecutive_failures",
        "opened_at",
        "last_check_at",
        "last_latency_ms",
        "last_heartbeat_at",
        "last_sync_at",
        "total_requests",
        "successful_requests",
        "failed_requests",
        "last_error_code",
        "last_error",
        "volume_factor_live",
        "volume_factor_preset",
        "test_results",
        "dead_man_armed_until",
        "dead_man_armed_seconds",
        "dead_man_symbols",
        "dead_man_refreshed_at",
        "dead_man_error",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExchangeConnection)
class ExchangeConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = (
        "name",
        "owner",
        "exchange",
        "api_type",
        "environment",
        "enabled",
        "is_active",
        "trading_state",
        "health_status",
        "circuit",
        "key_warning",
        "masked_api_key",
        "updated_at",
    )
    list_filter = (
        "exchange",
        "api_type",
        "environment",
        "trading_state",
        "state__health_status",
        "state__circuit",
        "is_active",
        "enabled",
    )
    search_fields = ("name", "owner__username", "api_key_last4", "id")
    list_select_related = ("owner", "state")
    readonly_fields = (
        "id",
        "key_warning",
        "masked_api_key",
        "is_active",
        "trading_state",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("owner",)
    inlines = (ConnectionStateInline,)
    actions = (
        "test_selected",
        "activate_selected",
        "enable_selected",
        "disable_selected",
        "reset_circuit_selected",
        "halt_selected",
        "halt_and_cancel_selected",
        "reduce_only_selected",
        "resume_selected",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "key_warning",
                    "owner",
                    "name",
                    "exchange",
                    "api_type",
                    "environment",
                    "enabled",
                    "is_active",
                    "trading_state",
                )
            },
        ),
        (
            "Risk limits",
            {
                "fields": RISK_LIMITS,
                "description": "Checked before an order is sent; blank means none. "
                "The trading state is set with the actions of the "
                "list (halt, reduce-only, resume).",
            },
        ),
        ("Endpoints", {"fields": ("base_url", "ws_url")}),
        ("Credentials", {"fields": ("masked_api_key", "api_key", "api_secret", "passphrase")}),
        ("Volume factors", {"fields": ("volume_factor_live", "volume_factor_preset")}),
        ("Dead-man switch", {"fields": ("dead_man_seconds",)}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        """The owner is chosen once, on creation (the services never move a connection)."""
        return (*self.readonly_fields, "owner") if obj is not None else self.readonly_fields

    @admin.display(description="health", ordering="state__health_status")
    def health_status(self, obj: ExchangeConnection) -> str:
        return obj.state.health_status if hasattr(obj, "state") else "unknown"

    @admin.display(description="circuit", ordering="state__circuit")
    def circuit(self, obj: ExchangeConnection) -> str:
        return obj.state.circuit if hasattr(obj, "state") else "closed"

    @admin.display(description="key")
    def key_warning(self, obj: ExchangeConnection) -> str:
        """Red when the last test found a key that can withdraw: it should not."""
        result = obj.state.test_results if hasattr(obj, "state") else {}
        if "withdraw_enabled" in (result or {}).get("warnings", ()):
            return format_html(
                '<strong class="key-withdraw" style="color:#ba2121">{}</strong>',
                "⚠ withdraw enabled",
            )
        return "—"

    @admin.display(description="API key")
    def masked_api_key(self, obj: ExchangeConnection) -> str:
        return f"••••{obj.api_key_last4}" if obj.api_key_last4 else "—"

    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    @method_decorator(sensitive_variables())
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A refusal from the services (rules, paper exchange down) becomes a message on
        the same form; the surrounding transaction has rolled back."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(
        self, request: HttpRequest, obj: ExchangeConnection, form: ConnectionAdminForm, change: bool
    ) -> None:
        if change:
            # the form already wrote its values onto obj; the service compares with the stored row
            stored = ExchangeConnection.objects.get(pk=obj.pk)
            dead_man.connection_update_with_dead_man(
                connection=stored, actor=caller(request), changes=form.service_changes()
            )
            return
        created = services.connection_create(
            owner=form.cleaned_data["owner"], actor=caller(request), spec=form.service_spec()
        )
        if form.cleaned_data.get("dead_man_seconds") is not None:
            dead_man.connection_dead_man_set(
                connection=created,
                actor=caller(request),
                seconds=form.cleaned_data["dead_man_seconds"],
            )
        obj.pk = created.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: ExchangeConnection) -> None:
        try:
            services.connection_delete(connection=obj, actor=caller(request))
        except ServiceError as exc:
            self.message_user(request, f"Not deleted: {exc.message}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for connection in queryset:
            self.delete_model(request, connection)

    # -- actions: each calls a service, says what it did, and shows a refusal as a message

    def _each(self, request: HttpRequest, queryset: QuerySet, verb: str, call: Any) -> list[str]:
        """Run ``call(connection)`` for each selected connection; refusals become error
        messages. Returns the names of those it succeeded for (call returned truthy)."""
        done: list[str] = []
        unchanged: list[str] = []
        for connection in queryset:
            try:
                (done if call(connection) is not False else unchanged).append(connection.name)
            except ServiceError as exc:
                self.message_user(
                    request, f"{connection.name}: not {verb}: {exc.message}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{verb.capitalize()}: {', '.join(done)}.", messages.SUCCESS)
        if unchanged:
            self.message_user(
                request, f"Already so, unchanged: {', '.join(unchanged)}.", messages.INFO
            )
        return done

    @admin.action(description="Test the selected connections (a batch test)")
    def test_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        try:
            batch_id = batches.batch_create(
                user=caller(request), connection_ids=ids, any_owner=True
            )
        except ServiceError as exc:
            self.message_user(request, f"Not tested: {exc.message}", messages.ERROR)
            return
        url = reverse("connection-batch-status", kwargs={"batch_id": batch_id})
        self.message_user(
            request,
            format_html(
                'Testing {} connection(s) in batch {}: <a href="{}">its results</a> '
                "(the health checks list shows them too).",
                len(ids),
                batch_id,
                url,
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Activate (exactly one: its owner's active connection)")
    def activate_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(
                request,
                "Select exactly one connection to activate: an owner "
                "has one active connection. Nothing was changed.",
                messages.ERROR,
            )
            return
        connection = selected[0]
        try:
            services.connection_activate(connection=connection, actor=caller(request))
        except ServiceError as exc:
            self.message_user(
                request, f"{connection.name}: not activated: {exc.message}", messages.ERROR
            )
            return
        self.message_user(
            request,
            f"{connection.name} is now the active connection of {connection.owner.get_username()}.",
            messages.SUCCESS,
        )

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> None:
        def change(connection: ExchangeConnection) -> bool:
            if connection.enabled == enabled:
                return False
            services.connection_update(
                connection=connection,
                actor=caller(request),
                changes=services.ConnectionChanges(enabled=enabled),
            )
            return True

        self._each(request, queryset, "enabled" if enabled else "disabled", change)

    @admin.action(description="Enable the selected connections")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable the selected connections")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Reset the circuit (close it) of the selected connections")
    def reset_circuit_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "circuit reset",
            lambda connection: health.connection_circuit_reset(
                connection=connection, actor=caller(request)
            ),
        )

    def _trade(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        state: str,
        verb: str,
        *,
        cancel: bool = False,
    ) -> None:
        canceled = 0

        def change(connection: ExchangeConnection) -> bool:
            nonlocal canceled
            result = trading.connection_trading_state_set(
                connection=connection, state=state, actor=caller(request), cancel_open_orders=cancel
            )
            canceled += result.canceled_orders
            return True

        if self._each(request, queryset, verb, change) and cancel:
            self.message_user(
                request, f"{canceled} open order(s) canceled or asked to cancel.", messages.SUCCESS
            )

    @admin.action(description="Halt: send no new orders")
    def halt_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._trade(request, queryset, "halted", "halted")

    @admin.action(description="Halt and cancel open orders")
    def halt_and_cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._trade(request, queryset, "halted", "halted", cancel=True)

    @admin.action(description="Reduce-only: accept only orders that reduce a position")
    def reduce_only_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._trade(request, queryset, "reduce_only", "set to reduce-only")

    @admin.action(description="Resume trading (active)")
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._trade(request, queryset, "active", "resumed")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A page to read: no Save buttons, every field shown (decimals plainly)."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(self.model)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(self.model)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConnectionSyncLog)
class ConnectionSyncLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "connection_id", "actor")
    list_filter = ("action",)
    search_fields = ("connection_id", "actor")
    date_hierarchy = "created_at"


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "connection", "kind", "ok", "latency_ms", "error_code")
    list_filter = ("ok", "kind", "connection__exchange")
    list_select_related = ("connection",)
    search_fields = ("connection__name", "error_code")


@admin.register(StreamState)
class StreamStateAdmin(ReadOnlyAdmin):
    list_display = (
        "connection",
        "state",
        "since",
        "reconnects",
        "last_message_at",
        "holder",
        "snapshot_at",
        "last_error",
    )
    list_filter = ("state", "connection__exchange")
    list_select_related = ("connection",)
    search_fields = ("connection__name", "holder")


@admin.register(LedgerBalance)
class LedgerBalanceAdmin(ReadOnlyAdmin):
    list_display = (
        "connection",
        "asset",
        decimal_column("free"),
        decimal_column("locked"),
        decimal_column("total"),
        "updated_at",
        "source",
    )
    list_filter = ("source", "connection__exchange")
    list_select_related = ("connection",)
    search_fields = ("connection__name", "asset")


@admin.register(LedgerPosition)
class LedgerPositionAdmin(ReadOnlyAdmin):
    list_display = (
        "connection",
        "symbol",
        "position_side",
        decimal_column("quantity"),
        decimal_column("entry_price"),
        decimal_column("leverage"),
        decimal_column("unrealized_pnl"),
        "updated_at",
        "source",
    )
    list_filter = ("source", "connection__exchange")
    list_select_related = ("connection",)
    search_fields = ("connection__name", "symbol")


admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ApiTokenAdmin(TokenAdmin):
    """API tokens by user: revoke one by deleting it. The key itself is a password and is
    never shown (DRF's own admin lists it); the last 4 characters tell tokens apart."""

    list_display = ("user", "masked_key", "created")
    readonly_fields = ("masked_key", "created")
    fields = ("user", "masked_key", "created")

    @admin.display(description="key")
    def masked_key(self, obj: TokenProxy) -> str:
        return f"••••{obj.key[-4:]}" if obj.key else "—"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
