"""Reads of transfer grants shared by the API and the pages."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Case, CharField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from catalog.models import Dataset, Region
from governance.models import (
    TransferGrant,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class GrantState(TypedDict):
    """What grants_at adds to each grant: grant_status's answer."""

    status: str


def grants_active(at: dt.datetime | None = None) -> QuerySet[TransferGrant]:
    """Grants the engine honours at a moment."""
    at = at or timezone.now()
    return TransferGrant.objects.filter(
        valid_from__lte=at, valid_until__gt=at, revoked_at__isnull=True
    )


def grant_status(now: dt.datetime) -> Case:
    """A grant's state at `now`, computed by the database so that tabs can filter on it."""
    return Case(
        When(revoked_at__isnull=False, then=Value("revoked")),
        When(valid_from__gt=now, then=Value("upcoming")),
        When(valid_until__lte=now, then=Value("expired")),
        default=Value("active"),
        output_field=CharField(),
    )


def grants_at(now: dt.datetime) -> QuerySet[WithAnnotations[TransferGrant, GrantState]]:
    """Grants with what lists and pages show, each with its `status` at `now`."""
    return (
        TransferGrant.objects.select_related("purpose", "revoked_by")
        .prefetch_related(
            Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
            Prefetch("destination_regions", Region.objects.order_by("code")),
        )
        .annotate(status=grant_status(now))
    )
