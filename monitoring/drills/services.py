"""Writes on breach drills: start one (its synthetic violation goes through ingest) and
complete it (its report frozen, its incident resolved). One transaction each, ledger written."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.models import Dataset, Region
from governance.ledger.chain import ledger_append
from governance.workflow import status_move
from monitoring.drills.report import drill_report
from monitoring.incidents.services import incident_resolve
from monitoring.models import Drill, EventOutcome, TelemetrySource, token_digest
from monitoring.telemetry.ingest import telemetry_ingest

DRILL_SOURCE = "Locus breach drills"
DRILL_ACTOR = "locus-breach-drill"
SYNTHETIC_BYTES = 1_048_576
SYNTHETIC_RECORDS = 1_000


def drill_source() -> TelemetrySource:
    """Locus's own source of drill events (no one holds its token: only drills report)."""
    source = TelemetrySource.objects.filter(drill=True).first()
    if source is not None:
        return source
    digest = token_digest(secrets.token_urlsafe(32))  # the token itself is never kept
    return TelemetrySource.objects.create(
        name=DRILL_SOURCE,
        description="Synthetic violations of breach drills; never counted in the figures",
        token_hash=digest,
        token_prefix="drill",
        drill=True,
    )


def _synthetic_event(drill: Drill, dataset: Dataset, at: dt.datetime) -> dict[str, object]:
    """The drill's violation, shaped as a pipeline would report it."""
    return {
        "id": f"drill-{drill.pk}",
        "time": at.isoformat(),
        "kind": "transfer",
        "dataset": dataset.slug,
        "actor": DRILL_ACTOR,
        "source_region": dataset.storage_region.code,
        "destination_region": drill.destination_region,
        "bytes": SYNTHETIC_BYTES,
        "records": SYNTHETIC_RECORDS,
        "run_id": f"drill-{drill.pk}",
    }


def _check_start(actor: Actor, scenario: str, region: str) -> None:
    if not may(actor, "monitoring.add_drill"):
        raise PermissionDenied("Only privacy officers start breach drills")
    if not scenario.strip():
        raise ValidationError({"scenario": "Say what the drill rehearses"})
    if len(scenario) > 300:
        raise ValidationError({"scenario": "At most 300 characters"})
    if not Region.objects.filter(code=region).exists():
        raise ValidationError({"destination_region": f"Unknown region {region!r}"})


@transaction.atomic
def drill_start(
    *,
    actor: Actor,
    dataset: Dataset,
    destination_region: str,
    scenario: str,
    at: dt.datetime | None = None,
) -> Drill:
    """Start a drill: its synthetic transfer of `dataset` to `destination_region` goes through
    ingest and must be judged a violation (else nothing is kept); `at` is when it starts."""
    _check_start(actor, scenario, destination_region)
    assert actor is not None and actor.is_authenticated  # may() lets only a person through
    at = at or timezone.now()
    drill = Drill.objects.create(
        scenario=scenario.strip(),
        dataset=dataset,
        dataset_slug=dataset.slug,
        destination_region=destination_region,
        started_by=actor,
        started_by_name=actor.get_username(),
        started_at=at,
    )
    ledger_append(
        actor=actor,
        kind="drill.started",
        subjects=[f"drill:{drill.pk}", f"dataset:{dataset.slug}"],
        data={"drill": drill.pk, "scenario": drill.scenario, "to": destination_region},
    )
    items = [_synthetic_event(drill, dataset, at)]
    result = telemetry_ingest(source=drill_source(), items=items, now=at, drill=drill)
    if result.errors:
        problems = result.errors[0]["errors"]
        raise ValidationError({"destination_region": "; ".join(problems.values())})
    if result.outcomes.get(EventOutcome.VIOLATION) != 1:
        raise ValidationError(
            {
                "destination_region": f"Locus allows {dataset.slug} in {destination_region}: "
                "a drill needs a destination its rules or the law forbid"
            }
        )
    return drill


@transaction.atomic
def drill_complete(*, actor: Actor, drill: Drill, at: dt.datetime | None = None) -> Drill:
    """End a drill: resolve its incident if it is not, and freeze its report (the measured
    times) on the drill and the ledger."""
    if not may(actor, "monitoring.change_drill"):
        raise PermissionDenied("Only privacy officers complete breach drills")
    if drill.status != Drill.Status.RUNNING:
        raise StateConflict({"status": "The drill is already completed"})
    at = at or timezone.now()
    incident = drill.incidents.first()
    if incident is not None and incident.is_open:
        incident_resolve(actor=actor, incident=incident, note="Breach drill completed", at=at)
    drill.refresh_from_db()
    report = drill_report(drill, now=at)
    status_move(
        Drill,
        pk=drill.pk,
        current=Drill.Status.RUNNING,
        target=Drill.Status.COMPLETED,
        what="drill",
        completed_by=actor,
        completed_at=at,
        report=report,
    )
    ledger_append(
        actor=actor,
        kind="drill.completed",
        subjects=[f"drill:{drill.pk}", f"dataset:{drill.dataset_slug}"],
        data={"drill": drill.pk, "report": report},
    )
    drill.refresh_from_db()
    return drill
