"""Thin views: parse input, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, logout
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import auth, batches, health, selectors, services
from connections.errors import NotAuthenticated
from connections.models import ExchangeConnection
from connections.serializers import (
    BalanceOut,
    BatchOut,
    BatchTestIn,
    ConnectionEnvelope,
    ConnectionFilters,
    ConnectionListOut,
    ConnectionOut,
    ConnectionWrite,
    ExchangeOrderOut,
    HealthListOut,
    PositionOut,
    SuccessOut,
    TestEnvelope,
    TokenIn,
    TokenOut,
)

BATCH_SYNC_WAIT_SECONDS = 30
# request fields that carry secrets: masked in Django's error reports (POST parameters)
SECRET_PARAMETERS = ("apiKey", "apiSecret", "passphrase")

FILTER_PARAMS = [
    OpenApiParameter("exchange", str, required=False),
    OpenApiParameter("apiType", str, required=False),
    OpenApiParameter("environment", str, required=False),
    OpenApiParameter("isActive", bool, required=False),
    OpenApiParameter("enabled", bool, required=False),
]


@method_decorator(sensitive_post_parameters(*SECRET_PARAMETERS), name="dispatch")
class ConnectionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin,
                        mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Owners read and write their connections. Staff read every owner's, but every write
    (PATCH, DELETE, activate, test, batch-test) takes only their own: another owner's
    connection is a 403 permission_denied there (``_owned_object``), since staff can see
    it; acting for an owner happens in the admin, audited in the sync log."""

    serializer_class = ConnectionOut
    queryset = ExchangeConnection.objects.none()
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.connections_visible_to(self.request.user)

    def get_object(self) -> ExchangeConnection:
        return selectors.connection_get(user=self.request.user,
                                        connection_id=self.kwargs["pk"])

    def _owned_object(self) -> ExchangeConnection:
        return selectors.connection_get_for_write(user=self.request.user,
                                                  connection_id=self.kwargs["pk"])

    def _render(self, connection: ExchangeConnection, *, code: int = 200) -> Response:
        return Response({"success": True, "connection": ConnectionOut(connection).data},
                        status=code)

    @extend_schema(parameters=FILTER_PARAMS, responses=ConnectionListOut)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = ConnectionFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        connections = list(selectors.connection_list(user=request.user, filters=values))
        return Response({
            "success": True, "count": len(connections),
            "filters": {name: values.get(field.source)
                        for name, field in filters.fields.items()},
            "connections": ConnectionOut(connections, many=True).data,
        })

    @extend_schema(request=ConnectionWrite, responses={201: ConnectionEnvelope})
    @sensitive_variables()
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ConnectionWrite(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = services.connection_create(owner=request.user, actor=request.user,
                                                values=payload.validated_data)
        return self._render(connection, code=status.HTTP_201_CREATED)

    @extend_schema(responses=ConnectionEnvelope)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._render(self.get_object())

    @extend_schema(request=ConnectionWrite, responses=ConnectionEnvelope)
    @sensitive_variables()
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self._owned_object()
        payload = ConnectionWrite(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        connection = services.connection_update(connection=connection, actor=request.user,
                                                values=payload.validated_data)
        return self._render(connection)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(responses=SuccessOut)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.connection_delete(connection=self._owned_object(), actor=request.user)
        return Response({"success": True})

    @extend_schema(request=None, responses=ConnectionEnvelope)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        connection = services.connection_activate(connection=self._owned_object(),
                                                  actor=request.user)
        return self._render(connection)

    @extend_schema(request=None, responses=TestEnvelope)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Always a fresh test, run now, recorded in the health history."""
        result = health.connection_check(connection=self._owned_object(), kind="test")
        return Response({"success": True, "result": result})

    @extend_schema(responses=inline_serializer("BalancesOut", {
        "success": serializers.BooleanField(), "balances": BalanceOut(many=True)}))
    @action(detail=True, methods=["get"])
    def balances(self, request: Request, pk: str | None = None) -> Response:
        balances = health.connection_exchange_call(
            connection=self.get_object(), call=lambda connector: connector.balances())
        return Response({"success": True, "balances": BalanceOut(balances, many=True).data})

    @extend_schema(responses=inline_serializer("PositionsOut", {
        "success": serializers.BooleanField(), "positions": PositionOut(many=True)}))
    @action(detail=True, methods=["get"])
    def positions(self, request: Request, pk: str | None = None) -> Response:
        positions = health.connection_exchange_call(
            connection=self.get_object(), call=lambda connector: connector.positions())
        return Response({"success": True, "positions": PositionOut(positions, many=True).data})

    @extend_schema(responses=inline_serializer("OpenOrdersOut", {
        "success": serializers.BooleanField(), "orders": ExchangeOrderOut(many=True)}))
    @action(detail=True, methods=["get"], url_path="open-orders")
    def open_orders(self, request: Request, pk: str | None = None) -> Response:
        orders = health.connection_exchange_call(
            connection=self.get_object(), call=lambda connector: connector.open_orders())
        return Response({"success": True, "orders": ExchangeOrderOut(orders, many=True).data})

    @extend_schema(responses=HealthListOut)
    @action(detail=False, methods=["get"])
    def health(self, request: Request) -> Response:
        return Response({"success": True, **selectors.connection_health_list(user=request.user)})

    @extend_schema(request=BatchTestIn, responses={200: BatchOut, 202: BatchOut})
    @action(detail=False, methods=["post"], url_path="batch-test")
    def batch_test(self, request: Request) -> Response:
        """Waits up to 30 s for the results, then answers 202 with the batch id."""
        payload = BatchTestIn(data=request.data)
        payload.is_valid(raise_exception=True)
        batch_id = batches.batch_create(user=request.user,
                                        connection_ids=payload.validated_data["connectionIds"])
        if payload.validated_data["async"]:
            status_ = batches.batch_status(user=request.user, batch_id=batch_id)
        else:
            status_ = batches.batch_wait(user=request.user, batch_id=batch_id,
                                         timeout=BATCH_SYNC_WAIT_SECONDS)
        code = 200 if status_["status"] == "completed" else 202
        return Response({"success": True, **status_}, status=code)

    @extend_schema(responses=BatchOut)
    @action(detail=False, methods=["get"], url_path=r"batch-test/(?P<batch_id>[^/]+)")
    def batch_status(self, request: Request, batch_id: str) -> Response:
        return Response({"success": True,
                         **batches.batch_status(user=request.user, batch_id=batch_id)})


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class TokenView(APIView):
    """POST {username, password} -> {success, token}. Throttled per username and per
    client address (429 throttled with Retry-After)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = auth.LOGIN_THROTTLES

    @extend_schema(request=TokenIn, responses=TokenOut)
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

    @extend_schema(request=None, responses=SuccessOut)
    def post(self, request: Request) -> Response:
        auth.token_revoke(user=request.user)
        if request.auth is None:  # authenticated by session, not by token
            logout(request._request)
        return Response({"success": True})


class SystemStatusView(APIView):
    """Totals for the caller (staff: everyone), the capability matrix, health figures."""

    @extend_schema(responses=inline_serializer("SystemStatusOut", {
        "status": serializers.CharField(), "connections": serializers.DictField(),
        "health": serializers.DictField(), "metrics": serializers.DictField(),
        "batch": serializers.DictField(), "features": serializers.DictField()}))
    def get(self, request: Request) -> Response:
        return Response(selectors.system_status(user=request.user))
