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
from django.db.models import BigIntegerField, CharField, Value
from django.utils import timezone

from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.facts import Decision, PolicyIndex, UnknownInput
from governance.policy.index import current_index
from monitoring import anomalies, bulk, incidents, rollups
from monitoring.models import EventKind, EventOutcome, TelemetryEvent, TelemetrySource
from monitoring.stream import Message, stream_append

# What each kind of event asks the engine, and whether it must name where the data went.
KIND_ACTION = {
    EventKind.READ: "process",
    EventKind.WRITE: "store",
    EventKind.TRANSFER: "transfer",
    EventKind.TRAINING_STEP: "train",
    EventKind.ACCESS: "access",
}
KINDS = frozenset(KIND_ACTION)
OUTCOME_OF = {
    Outcome.ALLOW: EventOutcome.COMPLIANT,
    Outcome.ALLOW_WITH_GRANT: EventOutcome.GRANTED,
    Outcome.DENY: EventOutcome.VIOLATION,
}
MAX_INT = 2**63 - 1
TEXT_LIMITS = {"id": 100, "dataset": 500, "actor": 200, "run_id": 200}


@dataclass(slots=True)
class JudgedEvent:
    """One valid event and its judgement, on its way to the database."""

    position: int
    client_id: str
    occurred_at: dt.datetime
    kind: str
    dataset_id: int | None
    dataset_ref: str
    dataset_slug: str
    actor: str
    source_region: str
    destination_region: str
    source_country: str
    destination_country: str
    bytes: int
    records: int
    run_id: str
    purpose: str
    outcome: str
    rule: str = ""
    reason: str = ""
    grant_id: int | None = None
    policy_version: str = ""
    jurisdiction: str = ""
    pk: int | None = None


@dataclass
class IngestResult:
    """What happened to a batch: counts and the errors of the items that were refused."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    outcomes: dict = field(default_factory=dict)
    violations: int = 0
    incidents_opened: int = 0
    incidents_updated: int = 0
    alerts: int = 0
    catalog_gaps: int = 0
    errors: list = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "outcomes": self.outcomes,
            "violations": self.violations,
            "incidents_opened": self.incidents_opened,
            "incidents_updated": self.incidents_updated,
            "alerts": self.alerts,
            "catalog_gaps": self.catalog_gaps,
            "errors": self.errors,
        }


@dataclass
class Scope:
    """What a source may report on (empty sets: anything)."""

    dataset_ids: frozenset[int]
    regions: frozenset[str]

    @classmethod
    def of(cls, source: TelemetrySource) -> Scope:
        """Both lists in one query: (dataset id, "") and (NULL, region code) rows."""
        datasets = TelemetrySource.datasets.through.objects.filter(
            telemetrysource_id=source.pk
        ).values_list("dataset_id", Value("", output_field=CharField()))
        regions = TelemetrySource.regions.through.objects.filter(
            telemetrysource_id=source.pk
        ).values_list(Value(None, output_field=BigIntegerField()), "region__code")
        rows = list(datasets.union(regions, all=True))
        return cls(
            frozenset(ds for ds, _ in rows if ds is not None),
            frozenset(code for _, code in rows if code),
        )


class ItemError(Exception):
    """An event that cannot be taken: {field: reason}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _text(item: dict, name: str, required: bool = False) -> str:
    value = item.get(name)
    if type(value) is str and 0 < len(value) <= TEXT_LIMITS.get(name, 60):
        return value  # the common case, checked first: seven fields of every event come here
    if value is None or value == "":
        if required:
            raise ItemError({name: "This field is required."})
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and name == "id":
        value = str(value)
    if not isinstance(value, str):
        raise ItemError({name: "Must be a string."})
    limit = TEXT_LIMITS.get(name, 60)
    if len(value) > limit:
        raise ItemError({name: f"At most {limit} characters."})
    return value


def _count(item: dict, name: str) -> int:
    value = item.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ItemError({name: "Must be a whole number, zero or more."})
    return value


