"""The API's list filters, strict in one place: a malformed or unknown value is a 400 naming the
parameter, an empty value is no filter, and a renamed parameter's old name still works."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.http import QueryDict
from django_filters import filters
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend, FilterSet

TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})


class StrictBooleanField(forms.Field):
    """`true`/`false` (or 1/0), any case; anything else is refused rather than ignored."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        word = str(value).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise forms.ValidationError(
            "Give true or false, not %(value)r.", code="invalid", params={"value": value}
        )


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment, as the same moment in UTC: RFC 3339 allows offsets up to 23:59, and
    PostgreSQL refuses any beyond 15:59 in a query. A moment that is out of range in UTC (the
    first day of year 1 with a positive offset) is refused, naming the parameter."""

    def to_python(self, value: Any) -> dt.datetime | None:
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError as exc:
            raise forms.ValidationError("Out of range in UTC.", code="invalid") from exc


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """IsoDateTimeFilter, its value in UTC (UtcIsoDateTimeField)."""

    field_class = UtcIsoDateTimeField


def _without_empty(data: QueryDict) -> QueryDict:
    kept = QueryDict(mutable=True)
    for name, values in data.lists():
        given = [v for v in values if v.strip()]
        if given:
            kept.setlist(name, given)
    return kept


class StrictFilterSet(FilterSet):
    """The base of every API filter set. `deprecated_aliases` maps an old parameter name to
    the current one; the README lists them."""

    deprecated_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, data: QueryDict | None = None, *args: Any, **kwargs: Any) -> None:
        if data is not None:
            data = self._with_current_names(_without_empty(data))
        super().__init__(data, *args, **kwargs)
        for declared in self.filters.values():
            if isinstance(declared, filters.BooleanFilter):
                declared.field_class = StrictBooleanField
                declared.extra.pop("widget", None)

    @classmethod
    def _with_current_names(cls, data: QueryDict) -> QueryDict:
        for old, current in cls.deprecated_aliases.items():
            if old in data:
                values = data.pop(old)
                if current not in data:
                    data.setlist(current, values)
        return data


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend with StrictFilterSet for `filterset_fields`, applied to lists
    only: a detail route (an object, its history or timeline) is never narrowed by the list's
    filters, so a filter there is not a 404."""

    filterset_base = StrictFilterSet

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        if getattr(view, "detail", False):
            return queryset
        return super().filter_queryset(request, queryset, view)
