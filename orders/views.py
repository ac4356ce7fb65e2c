"""Thin order views: parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.fields import UUID_PATTERN
from core.pagination import EnvelopePagination
from core.schema import BODY, EXCHANGE, FOUND, QUERY, WRITE, api_operation
from core.users import caller
from orders import selectors, services
from orders.models import Order
from orders.serializers import (
    MAX_PAGE,
    CancelAllIn,
    CancelAllOut,
    FillListOut,
    FillOut,
    LimitOrderIn,
    MarketOrderIn,
    OrderEnvelope,
    OrderFilters,
    OrderListOut,
    OrderOut,
    order_input,
)
from orders.services import IDEMPOTENCY_KEY

DEFAULT_PAGE = 50
ORDER_ID = OpenApiParameter(
    "id",
    OpenApiTypes.UUID,
    location=OpenApiParameter.PATH,
    pattern=UUID_PATTERN,
    description="An order's id.",
)
IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY.pattern,
    description="Send the same key again to get the first order back (with "
    "Idempotent-Replayed: true) instead of a second order.",
)
REPLAYED_HEADER = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    location=OpenApiParameter.HEADER,
    response=[202],
    enum=["true"],
    description="Present when the order is the first one placed with this "
    "Idempotency-Key or clientOrderId.",
)
ORDER_BODY = PolymorphicProxySerializer(
    component_name="OrderIn",
    serializers={"limit": LimitOrderIn, "market": MarketOrderIn},
    resource_type_field_name="type",
)
# why a well-formed order can be refused: the connection's state (409), its trading state
# (422 trading_halted, reduce_only) or what the exchange, the instrument, the
# account and the risk limits allow (422); the checks read the exchange
PLACE_REFUSALS = {
    409: ["connection_disabled", "circuit_open", "idempotency_key_reused"],
    422: [
        "trading_halted",
        "reduce_only",
        "symbol_not_traded",
        "below_minimum",
        "client_order_id_invalid",
        "risk_limit",
        "insufficient_margin",
        "hedge_mode_unsupported",
        "not_supported",
    ],
    502: ["exchange_error"],
}


class OrderPage(EnvelopePagination):
    """``{success, count, next, previous, orders}``, newest first."""

    default_limit = DEFAULT_PAGE
    max_limit = MAX_PAGE
    results_name = "orders"


class OrderViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Owners place, read and cancel their orders. Staff read every owner's, but placing
    (on the connection named), cancel and cancel-all take only their own: another owner's
    order or connection is a 403 permission_denied (staff can see it); acting for an
    owner happens in the admin."""

    serializer_class = OrderOut
    pagination_class = OrderPage
    queryset = Order.objects.none()
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        return selectors.orders_visible_to(self.request.user)

    @api_operation(
        ok={200: OrderListOut},
        errors=[QUERY],
        parameters=[OrderFilters],
        description=f"Newest first, {DEFAULT_PAGE} a page unless limit says otherwise.",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = OrderFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.order_list(user=caller(request), filters=filters.validated_data)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(OrderOut(page, many=True).data)

    @api_operation(
        request=ORDER_BODY,
        ok={202: OrderEnvelope},
        errors=[BODY, WRITE, FOUND, EXCHANGE, PLACE_REFUSALS],
        parameters=[IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = order_input(request.data)
        payload.is_valid(raise_exception=True)
        placement = services.order_place(
            owner=caller(request),
            spec=payload.spec(),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        response = Response({"success": True, "order": OrderOut(placement.order).data}, status=202)
        if placement.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @api_operation(ok={200: OrderEnvelope}, errors=[FOUND], parameters=[ORDER_ID])
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        order = selectors.order_get(user=caller(request), order_id=kwargs["pk"])
        return Response({"success": True, "order": OrderOut(order).data})

    @api_operation(
        ok={200: FillListOut},
        errors=[FOUND],
        parameters=[ORDER_ID],
        description="The order's trades, oldest first, as the exchange reported "
        "them (private stream or REST snapshot).",
    )
    @action(detail=True, methods=["get"])
    def fills(self, request: Request, pk: str | None = None) -> Response:
        fills = selectors.order_fills(user=caller(request), order_id=str(pk))
        return Response({"success": True, "fills": FillOut(fills, many=True).data})

    @api_operation(
        request=None,
        ok={
            200: OpenApiResponse(OrderEnvelope, description="Canceled (it had not been sent)."),
            202: OpenApiResponse(
                OrderEnvelope,
                description="Cancel requested: the exchange is "
                "asked, or the order is canceled once its outcome is known.",
            ),
        },
        errors=[WRITE, FOUND, {409: ["order_not_cancelable"]}],
        parameters=[ORDER_ID],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = selectors.order_get_for_write(user=caller(request), order_id=str(pk))
        order = services.order_cancel(order=order, actor=caller(request))
        code = 200 if order.status == "canceled" else 202
        return Response({"success": True, "order": OrderOut(order).data}, status=code)

    @api_operation(request=CancelAllIn, ok={202: CancelAllOut}, errors=[BODY, WRITE, FOUND])
    @action(detail=False, methods=["post"], url_path="cancel-all")
    def cancel_all(self, request: Request) -> Response:
        payload = CancelAllIn(data=request.data)
        payload.is_valid(raise_exception=True)
        values = payload.validated_data
        canceled = services.order_cancel_all(
            owner=caller(request),
            connection_id=values["connection_id"],
            symbol=values.get("symbol"),
        )
        return Response({"success": True, "canceled": canceled}, status=202)
