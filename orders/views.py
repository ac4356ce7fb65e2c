"""Thin order views: parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors, services
from orders.models import Order
from orders.serializers import (
    CancelAllIn,
    OrderEnvelope,
    OrderFilters,
    OrderIn,
    OrderListOut,
    OrderOut,
)

DEFAULT_PAGE = 50


class OrderViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """Owners place, read and cancel their orders. Staff read every owner's, but placing
    (on the connection named), cancel and cancel-all take only their own: another owner's
    order or connection is a 403 permission_denied (staff can see it); acting for an
    owner happens in the admin."""

    serializer_class = OrderOut
    queryset = Order.objects.none()
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        return selectors.orders_visible_to(self.request.user)

    @extend_schema(parameters=[
        OpenApiParameter("connectionId", str, required=False),
        OpenApiParameter("status", str, required=False),
        OpenApiParameter("symbol", str, required=False),
        OpenApiParameter("limit", int, required=False),
        OpenApiParameter("offset", int, required=False)], responses=OrderListOut)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = OrderFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        limit, offset = values.get("limit", DEFAULT_PAGE), values.get("offset", 0)
        queryset = selectors.order_list(user=request.user, filters=values)
        count = queryset.count()
        page = list(queryset[offset:offset + limit])
        return Response({
            "success": True, "count": count,
            "next": self._page_url(request, offset + limit, limit)
            if offset + limit < count else None,
            "previous": self._page_url(request, max(offset - limit, 0), limit)
            if offset > 0 else None,
            "orders": OrderOut(page, many=True).data})

    @staticmethod
    def _page_url(request: Request, offset: int, limit: int) -> str:
        query = request.query_params.copy()
        query["offset"], query["limit"] = str(offset), str(limit)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    @extend_schema(request=OrderIn, responses={202: OrderEnvelope}, parameters=[
        OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER,
                         required=False)])
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = OrderIn(data=request.data)
        payload.is_valid(raise_exception=True)
        placement = services.order_place(
            owner=request.user, values=payload.validated_data,
            idempotency_key=request.headers.get("Idempotency-Key"))
        response = Response({"success": True, "order": OrderOut(placement.order).data},
                            status=202)
        if placement.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(responses=OrderEnvelope)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        order = selectors.order_get(user=request.user, order_id=kwargs["pk"])
        return Response({"success": True, "order": OrderOut(order).data})

    @extend_schema(request=None, responses={200: OrderEnvelope, 202: OrderEnvelope})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = selectors.order_get_for_write(user=request.user, order_id=pk)
        order = services.order_cancel(order=order, actor=request.user)
        code = 200 if order.status == "canceled" else 202
        return Response({"success": True, "order": OrderOut(order).data}, status=code)

    @extend_schema(request=CancelAllIn, responses={202: inline_serializer("CancelAllOut", {
        "success": serializers.BooleanField(), "canceled": serializers.IntegerField()})})
    @action(detail=False, methods=["post"], url_path="cancel-all")
    def cancel_all(self, request: Request) -> Response:
        payload = CancelAllIn(data=request.data)
        payload.is_valid(raise_exception=True)
        values = payload.validated_data
        result = services.order_cancel_all(owner=request.user,
                                           connection_id=values["connection_id"],
                                           symbol=values.get("symbol"))
        return Response({"success": True, **result}, status=202)
