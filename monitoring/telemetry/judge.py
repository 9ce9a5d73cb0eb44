"""Telemetry events checked and judged: each item of a batch becomes a JudgedEvent (or an
ItemError naming its field), judged by the policy engine against one index for the batch."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import BigIntegerField, CharField, Value

from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.facts import Decision, UnknownInput
from governance.policy.index import current_index
from monitoring.models import Basis, EventKind, EventOutcome, TelemetrySource

# What each kind of event asks the engine, and whether it must name where the data went.
# Keyed by value: an event's kind and the engine's outcome arrive as plain strings.
KIND_ACTION: dict[str, str] = {
    EventKind.READ: "process",
    EventKind.WRITE: "store",
    EventKind.TRANSFER: "transfer",
    EventKind.TRAINING_STEP: "train",
    EventKind.ACCESS: "access",
}
KINDS = frozenset(KIND_ACTION)
OUTCOME_OF: dict[str, str] = {
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
    # Of a violation: whether it broke the law or only house rules (kept on the Violation row,
    # not on the event's: events carry the final outcome only).
    basis: str = Basis.HOUSE.value
    pk: int | None = None


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
        if decision.outcome == Outcome.DENY:
            event.basis = basis_of(decision)


def basis_of(decision: Decision) -> str:
    """A denial breaks the law when the law's verdict is deny or needs a mechanism (no grant
    supplied one); otherwise only the house rules denied it."""
    legal = decision.legal
    return (
        Basis.LEGAL.value if legal is not None and legal.stricter_than_allow else Basis.HOUSE.value
    )


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
