"""Violations found by ingest: rows, grouped into incidents, on the ledger, told to people.

Violations of one dataset towards one destination region under one rule (the engine's name for
it) make one group. A group has at most one unresolved incident, and its violations join it
however far apart they come; when the group's incident was resolved less than
TELEMETRY_INCIDENT_REOPEN_HOURS ago it is reopened (a timeline line says so) instead of a new one
opening; otherwise a new incident opens. Groups are locked (PostgreSQL advisory locks, in key
order) so two batches never open or reopen the same incident twice.

Each violation records which rules it broke (its `basis`): the law's, when the legal verdict was
deny or needs a mechanism, else only the house's; an incident is legal if any of its violations
is. A new incident keeps what the law and the house rules said (its `explanation`: the article,
the officers' rule or the dataset's declared regions). Severity follows
monitoring.incidents.severity; an incident with personal data keeps the breach clocks of its
data's laws (monitoring.incidents.breach).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from catalog.models import PersonalDataCategory
from governance.ledger.tree import ledger_submit
from governance.policy.engine import evaluate
from governance.policy.facts import DatasetFacts, PolicyIndex, UnknownInput
from governance.workflow import status_move
from monitoring.incidents import breach, notices
from monitoring.incidents.messages import incident_message, violation_json
from monitoring.incidents.severity import severity_of
from monitoring.models import SEVERITY_RANK, Basis, Drill, Incident, IncidentEvent, Violation
from monitoring.telemetry import bulk
from monitoring.telemetry.judge import KIND_ACTION
from monitoring.telemetry.stream import Message

INCIDENT_LOCK_NAMESPACE = 0x496E63  # "Inc"
OPEN_STATUSES = (Incident.Status.OPEN, Incident.Status.ACKNOWLEDGED, Incident.Status.CONTAINED)
# What a batch's violations change on an incident they join (written absolute, after the lock).
INCIDENT_TOTALS = (
    "violation_count",
    "bytes",
    "records",
    "last_violation_at",
    "first_violation_at",
    "severity",
    "basis",
)


GroupKey = tuple[int | None, str, str]  # dataset id, destination region, rule


@dataclass
class Recorded:
    opened: list[Incident] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    receipt: dict[str, Any] | None = None  # the log's receipt of the batch's entry


def _worst(*severities: str) -> str:
    return max(severities, key=SEVERITY_RANK.__getitem__)


def jurisdictions_of_event(index: PolicyIndex, ds: DatasetFacts, region: str):
    """The laws a violation involves: where the data is held, its subjects', the destination's."""
    found = {ds.storage_jurisdiction, *ds.subject_jurisdictions}
    place = index.regions.get(region)
    if place is not None:
        found.add(place.jurisdiction)
    return sorted(found)


def _lock_groups(keys) -> None:
    """Lock the groups in key order, in one statement (unnest hands the locks over in order).
    A lock covers a dataset and destination, whatever the rule: fewer locks, same safety."""
    if connection.vendor != "postgresql":
        return  # SQLite runs one writer at a time
    digests = sorted({zlib.crc32(f"{key[0]}|{key[1]}".encode()) - 2**31 for key in keys})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::integer[]) AS k",
            [INCIDENT_LOCK_NAMESPACE, digests],
        )


def _reopen_cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(hours=settings.TELEMETRY_INCIDENT_REOPEN_HOURS)


def _open_incidents(groups, now: dt.datetime) -> dict[GroupKey, Incident]:
    """Each group's incident to add to (one query): its unresolved one, else the one resolved
    within the reopening window; the latest when there are several."""
    if connection.vendor == "postgresql":
        return _open_incidents_postgresql(groups, now)
    found: dict[GroupKey, Incident] = {}
    rows = Incident.objects.filter(
        Q(status__in=OPEN_STATUSES) | Q(resolved_at__gte=_reopen_cutoff(now)),
        drill__isnull=True,
        dataset_id__in={k[0] for k in groups},
        destination_region__in={k[1] for k in groups},
        rule__in={k[2] for k in groups},
    ).order_by("last_violation_at", "id")
    for incident in rows:
        key = (incident.dataset_id, incident.destination_region, incident.rule)
        held = found.get(key)
        if held is None or incident.is_open or not held.is_open:
            found[key] = incident
    return {key: found[key] for key in groups if key in found}


def _open_incidents_postgresql(groups, now: dt.datetime) -> dict[GroupKey, Incident]:
    # Only the batch's own groups (not every dataset x every region), and only the incident
    # each adds to: unresolved incidents pile up where nobody resolves them.
    table = connection.ops.quote_name(Incident._meta.db_table)
    keys = bulk.dumps([{"d": d, "r": r, "u": u} for d, r, u in groups])
    rows = Incident.objects.raw(
        f"SELECT DISTINCT ON (i.dataset_id, i.destination_region, i.rule) i.* "
        f"FROM json_to_recordset(%s::json) AS x(d bigint, r text, u text) "
        f"JOIN {table} i ON i.dataset_id = x.d AND i.destination_region = x.r AND i.rule = x.u "
        f"WHERE (i.status = ANY(%s) OR i.resolved_at >= %s) AND i.drill_id IS NULL "
        f"ORDER BY i.dataset_id, i.destination_region, i.rule, "
        f"(i.status = %s), i.last_violation_at DESC, i.id DESC",
        [
            keys,
            [str(s) for s in OPEN_STATUSES],
            _reopen_cutoff(now),
            str(Incident.Status.RESOLVED),
        ],
    )
    return {(i.dataset_id, i.destination_region, i.rule): i for i in rows}


def record_violations(
    *, source, events: list, now: dt.datetime, index: PolicyIndex, drill: Drill | None = None
) -> Recorded:
    """Store violations for these judged events, grouped into incidents; ledger, notices, stream.
    A drill's violations open incidents of its own (never joining or reopening a real one, nor
    a real one joining them), marked as the drill's, with no stream message."""
    special = frozenset(
        PersonalDataCategory.objects.filter(special=True).values_list("code", flat=True)
    )
    groups: dict[GroupKey, list] = defaultdict(list)
    for e in sorted(events, key=lambda e: e.occurred_at):
        groups[(e.dataset_id, e.destination_region, e.rule)].append(e)
    _lock_groups(groups)
    current = {} if drill is not None else _open_incidents(groups, now)
    outcome = Recorded()
    # (event, incident, severity) in event order; the events are JudgedEvents with a dataset.
    assigned: list[tuple[Any, Incident, str]] = []
    touched: dict[int, Incident] = {}
    severities: dict[tuple[int, str], str] = {}  # (dataset id, basis) -> severity
    for key, group in groups.items():
        assert key[0] is not None  # the events are violations of registered datasets
        ds = index.datasets[key[0]]
        incident = current.get(key)
        if incident is not None and not incident.is_open:
            _reopen(incident, now)
            outcome.reopened.append(incident.pk)
        for e in group:
            severity = severities.get((ds.id, e.basis))
            if severity is None:
                severity = severities[(ds.id, e.basis)] = severity_of(e.basis, ds, special)
            if incident is None:
                incident = _new_incident(index, ds, e, severity, now, drill)
                outcome.opened.append(incident)
            _add_violation(incident, e, severity)
            assigned.append((e, incident, severity))
            if incident.pk is not None:
                touched[incident.pk] = incident
    _clocks(index, outcome.opened)
    created = Incident.objects.bulk_create(outcome.opened)
    through = Incident.jurisdictions.through
    through.objects.bulk_create(
        through(incident_id=i.pk, jurisdiction_id=code)
        for i in created
        for code in i.jurisdiction_codes
    )
    bulk.update(
        Incident,
        INCIDENT_TOTALS,
        [(i.pk, *(getattr(i, c) for c in INCIDENT_TOTALS)) for i in touched.values()],
        increment=["version"],
    )
    outcome.updated = sorted(touched)
    violations = _insert_violations(
        [_violation_row(e, incident, severity, now) for e, incident, severity in assigned]
    )
    outcome.receipt = _ledger(source, violations, outcome, drill)
    if drill is None:
        outcome.messages = _messages(violations, outcome.opened, list(touched.values()))
    notices.incidents_opened(outcome.opened)
    return outcome


