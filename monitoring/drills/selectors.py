"""Reads of breach drills: who sees them, and the drills of a period (the evidence export)."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from catalog.actors import Viewer
from monitoring.models import Drill


def drills_visible_to(user: Viewer) -> QuerySet[Drill]:
    """Privacy officers, executives and auditors read every drill (a rehearsal holds no data)."""
    if not user.has_perm("monitoring.view_drill"):
        return Drill.objects.none()
    return Drill.objects.select_related("dataset").prefetch_related("incidents")


def drills_between(since: dt.datetime, until: dt.datetime) -> QuerySet[Drill]:
    """The drills started in [since, until)."""
    return (
        Drill.objects.filter(started_at__gte=since, started_at__lt=until)
        .prefetch_related("incidents")
        .order_by("started_at", "id")
    )
