"""Telemetry ingest: validate, judge and store a batch of events in one transaction.

Batch-oriented end to end: one policy index for the batch, one insert for the events (which
skips those already stored), one upsert per rollup table, one insert each for violations,
alerts and stream messages. Nothing per event touches the database or Celery.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance.policy.facts import PolicyIndex
from monitoring.incidents import anomalies, violations
from monitoring.models import Drill, EventOutcome, TelemetryEvent, TelemetrySource
from monitoring.telemetry import bulk, partitions, rollups
from monitoring.telemetry.judge import Judge, JudgedEvent, Scope, judge_items
from monitoring.telemetry.stream import Message, stream_append


@dataclass
class IngestResult:
    """What happened to a batch: counts and the errors of the items that were refused."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    outcomes: dict = field(default_factory=dict)
    violations: int = 0
    violations_by_basis: dict = field(default_factory=dict)  # {"legal": n, "house": m}
    incidents_opened: int = 0
    incidents_updated: int = 0
    alerts: int = 0
    catalog_gaps: int = 0
    errors: list = field(default_factory=list)
    receipt: dict | None = None  # the decision log's receipt of the batch's violations entry

    def as_json(self) -> dict:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "outcomes": self.outcomes,
            "violations": self.violations,
            "violations_by_basis": self.violations_by_basis,
            "incidents_opened": self.incidents_opened,
            "incidents_updated": self.incidents_updated,
            "alerts": self.alerts,
            "catalog_gaps": self.catalog_gaps,
            "errors": self.errors,
            "receipt": self.receipt,
        }


EVENT_COLUMNS = (
    "source_id",
    "client_id",
    "occurred_at",
    "received_at",
    "kind",
    "dataset_id",
    "dataset_ref",
    "actor",
    "source_region",
    "destination_region",
    "source_country",
    "destination_country",
    "bytes",
    "records",
    "run_id",
    "purpose",
    "outcome",
    "rule",
    "reason",
    "grant_id",
    "policy_version",
)


def _event_row(source_id: int, e: JudgedEvent, now: dt.datetime) -> tuple:
    return (
        source_id,
        e.client_id,
        e.occurred_at,
        now,
        str(e.kind),
        e.dataset_id,
        e.dataset_ref,
        e.actor,
        e.source_region,
        e.destination_region,
        e.source_country,
        e.destination_country,
        e.bytes,
        e.records,
        e.run_id,
        e.purpose,
        str(e.outcome),
        e.rule,
        e.reason,
        e.grant_id,
        e.policy_version,
    )


def _store(source: TelemetrySource, events: list[JudgedEvent], now) -> list[JudgedEvent]:
    """Insert the events this source has not sent before; returns those inserted, with ids.

    One statement: ON CONFLICT DO NOTHING on the event key skips what is already stored,
    including what a concurrent request stores at the same moment, and RETURNING names the
    rows written. The key is (source, client id); on PostgreSQL's day partitions it holds the
    partition key too, (source, client id, occurred_at): a resend is the same event, at the
    same time (README "Retention of telemetry")."""
    key = (
        "source_id, client_id, occurred_at"
        if partitions.is_partitioned()
        else "source_id, client_id"
    )
    written = bulk.insert(
        TelemetryEvent,
        EVENT_COLUMNS,
        [_event_row(source.pk, e, now) for e in events],
        suffix=f"ON CONFLICT ({key}) DO NOTHING",
        returning=("id", "client_id"),
    )
    ids = dict((client_id, pk) for pk, client_id in written)
    fresh = []
    for e in events:
        e.pk = ids.get(e.client_id)
        if e.pk is not None:
            fresh.append(e)
    return fresh


def _kpi_message(stored: list[JudgedEvent], result: IngestResult) -> Message:
    """The batch's effect on the figures, by jurisdiction and by dataset (trimmed per user)."""
    by_jurisdiction: dict[str, Counter] = defaultdict(Counter)
    by_dataset: dict[int, Counter] = defaultdict(Counter)
    for e in stored:
        if e.jurisdiction:
            by_jurisdiction[e.jurisdiction][e.outcome] += 1
        if e.dataset_id:
            by_dataset[e.dataset_id][e.outcome] += 1
    return Message(
        kind="kpi.delta",
        payload={
            "events": len(stored),
            "bytes": sum(e.bytes for e in stored),
            "outcomes": dict(Counter(str(e.outcome) for e in stored)),
            "by_jurisdiction": {k: dict(v) for k, v in by_jurisdiction.items()},
            "by_dataset": {str(k): dict(v) for k, v in by_dataset.items()},
            "incidents_opened": result.incidents_opened,
            "alerts": result.alerts,
        },
        jurisdictions=list(by_jurisdiction),
        dataset_ids=list(by_dataset),
    )