def _reopen(incident: Incident, now: dt.datetime) -> None:
    """A violation came within the reopening window of its group's resolved incident: open it
    again (under the group's lock; nothing else moves a resolved incident), with a timeline line."""
    status_move(
        Incident,
        pk=incident.pk,
        current=Incident.Status.RESOLVED,
        target=Incident.Status.OPEN,
        what="incident",
        resolved_at=None,
        reopened_at=now,
    )
    IncidentEvent.objects.create(
        incident=incident,
        kind=IncidentEvent.Kind.REOPENED,
        at=now,
        note=f"A new violation came {_ago(now, incident.resolved_at)} after it was resolved",
        data={"resolution": incident.resolution},
    )
    incident.status, incident.resolved_at, incident.reopened_at = Incident.Status.OPEN, None, now


def _ago(now: dt.datetime, then: dt.datetime | None) -> str:
    minutes = int((now - then).total_seconds() // 60) if then else 0
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _clocks(index: PolicyIndex, opened: list[Incident]) -> None:
    """Give each new incident with personal data the breach clocks of its data's laws (one
    query for the batch), whichever rules it broke: a later violation may make it legal, and
    an officer may find any of them a notifiable breach."""
    # Pairs, not a dict: an unsaved model instance is unhashable.
    laws = [
        (i, index.datasets[i.dataset_id].laws)
        for i in opened
        if i.personal_data and i.dataset_id is not None
    ]
    if not laws:
        return
    found = breach.clocks_for(group for _, group in laws)
    for incident, group in laws:
        clocks = found[group]
        incident.breach_clocks = clocks
        incident.regulator_due_at = breach.due_at(incident.opened_at, clocks)


def explain(index: PolicyIndex, e) -> dict:
    """What the law and the house rules said about this event, apart (the engine asked again
    with the index that judged it: its answers are memoised, and only new incidents ask)."""
    try:
        decision = evaluate(
            index,
            e.dataset_id,
            KIND_ACTION[e.kind],
            e.destination_region,
            e.purpose,
            e.occurred_at,
        )
    except (UnknownInput, KeyError):
        return {}
    legal, house = decision.legal, decision.house
    return {
        "legal": None
        if legal is None
        else {
            "outcome": legal.outcome,
            "rule": legal.rule,
            "reason": legal.reason,
            "citation": legal.citation,
            "regime": legal.regime,
        },
        "house": None
        if house is None
        else {"outcome": house.outcome, "rule": house.rule, "reason": house.reason},
        "policy_version": decision.policy_version,
    }


def _title(incident: Incident) -> str:
    """What happened and the rule it broke, e.g. "health-claims reached aws:us-west-2 against
    officers' rule 'health data never leaves the EEA'" ("DRILL: " first for a drill's)."""
    what = f"{incident.dataset_slug} reached {incident.destination_region} against {incident.rule_label}"
    return f"DRILL: {what}" if incident.drill_id else what


def _new_incident(
    index, ds: DatasetFacts, e, severity: str, now: dt.datetime, drill: Drill | None = None
) -> Incident:
    codes = jurisdictions_of_event(index, ds, e.destination_region)
    incident = Incident(
        dataset_id=ds.id,
        dataset_slug=ds.slug,
        destination_region=e.destination_region,
        destination_country=e.destination_country,
        rule=e.rule,
        explanation=explain(index, e),
        severity=severity,
        basis=e.basis,
        jurisdiction_codes=codes,
        personal_data=ds.personal,
        opened_at=now,
        first_violation_at=e.occurred_at,
        last_violation_at=e.occurred_at,
        violation_count=0,
        drill=drill,
    )
    incident.title = _title(incident)[:300]
    return incident


def _add_violation(incident: Incident, e, severity: str) -> None:
    incident.violation_count += 1
    incident.bytes += e.bytes
    incident.records += e.records
    incident.first_violation_at = min(incident.first_violation_at, e.occurred_at)
    incident.last_violation_at = max(incident.last_violation_at, e.occurred_at)
    incident.severity = _worst(incident.severity, severity)
    if e.basis == Basis.LEGAL:
        incident.basis = Basis.LEGAL


@dataclass(slots=True)
class StoredViolation:
    """A violation row as ingest wrote it (the columns of Violation, without the ORM's cost
    per object): what the ledger entry and the stream messages read."""

    event_id: int
    incident_id: int
    occurred_at: dt.datetime
    detected_at: dt.datetime
    dataset_id: int
    dataset_slug: str
    kind: str
    basis: str
    actor: str
    source_region: str
    destination_region: str
    source_country: str
    destination_country: str
    bytes: int
    records: int
    rule: str
    reason: str
    policy_version: str
    severity: str
    jurisdiction_codes: list
    pk: int | None = None


VIOLATION_COLUMNS = tuple(f.name for f in fields(StoredViolation) if f.name != "pk")


def _violation_row(e, incident: Incident, severity: str, now: dt.datetime) -> StoredViolation:
    return StoredViolation(
        e.pk,
        incident.pk,
        e.occurred_at,
        now,
        e.dataset_id,
        e.dataset_slug,
        str(e.kind),
        str(e.basis),
        e.actor,
        e.source_region,
        e.destination_region,
        e.source_country,
        e.destination_country,
        e.bytes,
        e.records,
        e.rule,
        e.reason,
        e.policy_version,
        severity,
        incident.jurisdiction_codes,
    )


def _insert_violations(violations: list[StoredViolation]) -> list[StoredViolation]:
    """One INSERT for the batch's violations (monitoring.telemetry.bulk); sets their ids."""
    written = bulk.insert(
        Violation,
        VIOLATION_COLUMNS,
        [tuple(getattr(v, c) for c in VIOLATION_COLUMNS) for v in violations],
        returning=("id", "event_id"),
    )
    ids = dict((event_id, pk) for pk, event_id in written)
    for v in violations:
        v.pk = ids[v.event_id]
    return violations


def _ledger(
    source, violations: list[StoredViolation], outcome: Recorded, drill: Drill | None
) -> dict[str, Any]:
    """One entry per batch, naming the violations by reference and the incidents it touched
    (a drill's: `drill.violations`, naming the drill), queued without the chain's lock; its
    receipt."""
    ids = [v.pk for v in violations if v.pk is not None]  # all of them: inserted, so numbered
    datasets = sorted({f"dataset:{v.dataset_slug}" for v in violations})
    incident_ids = sorted({v.incident_id for v in violations})
    return ledger_submit(
        actor=None,
        kind="telemetry.violations" if drill is None else "drill.violations",
        subjects=[
            *([f"drill:{drill.pk}"] if drill is not None else []),
            f"telemetry-source:{source.pk}",
            *datasets[:50],
            *(f"incident:{i}" for i in incident_ids[:50]),
        ],
        data={
            "source": source.name,
            "count": len(ids),
            "first_violation": min(ids),
            "last_violation": max(ids),
            "violations": ids[:1000],
            "incidents_opened": [i.pk for i in outcome.opened],
            "incidents_updated": outcome.updated,
            "incidents_reopened": outcome.reopened,
            "policy_version": violations[0].policy_version,
            **({"drill": drill.pk} if drill is not None else {}),
        },
    )


def _messages(violations: list[StoredViolation], opened: list[Incident], updated: list[Incident]):
    messages = [incident_message(i, "incident.opened") for i in opened]
    for incident in updated:
        incident.version += 1
        messages.append(incident_message(incident))
    messages += [
        Message(
            kind="violation.created",
            payload=violation_json(v),
            jurisdictions=v.jurisdiction_codes,
            dataset_ids=[v.dataset_id] if v.dataset_id else [],
        )
        for v in violations
    ]
    return messages
