"""Limit/offset pages in the API's envelope: ``{success, count, next, previous, <items>}``."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response


class EnvelopePagination(LimitOffsetPagination):
    """DRF's limit/offset paging; the page's items under ``results_name``. The limit and
    offset are validated (and their errors answered) by the list's query serializer before
    the page is cut. ``next`` and ``previous`` keep the query string as sent, with offset
    and limit set (``previous`` names offset=0 rather than dropping it)."""

    results_name = "results"

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"success": True, "count": self.count, "next": self.get_next_link(),
                         "previous": self.get_previous_link(), self.results_name: data})

    def get_next_link(self) -> str | None:
        if self.offset + self.limit >= self.count:
            return None
        return self._page_url(self.offset + self.limit)

    def get_previous_link(self) -> str | None:
        if self.offset <= 0:
            return None
        return self._page_url(max(self.offset - self.limit, 0))

    def _page_url(self, offset: int) -> str:
        request = self.request
        query = request.query_params.copy()
        query[self.offset_query_param], query[self.limit_query_param] = (str(offset),
                                                                         str(self.limit))
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
