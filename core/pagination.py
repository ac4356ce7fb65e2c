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
        return Response(
            {
                "success": True,
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                self.results_name: data,
            }
        )

    def get_next_link(self) -> str | None:
        offset, limit = self._window()
        if offset + limit >= (self.count or 0):
            return None
        return self._page_url(offset + limit)

    def get_previous_link(self) -> str | None:
        offset, limit = self._window()
        if offset <= 0:
            return None
        return self._page_url(max(offset - limit, 0))

    def _window(self) -> tuple[int, int]:
        # offset, limit and count are set by paginate_queryset before any link is asked for
        assert self.offset is not None and self.limit is not None and self.count is not None
        return self.offset, self.limit

    def _page_url(self, offset: int) -> str:
        request = self.request
        assert request is not None
        query = request.query_params.copy()
        query[self.offset_query_param], query[self.limit_query_param] = (
            str(offset),
            str(self._window()[1]),
        )
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
