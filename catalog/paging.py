"""How every API list pages and orders: one pagination class and one ordering filter, named in
settings.REST_FRAMEWORK and so applied to every list, plus `paged()` for the lists that a
selector builds in Python (the data map, the register of transfers, a term's versions).

`?page_size=` is 1 to MAX_PAGE_SIZE (default PAGE_SIZE): anything else is a 400 naming it, not a
silent clamp, so a client that asked for more rows than it gets knows at once.
`?ordering=name,-created_at` orders by the view's `ordering_fields` (an explicit allow-list;
`-` for descending), then by the view's `ordering_tiebreaker` (default `pk`) so that pages
never overlap; an unknown field is a 400 naming `ordering`. Without it a list keeps its own order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

if TYPE_CHECKING:  # rest_framework.generics imports the filter backends named in settings
    from rest_framework.generics import GenericAPIView

MAX_PAGE_SIZE = 200


class LocusPagination(PageNumberPagination):
    """Page-number pages of PAGE_SIZE (50) rows; `page_size` asks for 1 to MAX_PAGE_SIZE."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = (
                    f"Rows per page: 1 to {self.max_page_size} (default {self.page_size})."
                )
            elif parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["allowEmptyValue"] = True  # `?page=` is the first page, as DRF reads it
        return parameters


def ordering_fields_of(view) -> list[str]:
    """The fields a list may be ordered by: its `ordering_fields`, nothing if it names none."""
    return list(getattr(view, "ordering_fields", None) or [])


class LocusOrdering(OrderingFilter):
    """`?ordering=` over the view's allow-list, with a stable tiebreaker; 400 for the unknown.

    Works on querysets and on lists of dicts (rows a selector built), whose keys are the
    field names."""

    def get_ordering(self, request, queryset, view) -> list[str] | None:
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            default = self.get_default_ordering(view)
            return None if default is None else list(default)
        fields = [part.strip() for part in raw.split(",")]
        allowed = ordering_fields_of(view)
        unknown = [field for field in fields if field.removeprefix("-") not in allowed]
        if unknown or not fields:
            raise ValidationError({self.ordering_param: [_unknown_message(unknown, allowed)]})
        tiebreaker = getattr(view, "ordering_tiebreaker", "pk")
        if tiebreaker not in {field.removeprefix("-") for field in fields}:
            fields.append(tiebreaker)
        return fields

    def get_valid_fields(self, queryset, view, context=None) -> list[tuple[str, str]]:
        """The allow-list only (the browsable API's ordering menu reads it)."""
        return [(field, field) for field in ordering_fields_of(view)]

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "detail", False):
            return queryset  # looking up one object; a detail route's own list orders in paged()
        return self.order(request, queryset, view)

    def order(self, request, queryset, view):
        """The rows (a queryset or a list of dicts) in the order the request asks."""
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        if isinstance(queryset, QuerySet):
            return queryset.order_by(*ordering)
        return _sorted_rows(list(queryset), ordering)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        allowed = ordering_fields_of(view)
        if not allowed:
            return []
        choices = [value for field in allowed for value in (field, f"-{field}")]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": (
                    "Order by these fields, comma-separated; `-` for descending. "
                    f"One of: {', '.join(allowed)}."
                ),
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "enum": choices},
                },
            }
        ]


def _unknown_message(unknown: list[str], allowed: list[str]) -> str:
    if not allowed:
        return "This list cannot be ordered."
    named = ", ".join(repr(field) for field in unknown) or "nothing"
    return f"Cannot order by {named}: order by {', '.join(allowed)} (`-` for descending)."


def _sorted_rows(rows: list[dict[str, Any]], ordering: list[str]) -> list[dict[str, Any]]:
    """Rows sorted by each field in turn (stable sorts, last field first); None sorts first."""
    for field in reversed(ordering):
        name = field.removeprefix("-")
        present = [row for row in rows if row.get(name) is not None]
        absent = [row for row in rows if row.get(name) is None]
        present.sort(key=itemgetter(name), reverse=field.startswith("-"))
        rows = absent + present if not field.startswith("-") else present + absent
    return rows


def paged(
    view: GenericAPIView,
    items: QuerySet | Sequence[Any],
    serialize: Callable[[Any], Any] | None = None,
) -> Response:
    """One page of `items` (ordered as the request asks) in the API's page shape."""
    ordered = LocusOrdering().order(view.request, items, view)
    page = view.paginate_queryset(ordered)
    if page is None:  # a view that turned pagination off
        return Response(serialize(ordered) if serialize else list(ordered))
    return view.get_paginated_response(serialize(page) if serialize else page)
