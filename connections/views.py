"""Thin views: parse input, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, logout
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import account, auth, batches, dead_man, health, selectors, services, trading
from connections.models import ExchangeConnection
from connections.serializers import (
    SECRET_INPUTS,
    BalancesOut,
    BatchOut,
    BatchTestIn,
    ConnectionEnvelope,
    ConnectionFilters,
    ConnectionListOut,
    ConnectionOut,
    ConnectionUpdate,
    ConnectionWrite,
    ExchangeOrderOut,
    HealthListOut,
    PositionsOut,
    SystemStatusOut,
    TestEnvelope,
    TokenIn,
    TokenOut,
    TradingStateIn,
)
from core.errors import NotAuthenticated
from core.fields import UUID_PATTERN
from core.schema import (
    BODY,
    EXCHANGE,
    FOUND,
    QUERY,
    WRITE,
    ConstantBooleanField,
    SuccessOut,
    api_operation,
)
from core.users import caller

BATCH_SYNC_WAIT_SECONDS = 30

CONNECTION_ID = OpenApiParameter(
    "id",
    OpenApiTypes.UUID,
    location=OpenApiParameter.PATH,
    pattern=UUID_PATTERN,
    description="A connection's id.",
)
BATCH_ID = OpenApiParameter(
    "batch_id",
    str,
    location=OpenApiParameter.PATH,
    pattern="^[0-9a-f]{32}$",
    description="The batchId a batch test answered.",
)
# what a new or changed connection can be refused for, beyond its shape: the exchange does
# not offer the apiType or environment, a URL's host is not allowed, credentials missing
# (or given for paper, which makes its own); paper connections need the paper exchange
CONNECTION_RULES = {
    422: [
        "api_type_not_supported",
        "environment_not_supported",
        "url_not_allowed",
        "credentials_required",
        "credentials_not_allowed",
    ],
    503: ["paper_exchange_unavailable"],
}
# what an exchange read can be refused for besides EXCHANGE: not offered by the exchange
# (422 not_supported), or the exchange's own refusal (502)
EXCHANGE_REFUSALS = {422: ["not_supported"], 502: ["exchange_error"]}


def _envelope(name: str, key: str, serializer: serializers.Serializer) -> serializers.Serializer:
    return inline_serializer(name, {"success": ConstantBooleanField(True), key: serializer})


@method_decorator(sensitive_post_parameters(*SECRET_INPUTS), name="dispatch")
class ConnectionViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Owners read and write their connections. Staff read every owner's, but every write
    (PATCH, DELETE, activate, test, batch-test, trading-state) takes only their own: another owner's
    connection is a 403 permission_denied there (``_owned_object``), since staff can see
    it; acting for an owner happens in the admin, audited in the sync log."""

    serializer_class = ConnectionOut
    queryset = ExchangeConnection.objects.none()
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.connections_visible_to(self.request.user)

    def get_object(self) -> ExchangeConnection:
        return selectors.connection_get(user=caller(self.request), connection_id=self.kwargs["pk"])

    def _owned_object(self) -> ExchangeConnection:
        return selectors.connection_get_for_write(
            user=caller(self.request), connection_id=self.kwargs["pk"]
        )

    def _render(self, connection: ExchangeConnection, *, code: int = 200) -> Response:
        return Response(
            {"success": True, "connection": ConnectionOut(connection).data}, status=code
        )

    @api_operation(ok={200: ConnectionListOut}, errors=[QUERY], parameters=[ConnectionFilters])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = ConnectionFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        connections = list(selectors.connection_list(user=caller(request), filters=values))
        return Response(
            {
                "success": True,
                "count": len(connections),
                "filters": {
                    name: values.get(field.source) for name, field in filters.fields.items()
                },
                "connections": ConnectionOut(connections, many=True).data,
            }
        )

    @api_operation(
        request=ConnectionWrite,
        ok={201: ConnectionEnvelope},
        errors=[BODY, WRITE, CONNECTION_RULES],
    )
    @sensitive_variables()
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ConnectionWrite(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = services.connection_create(
            owner=caller(request), actor=caller(request), spec=payload.spec()
        )
        return self._render(connection, code=status.HTTP_201_CREATED)

    @api_operation(ok={200: ConnectionEnvelope}, errors=[FOUND], parameters=[CONNECTION_ID])
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._render(self.get_object())

    @api_operation(
        request=ConnectionUpdate,
        ok={200: ConnectionEnvelope},
        errors=[
            BODY,
            WRITE,
            FOUND,
            CONNECTION_RULES,
            {
                409: ["connection_has_open_orders"],
                422: ["dead_man_window_out_of_range", "dead_man_not_supported"],
            },
        ],
        parameters=[CONNECTION_ID],
    )
    @sensitive_variables()
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self._owned_object()
        payload = ConnectionUpdate(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        connection = dead_man.connection_update_with_dead_man(
            connection=connection, actor=caller(request), changes=payload.changes()
        )
        return self._render(connection)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @api_operation(
        ok={200: SuccessOut},
        errors=[WRITE, FOUND, {409: ["connection_has_orders"]}],
        parameters=[CONNECTION_ID],
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.connection_delete(connection=self._owned_object(), actor=caller(request))
        return Response({"success": True})

    @api_operation(
        request=None,
        ok={200: ConnectionEnvelope},
        errors=[WRITE, FOUND, {409: ["connection_disabled", "conflict"]}],
        parameters=[CONNECTION_ID],
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        connection = services.connection_activate(
            connection=self._owned_object(), actor=caller(request)
        )
        return self._render(connection)

    @api_operation(
        request=TradingStateIn,
        ok={200: ConnectionEnvelope},
        errors=[BODY, WRITE, FOUND, {422: ["cancel_needs_halt"]}],
        parameters=[CONNECTION_ID],
        description="Set what the connection may send: active, reduce_only (only "
        "orders that reduce a position) or halted (nothing new is "
        "sent; cancelOpenOrders cancels its open orders too). Orders "
        "are refused with 422 trading_halted or "
        "reduce_only; cancels are always allowed. Every "
        "change is in the sync log with its actor.",
    )
    @action(detail=True, methods=["post"], url_path="trading-state")
    def trading_state(self, request: Request, pk: str | None = None) -> Response:
        connection = self._owned_object()
        payload = TradingStateIn(data=request.data)
        payload.is_valid(raise_exception=True)
        change = trading.connection_trading_state_set(
            connection=connection, actor=caller(request), **payload.validated_data
        )
        return self._render(change.connection)

    @api_operation(
        request=None,
        ok={200: TestEnvelope},
        errors=[WRITE, FOUND, {409: ["circuit_open"], 429: ["throttled"]}],
        parameters=[CONNECTION_ID],
        description="Always a fresh test, run now, recorded in the health history. "
        "A failed test is a 200 whose result says why; our own rate "
        "budget for the exchange being spent is a 429 with Retry-After.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        result = health.connection_check(connection=self._owned_object(), kind="test")
        return Response(TestEnvelope({"result": result}).data)

    @api_operation(
        ok={200: BalancesOut},
        errors=[FOUND, EXCHANGE, EXCHANGE_REFUSALS],
        parameters=[CONNECTION_ID],
        description="From the ledger while the connection's stream is live "
        "(source ledger), else read from the exchange now.",
    )
    @action(detail=True, methods=["get"])
    def balances(self, request: Request, pk: str | None = None) -> Response:
        read = account.connection_balances(connection=self.get_object())
        return Response(BalancesOut(read).data)

    @api_operation(
        ok={200: PositionsOut},
        errors=[FOUND, EXCHANGE, EXCHANGE_REFUSALS],
        parameters=[CONNECTION_ID],
        description="From the ledger while the connection's stream is live "
        "(source ledger), else read from the exchange now.",
    )
    @action(detail=True, methods=["get"])
    def positions(self, request: Request, pk: str | None = None) -> Response:
        read = account.connection_positions(connection=self.get_object())
        return Response(PositionsOut(read).data)

    @api_operation(
        ok={200: _envelope("OpenOrdersOut", "orders", ExchangeOrderOut(many=True))},
        errors=[FOUND, EXCHANGE, EXCHANGE_REFUSALS],
        parameters=[CONNECTION_ID],
    )
    @action(detail=True, methods=["get"], url_path="open-orders")
    def open_orders(self, request: Request, pk: str | None = None) -> Response:
        orders = health.connection_exchange_call(
            connection=self.get_object(), call=lambda connector: connector.open_orders()
        )
        return Response({"success": True, "orders": ExchangeOrderOut(orders, many=True).data})

    @api_operation(ok={200: HealthListOut})
    @action(detail=False, methods=["get"])
    def health(self, request: Request) -> Response:
        return Response(HealthListOut(selectors.connection_health_list(user=caller(request))).data)

    @api_operation(
        request=BatchTestIn,
        ok={
            200: OpenApiResponse(
                BatchOut, description="Every connection tested (status completed)."
            ),
            202: OpenApiResponse(
                BatchOut,
                description="Still running after 30 s, or async "
                "asked for: poll batch-test/{batchId}.",
            ),
        },
        errors=[BODY, WRITE, FOUND],
    )
    @action(detail=False, methods=["post"], url_path="batch-test")
    def batch_test(self, request: Request) -> Response:
        """Waits up to 30 s for the results, then answers 202 with the batch id. An id that
        is not one of your connections is a 404 naming it."""
        payload = BatchTestIn(data=request.data)
        payload.is_valid(raise_exception=True)
        batch_id = batches.batch_create(
            user=caller(request), connection_ids=payload.validated_data["connection_ids"]
        )
        if payload.validated_data["async"]:
            status_ = selectors.batch_status(user=caller(request), batch_id=batch_id)
        else:
            status_ = selectors.batch_wait(
                user=caller(request), batch_id=batch_id, timeout=BATCH_SYNC_WAIT_SECONDS
            )
        code = 200 if status_.finished else 202
        return Response(BatchOut(status_).data, status=code)

    @api_operation(ok={200: BatchOut}, errors=[FOUND], parameters=[BATCH_ID])
    @action(detail=False, methods=["get"], url_path=r"batch-test/(?P<batch_id>[^/]+)")
    def batch_status(self, request: Request, batch_id: str) -> Response:
        status_ = selectors.batch_status(user=caller(request), batch_id=batch_id)
        return Response(BatchOut(status_).data)


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class TokenView(APIView):
    """POST {username, password} -> {success, token}. Throttled per username and per
    client address (429 throttled with Retry-After)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = auth.LOGIN_THROTTLES

    @api_operation(request=TokenIn, ok={200: TokenOut}, errors=[BODY, {429: ["throttled"]}])
    @sensitive_variables()
    def post(self, request: Request) -> Response:
        payload = TokenIn(data=request.data)
        payload.is_valid(raise_exception=True)
        user = authenticate(request=request._request, **payload.validated_data)
        if user is None or not user.is_active:
            raise NotAuthenticated("unable to log in with these credentials")
        return Response({"success": True, "token": auth.token_issue(user=user).key})


class LogoutView(APIView):
    """POST: the caller's token is revoked (every client using it must log in again); a
    session login ends too. 401 without authentication."""

    @api_operation(request=None, ok={200: SuccessOut}, errors=[WRITE])
    def post(self, request: Request) -> Response:
        auth.token_revoke(user=caller(request))
        if request.auth is None:  # authenticated by session, not by token
            logout(request._request)
        return Response({"success": True})


class SystemStatusView(APIView):
    """Totals for the caller (staff: everyone), the capability matrix, health figures."""

    @api_operation(ok={200: SystemStatusOut})
    def get(self, request: Request) -> Response:
        return Response(SystemStatusOut(selectors.system_status(user=caller(request))).data)