def _gaps(source: TelemetrySource, stored: list[JudgedEvent]) -> dict[str, dict]:
    gaps: dict[str, dict] = {}
    for e in stored:
        if e.outcome != EventOutcome.UNKNOWN_DATASET:
            continue
        gap = gaps.get(e.dataset_ref)
        if gap is None:
            gaps[e.dataset_ref] = {
                "dataset_ref": e.dataset_ref,
                "first_seen_at": e.occurred_at,
                "last_seen_at": e.occurred_at,
                "events": 1,
                "bytes": e.bytes,
                "last_source_id": source.pk,
                "last_actor": e.actor,
                "last_region": e.destination_region,
            }
            continue
        gap["events"] += 1
        gap["bytes"] += e.bytes
        gap["first_seen_at"] = min(gap["first_seen_at"], e.occurred_at)
        if e.occurred_at >= gap["last_seen_at"]:
            gap.update(
                last_seen_at=e.occurred_at, last_actor=e.actor, last_region=e.destination_region
            )
    return gaps


def telemetry_ingest(
    *,
    source: TelemetrySource,
    items: list,
    now: dt.datetime | None = None,
    drill: Drill | None = None,
) -> IngestResult:
    """Judge and store a batch of events from a source; bad items are reported, not fatal.
    A breach drill's batch (`drill`, from Locus's drill source only) is judged and its
    violations open the drill's incident, but it touches no figure: no rollups, gaps,
    anomalies or stream messages (monitoring.drills)."""
    if not source.is_active:
        raise PermissionDenied("This telemetry source is revoked")
    if source.drill != (drill is not None):
        raise PermissionDenied("Only breach drills report through the drill source")
    if len(items) > settings.TELEMETRY_MAX_EVENTS:
        raise ValidationError(
            {"events": f"At most {settings.TELEMETRY_MAX_EVENTS} events per request"}
        )
    now = now or timezone.now()
    judge = Judge(source, Scope.of(source), now)
    events, errors, repeated = judge_items(judge, items)
    result = IngestResult(received=len(items), rejected=len(errors), errors=errors)
    with transaction.atomic():
        stored = _store(source, events, now)
        result.stored = len(stored)
        result.duplicates = repeated + len(events) - len(stored)
        result.outcomes = dict(Counter(str(e.outcome) for e in stored))
        if stored and drill is not None:
            _record_drill(source, stored, result, now, judge.index, drill)
        elif stored:
            _record(source, stored, result, now, judge.index)
    return result


def telemetry_backfill(
    *, source: TelemetrySource, items: list, now: dt.datetime | None = None
) -> IngestResult:
    """Judge and store a batch of past events with their daily flow rollup only: no
    violations, incidents, alerts, notices or stream messages (history loaded in bulk, e.g.
    the benchmark's million events, would otherwise flood officers with old news)."""
    if not source.is_active or source.drill:
        raise PermissionDenied("This telemetry source is revoked or a drill's")
    now = now or timezone.now()
    judge = Judge(source, Scope.of(source), now)
    events, errors, repeated = judge_items(judge, items)
    result = IngestResult(received=len(items), rejected=len(errors), errors=errors)
    with transaction.atomic():
        stored = _store(source, events, now)
        rollups.flows_add(stored)
    result.stored = len(stored)
    result.duplicates = repeated + len(events) - len(stored)
    result.outcomes = dict(Counter(str(e.outcome) for e in stored))
    return result


def _record_drill(
    source: TelemetrySource,
    stored: list[JudgedEvent],
    result: IngestResult,
    now: dt.datetime,
    index: PolicyIndex,
    drill: Drill,
) -> None:
    """A drill's batch: its violations open the drill's incident, on the ledger and told to
    people as a drill; nothing reaches the rollups, anomalies or the risk stream."""
    violated = [e for e in stored if e.outcome == EventOutcome.VIOLATION]
    if violated:
        outcome = violations.record_violations(
            source=source, events=violated, now=now, index=index, drill=drill
        )
        result.violations = len(violated)
        result.violations_by_basis = dict(Counter(e.basis for e in violated))
        result.incidents_opened = len(outcome.opened)
        result.receipt = outcome.receipt


def _record(
    source: TelemetrySource,
    stored: list[JudgedEvent],
    result: IngestResult,
    now: dt.datetime,
    index: PolicyIndex,
) -> None:
    """Everything a stored batch changes besides the events: rollups, gaps, violations,
    incidents, alerts, notices and stream messages (the last step)."""
    rollups.flows_add(stored)
    gaps = _gaps(source, stored)
    rollups.gaps_add(gaps)
    result.catalog_gaps = len(gaps)
    messages: list[Message] = []
    violated = [e for e in stored if e.outcome == EventOutcome.VIOLATION]
    if violated:
        outcome = violations.record_violations(source=source, events=violated, now=now, index=index)
        result.violations = len(violated)
        result.violations_by_basis = dict(Counter(e.basis for e in violated))
        result.incidents_opened = len(outcome.opened)
        result.incidents_updated = len(outcome.updated)
        result.receipt = outcome.receipt
        messages += outcome.messages
    raised = anomalies.detect(stored, now=now, index=index)
    result.alerts = len(raised.alerts)
    messages += raised.messages
    TelemetrySource.objects.filter(pk=source.pk).exclude(
        last_seen_at__gt=now - dt.timedelta(seconds=60)
    ).update(last_seen_at=now)
    messages.append(_kpi_message(stored, result))
    stream_append(messages)
