"""Thin views: parse input, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import selectors, services
from connections.errors import NotAuthenticated
from connections.models import ExchangeConnection
from connections.serializers import (
    ConnectionEnvelope,
    ConnectionFilters,
    ConnectionListOut,
    ConnectionOut,
    ConnectionWrite,
    SuccessOut,
    TokenIn,
    TokenOut,
)
from exchanges.capabilities import matrix

FILTER_PARAMS = [
    OpenApiParameter("exchange", str, required=False),
    OpenApiParameter("apiType", str, required=False),
    OpenApiParameter("environment", str, required=False),
    OpenApiParameter("isActive", bool, required=False),
    OpenApiParameter("enabled", bool, required=False),
]


class ConnectionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin,
                        mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = ConnectionOut
    queryset = ExchangeConnection.objects.none()
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.connections_visible_to(self.request.user)

    def get_object(self) -> ExchangeConnection:
        return selectors.connection_get(user=self.request.user,
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
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self.get_object()
        payload = ConnectionWrite(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        connection = services.connection_update(connection=connection, actor=request.user,
                                                values=payload.validated_data)
        return self._render(connection)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(responses=SuccessOut)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.connection_delete(connection=self.get_object(), actor=request.user)
        return Response({"success": True})

    @extend_schema(request=None, responses=ConnectionEnvelope)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        connection = services.connection_activate(connection=self.get_object(),
                                                  actor=request.user)
        return self._render(connection)


class TokenView(APIView):
    """POST {username, password} -> {success, token}."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=TokenIn, responses=TokenOut)
    def post(self, request: Request) -> Response:
        payload = TokenIn(data=request.data)
        payload.is_valid(raise_exception=True)
        user = authenticate(request=request._request, **payload.validated_data)
        if user is None or not user.is_active:
            raise NotAuthenticated("unable to log in with these credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"success": True, "token": token.key})


class SystemStatusView(APIView):
    """Totals for the caller (staff: everyone), the capability matrix, health figures."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        counts = selectors.connection_counts(user=request.user)
        return Response({
            "status": "ok",
            "connections": counts,
            "health": {"healthy": 0, "degraded": 0, "unhealthy": 0, "unknown": counts["total"],
                       "averageUptimePercent": 0, "averageResponseTimeMs": 0},
            "metrics": {"totalRequests": 0, "successRate": 0, "averageResponseTime": 0},
            "batch": {"running": 0, "maxBatchSize": 50, "maxConcurrent": 10},
            "features": {"exchanges": matrix()},
        })