def _time(item: dict, now: dt.datetime, oldest: dt.datetime, newest: dt.datetime) -> dt.datetime:
    value = item.get("time")
    if not isinstance(value, str) or not value:
        raise ItemError({"time": "Required: an ISO 8601 time with its offset, e.g. ...Z."})
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ItemError({"time": f"Not an ISO 8601 time: {value[:40]!r}."}) from None
    if at.tzinfo is None:
        raise ItemError({"time": "Give the time's offset (e.g. 2026-01-01T12:00:00Z)."})
    if at > newest:
        raise ItemError({"time": "Is in the future."})
    if at < oldest:
        raise ItemError({"time": "Is older than this installation accepts."})
    return at.astimezone(dt.UTC)


class Judge:
    """Validates and judges the items of one batch against one policy index."""

    def __init__(self, source: TelemetrySource, scope: Scope, now: dt.datetime):
        self.index = current_index()
        self.source = source
        self.scope = scope
        self.now = now
        self.oldest = now - dt.timedelta(days=settings.TELEMETRY_MAX_AGE_DAYS)
        self.newest = now + dt.timedelta(seconds=settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS)
        self.decisions: dict[tuple, Decision] = {}

    def region(self, item: dict, name: str) -> str:
        code = _text(item, name)
        if code and code not in self.index.regions:
            raise ItemError({name: f"Unknown region {code!r} (use provider:name)."})
        return code

    def __call__(self, position: int, item) -> JudgedEvent:
        if isinstance(item, ItemError):  # a line the API could not parse
            raise item
        if not isinstance(item, dict):
            raise ItemError({"non_field_errors": "Each event must be a JSON object."})
        client_id = _text(item, "id", required=True)
        at = _time(item, self.now, self.oldest, self.newest)
        kind = item.get("kind")
        if kind not in KINDS:
            raise ItemError({"kind": f"One of {', '.join(sorted(KINDS))}."})
        dataset_ref = _text(item, "dataset", required=True)
        source_region = self.region(item, "source_region")
        if "destination_region" not in item and "compute_region" in item:
            item = {**item, "destination_region": item["compute_region"]}
        destination_region = self.region(item, "destination_region")
        if kind == EventKind.TRANSFER and not destination_region:
            raise ItemError({"destination_region": "A transfer names where the data went."})
        region = destination_region or source_region
        if not region:
            raise ItemError({"destination_region": "Name the destination or the source region."})
        purpose = _text(item, "purpose") or self.source.default_purpose
        if purpose not in self.index.purposes:
            raise ItemError({"purpose": f"Unknown purpose {purpose!r}."})
        ds = self.index.named(dataset_ref)
        self.check_scope(ds, source_region, destination_region)
        regions = self.index.regions
        if source_region:
            source_country = regions[source_region].country
        else:
            source_country = regions[ds.storage_region].country if ds else ""
        event = JudgedEvent(
            position=position,
            client_id=client_id,
            occurred_at=at,
            kind=kind,
            dataset_id=ds.id if ds else None,
            dataset_ref=dataset_ref,
            dataset_slug=ds.slug if ds else "",
            actor=_text(item, "actor"),
            source_region=source_region,
            destination_region=region,
            source_country=source_country,
            destination_country=regions[region].country,
            bytes=_count(item, "bytes"),
            records=_count(item, "records"),
            run_id=_text(item, "run_id"),
            purpose=purpose,
            outcome=EventOutcome.UNKNOWN_DATASET,
            jurisdiction=ds.storage_jurisdiction if ds else "",
        )
        if ds is not None:
            self.decide(event, ds)
        return event

    def check_scope(self, ds, source_region: str, destination_region: str) -> None:
        """A source scoped to regions speaks for what starts there: the event's source region
        must be in scope (or, when it names none, the region where the work ran). Where the
        data went may be anywhere: reporting data that leaves its regions is what such a
        source is for. Either end being enough let a source scoped to one region report
        events that began in any other, as long as they ended in its own."""
        scope = self.scope
        if scope.dataset_ids and (ds is None or ds.id not in scope.dataset_ids):
            raise ItemError({"dataset": "Outside this source's scope."})
        if scope.regions:
            field = "source_region" if source_region else "destination_region"
            origin = source_region or destination_region
            if origin not in scope.regions:
                raise ItemError({field: f"Outside this source's scope: {origin}."})

    def decide(self, event: JudgedEvent, ds) -> None:
        # Most events of a batch repeat a few (dataset, kind, region, purpose): each is judged
        # once per day (adequacy decisions change by the day). Grants end at any instant, so a
        # dataset with grants is judged event by event.
        key = None
        if not self.index.grants.get(ds.id):
            key = (
                ds.id,
                event.kind,
                event.destination_region,
                event.purpose,
                event.occurred_at.date(),
            )
            decision = self.decisions.get(key)
            if decision is not None:
                self.apply(event, decision)
                return
        try:
            decision = evaluate(
                self.index,
                ds.id,
                KIND_ACTION[event.kind],
                event.destination_region,
                event.purpose,
                event.occurred_at,
            )
        except UnknownInput as exc:
            raise ItemError({exc.field: exc.message}) from None
        if key is not None:
            self.decisions[key] = decision
        self.apply(event, decision)

    @staticmethod
    def apply(event: JudgedEvent, decision: Decision) -> None:
        event.outcome = OUTCOME_OF[decision.outcome]
        event.rule = decision.rule
        event.reason = decision.reason
        event.grant_id = decision.grant_id
        event.policy_version = decision.policy_version


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

    One statement: ON CONFLICT DO NOTHING on (source, client id) skips what is already stored,
    including what a concurrent request stores at the same moment, and RETURNING names the
    rows written."""
    written = bulk.insert(
        TelemetryEvent,
        EVENT_COLUMNS,
        [_event_row(source.pk, e, now) for e in events],
        suffix="ON CONFLICT (source_id, client_id) DO NOTHING",
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


def judge_items(judge: Judge, items: list) -> tuple[list[JudgedEvent], list[dict], int]:
    """Validate and judge each item: (events, errors, duplicates within the batch)."""
    events: list[JudgedEvent] = []
    errors: list[dict] = []
    seen: set[str] = set()
    repeated = 0
    for position, item in enumerate(items):
        try:
            event = judge(position, item)
        except ItemError as exc:
            client_id = item.get("id") if isinstance(item, dict) else None
            errors.append({"index": position, "id": client_id, "errors": exc.errors})
            continue
        if event.client_id in seen:
            repeated += 1
            continue
        seen.add(event.client_id)
        events.append(event)
    return events, errors, repeated


def telemetry_ingest(
    *, source: TelemetrySource, items: list, now: dt.datetime | None = None
) -> IngestResult:
    """Judge and store a batch of events from a source; bad items are reported, not fatal."""
    if not source.is_active:
        raise PermissionDenied("This telemetry source is revoked")
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
        if stored:
            _record(source, stored, result, now, judge.index)
    return result


def telemetry_backfill(
    *, source: TelemetrySource, items: list, now: dt.datetime | None = None
) -> IngestResult:
    """Judge and store a batch of past events with their daily flow rollup only: no
    violations, incidents, alerts, notices or stream messages (history loaded in bulk, e.g.
    the benchmark's million events, would otherwise flood officers with old news)."""
    if not source.is_active:
        raise PermissionDenied("This telemetry source is revoked")
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
        outcome = incidents.record_violations(source=source, events=violated, now=now, index=index)
        result.violations = len(violated)
        result.incidents_opened = len(outcome.opened)
        result.incidents_updated = len(outcome.updated)
        messages += outcome.messages
    raised = anomalies.detect(stored, now=now, index=index)
    result.alerts = len(raised.alerts)
    messages += raised.messages
    TelemetrySource.objects.filter(pk=source.pk).exclude(
        last_seen_at__gt=now - dt.timedelta(seconds=60)
    ).update(last_seen_at=now)
    messages.append(_kpi_message(stored, result))
    stream_append(messages)
