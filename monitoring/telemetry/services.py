"""Writes on telemetry sources: register, change scope, rotate the token, revoke.

Each verb is one transaction, checks permission and writes the ledger. (Ingest itself is
monitoring.telemetry.ingest.telemetry_ingest.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.models import Dataset, Region
from governance.ledger.chain import ledger_append
from governance.models import Purpose
from governance.workflow import Step, status_move
from monitoring.models import TelemetrySource, token_digest

TOKEN_PREFIX = "lts_"


def _new_token() -> tuple[str, str, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token), token[:12]


def _check_source_admin(actor: Actor) -> None:
    if not may(actor, "monitoring.change_telemetrysource"):
        raise PermissionDenied("Only privacy officers may manage telemetry sources")


def _check_purpose(code: str) -> None:
    if not Purpose.objects.filter(code=code).exists():
        raise ValidationError({"default_purpose": f"Unknown purpose {code!r}"})


def _scope_data(source: TelemetrySource) -> dict[str, Any]:
    return {
        "source": source.pk,
        "name": source.name,
        "datasets": sorted(source.datasets.values_list("slug", flat=True)),
        "regions": sorted(source.regions.values_list("code", flat=True)),
        "default_purpose": source.default_purpose,
    }


@transaction.atomic
def telemetry_source_register(
    *,
    actor: Actor,
    name: str,
    datasets: Iterable[Dataset] = (),
    regions: Iterable[Region] = (),
    default_purpose: str = "analytics",
    description: str = "",
) -> tuple[TelemetrySource, str]:
    """Register a source; returns it and its token (shown once, stored only as a hash)."""
    if not may(actor, "monitoring.add_telemetrysource"):
        raise PermissionDenied("Only privacy officers may register telemetry sources")
    if not name.strip():
        raise ValidationError({"name": "Give the source a name"})
    if TelemetrySource.objects.filter(name=name).exists():
        raise ValidationError({"name": "A source with this name exists"})
    _check_purpose(default_purpose)
    token, digest, prefix = _new_token()
    source = TelemetrySource.objects.create(
        name=name,
        description=description,
        token_hash=digest,
        token_prefix=prefix,
        default_purpose=default_purpose,
        created_by=actor,
    )
    source.datasets.set(datasets)
    source.regions.set(regions)
    ledger_append(
        actor=actor,
        kind="telemetry_source.registered",
        subjects=[f"telemetry-source:{source.pk}"],
        data=_scope_data(source),
    )
    return source, token


@transaction.atomic
def telemetry_source_update(
    *,
    actor: Actor,
    source: TelemetrySource,
    name: str | None = None,
    description: str | None = None,
    datasets: list[Dataset] | None = None,
    regions: list[Region] | None = None,
    default_purpose: str | None = None,
) -> TelemetrySource:
    """Change a source's name, description, scope or default purpose."""
    _check_source_admin(actor)
    source = TelemetrySource.objects.select_for_update().get(pk=source.pk)
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": "Give the source a name"})
        if TelemetrySource.objects.filter(name=name).exclude(pk=source.pk).exists():
            raise ValidationError({"name": "A source with this name exists"})
        source.name = name
    if description is not None:
        source.description = description
    if default_purpose is not None:
        _check_purpose(default_purpose)
        source.default_purpose = default_purpose
    source.save()
    if datasets is not None:
        source.datasets.set(datasets)
    if regions is not None:
        source.regions.set(regions)
    ledger_append(
        actor=actor,
        kind="telemetry_source.updated",
        subjects=[f"telemetry-source:{source.pk}"],
        data=_scope_data(source),
    )
    return source


# The steps of a source's life: rotation keeps it active, revocation is for good.
SOURCE_STEPS: dict[str, Step] = {
    "rotate": Step(frozenset({TelemetrySource.Status.ACTIVE}), None),
    "revoke": Step(frozenset({TelemetrySource.Status.ACTIVE}), TelemetrySource.Status.REVOKED),
}
REFUSED = {
    "rotate": "A revoked source cannot be given a new token",
    "revoke": "The source is already revoked",
}


def _source_step(source: TelemetrySource, action: str, **changes: Any) -> None:
    """Take one step of SOURCE_STEPS with a compare-and-swap (a lost race is a 409)."""
    step = SOURCE_STEPS[action]
    if not step.allows(source.status):
        raise StateConflict({"status": REFUSED[action]})
    status_move(
        TelemetrySource,
        pk=source.pk,
        current=source.status,
        target=step.target or source.status,
        what="source",
        **changes,
    )


@transaction.atomic
def telemetry_source_rotate(
    *, actor: Actor, source: TelemetrySource
) -> tuple[TelemetrySource, str]:
    """Give an active source a new token; the old one stops working at once."""
    _check_source_admin(actor)
    token, digest, prefix = _new_token()
    _source_step(
        source, "rotate", token_hash=digest, token_prefix=prefix, rotated_at=timezone.now()
    )
    ledger_append(
        actor=actor,
        kind="telemetry_source.rotated",
        subjects=[f"telemetry-source:{source.pk}"],
        data={"source": source.pk, "token_prefix": prefix},
    )
    source.refresh_from_db()
    return source, token


@transaction.atomic
def telemetry_source_revoke(
    *, actor: Actor, source: TelemetrySource, reason: str = ""
) -> TelemetrySource:
    """Stop accepting a source's telemetry for good (what it sent stays)."""
    _check_source_admin(actor)
    return telemetry_source_revoke_reviewed(actor=actor, source=source, reason=reason)


@transaction.atomic
def telemetry_source_revoke_reviewed(
    *, actor: Actor, source: TelemetrySource, reason: str = ""
) -> TelemetrySource:
    """Revoke a source whose revocation someone was entitled to decide: an officer, or the
    reviewer of an access review item naming it (governance.reviews checked who)."""
    _source_step(source, "revoke", revoked_at=timezone.now())
    ledger_append(
        actor=actor,
        kind="telemetry_source.revoked",
        subjects=[f"telemetry-source:{source.pk}"],
        data={"source": source.pk, "reason": reason},
    )
    source.refresh_from_db()
    return source
