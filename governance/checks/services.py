"""Locality checks and training runs: questions to the policy engine, each answer recorded as a
LocalityDecision and put on the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.utils import timezone

from catalog.actors import Actor, actor_account, may
from catalog.errors import StateConflict
from catalog.models import Dataset, Region
from catalog.techniques import (
    Declared,
    Technique,
    declaration_json,
    parse_declaration,
    technique_names,
)
from governance.ledger.chain import actor_name, sequence_after_commit
from governance.ledger.tree import (
    ledger_submit,
    ledger_submit_statement,
    slot,
)
from governance.models import (
    LocalityDecision,
    Outcome,
    Purpose,
    TrainingRun,
    TrainingRunDataset,
)
from governance.policy.engine import evaluate
from governance.policy.facts import Decision, PolicyIndex, UnknownInput
from governance.policy.index import current_index

MAX_CHECKS_PER_REQUEST = 1000
NOT_ALLOWED = 1000  # a batch's entry names by id at most this many decisions not simply allowed


@dataclass(frozen=True)
class Check:
    """One question to the engine."""

    dataset: str
    action: str
    region: str
    purpose: str
    at: dt.datetime | None = None
    # What the caller declares about the recipient (e.g. "dpf-certified"): the answer to the
    # scope question of an adequacy decision limited to some recipients.
    scopes: frozenset[str] = frozenset()
    # The privacy techniques the work declares (catalog.techniques), validated.
    techniques: tuple[Declared, ...] = ()

    @property
    def technique_names(self) -> frozenset[str]:
        return technique_names(self.techniques)


@dataclass(frozen=True)
class CheckResult:
    check: Check
    decision: Decision | None = None
    record: LocalityDecision | None = None
    errors: dict[str, list[str]] | None = None
    receipt: dict[str, Any] | None = None  # the log's signed promise to include the decision


def _decision_row(
    index: PolicyIndex,
    check: Check,
    at: dt.datetime,
    decision: Decision,
    actor: Actor,
    context: str,
    run: TrainingRun | None = None,
) -> LocalityDecision:
    ds = index.dataset(check.dataset)
    return LocalityDecision(
        at=at,
        dataset_id=ds.id,
        dataset_slug=ds.slug,
        action=check.action,
        region_code=check.region,
        country=index.regions[check.region].country,
        purpose=check.purpose,
        actor=actor_account(actor),
        actor_name=actor_name(actor),
        outcome=decision.outcome,
        rule=decision.rule,
        reason=decision.reason,
        **verdict_columns(decision),
        scopes=sorted(check.scopes),
        techniques=declaration_json(check.techniques),
        grant_id=decision.grant_id,
        policy_version=decision.policy_version,
        context=context,
        training_run=run,
    )


def verdict_columns(decision: Decision) -> dict[str, str]:
    legal, house = decision.legal, decision.house
    columns: dict[str, str] = {}
    if legal is not None:
        columns.update(
            legal_outcome=legal.outcome,
            legal_rule=legal.rule,
            legal_reason=legal.reason,
            legal_citation=legal.citation[:300],
            legal_regime=legal.regime,
        )
    if house is not None:
        columns.update(
            house_outcome=house.outcome, house_rule=house.rule, house_reason=house.reason
        )
    return columns


def locality_check(
    *,
    actor: Actor,
    checks: Sequence[Check],
    context: str = LocalityDecision.Context.CHECK,
    run: TrainingRun | None = None,
) -> list[CheckResult]:
    """Answer a batch of checks and record every decision in one insert; bad items get errors."""
    if len(checks) > MAX_CHECKS_PER_REQUEST:
        raise ValidationError(
            {"checks": f"At most {MAX_CHECKS_PER_REQUEST} checks per request, got {len(checks)}"}
        )
    index = current_index()
    now = timezone.now()
    answered, results = _answer(index, checks, now)
    if len(answered) < len(results):
        # Something unknown: perhaps only to this process, which another's change (a dataset
        # registered a moment ago) has not been notified to yet. Asked again, on the counters.
        latest = current_index(verify=True)
        if latest is not index:
            index = latest
            answered, results = _answer(index, checks, now)
    rows = [
        _decision_row(index, check, at, decision, actor, context, run)
        for _, check, at, decision in answered
    ]
    records, receipt = _record(actor, rows, context, run) if rows else ([], None)
    for (position, check, _, decision), record in zip(answered, records, strict=True):
        results[position] = CheckResult(check, decision, record, receipt=receipt)
    return results


Answered = list[tuple[int, Check, dt.datetime, Decision]]


def _answer(
    index: PolicyIndex, checks: Sequence[Check], now: dt.datetime
) -> tuple[Answered, list[CheckResult]]:
    """The engine's answer to each check (an error for a bad one), nothing recorded."""
    answered: Answered = []
    results: list[CheckResult] = []
    for check in checks:
        at = check.at or now
        if not check.at:
            check = replace(check, at=at)
        try:
            decision = evaluate(
                index,
                check.dataset,
                check.action,
                check.region,
                check.purpose,
                at,
                check.scopes,
                check.technique_names,
            )
        except UnknownInput as exc:
            results.append(CheckResult(check, errors={exc.field: [exc.message]}))
            continue
        answered.append((len(results), check, at, decision))
        results.append(CheckResult(check, decision))
    return answered, results


def _record(
    actor: Actor, rows: list[LocalityDecision], context: str, run: TrainingRun | None
) -> tuple[list[LocalityDecision], dict[str, Any]]:
    """The decisions inserted and one decision-log entry per batch queued (no lock: the
    sequencer puts it on the chain within the merge delay), atomically; its receipt."""
    if connections[router.db_for_write(LocalityDecision)].vendor == "postgresql":
        return _record_in_one_statement(actor, rows, context, run)
    with transaction.atomic():
        records = LocalityDecision.objects.bulk_create(rows)
        ids = [r.pk for r in records]
        subjects, data = _entry(
            records,
            context,
            run,
            first=min(ids),
            last=max(ids),
            not_allowed=[r.pk for r in records if r.outcome != Outcome.ALLOW][:NOT_ALLOWED],
        )
        receipt = ledger_submit(
            actor=actor, kind="locality.decisions", subjects=subjects, data=data
        )
    return records, receipt


def _record_in_one_statement(
    actor: Actor, rows: list[LocalityDecision], context: str, run: TrainingRun | None
) -> tuple[list[LocalityDecision], dict[str, Any]]:
    """As `_record`, in one statement (one round trip, atomic by itself): the decisions' INSERT
    as a CTE whose ids the entry's payload takes, assembled and hashed by PostgreSQL."""
    alias = router.db_for_write(LocalityDecision)
    insert_sql, insert_params = _decisions_insert(rows, connections[alias])
    subjects, data = _entry(
        rows, context, run, first=slot("first"), last=slot("last"), not_allowed=slot("not_allowed")
    )
    queue = ledger_submit_statement(
        actor=actor,
        kind="locality.decisions",
        subjects=subjects,
        data=data,
        source="batch",
        slots={
            "first": "batch.first::text",
            "last": "batch.last::text",
            "not_allowed": "'[' || coalesce(array_to_string(batch.not_allowed, ','), '') || ']'",
        },
    )
    statement = (
        f"WITH decided AS ({insert_sql}),"
        " batch AS (SELECT min(id) AS first, max(id) AS last,"
        f" (array_agg(id ORDER BY id) FILTER (WHERE outcome <> %s))[1:{NOT_ALLOWED}]"
        " AS not_allowed FROM decided),"
        f" queued AS ({queue.sql})"
        " SELECT decided.id, queued.leaf_hash FROM decided CROSS JOIN queued ORDER BY decided.id"
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, [*insert_params, Outcome.ALLOW, *queue.params])
        returned = cursor.fetchall()
    for row, (pk, _) in zip(rows, returned, strict=True):
        row.pk = pk
        row._state.adding, row._state.db = False, alias
    sequence_after_commit()
    return rows, queue.receipt(returned[0][1])


def _decisions_insert(rows: list[LocalityDecision], connection: Any) -> tuple[str, list[Any]]:
    """The decisions' INSERT ... RETURNING id, outcome, with its parameters, as bulk_create
    would send it (each field's pre_save and database preparation); written here, since
    Django's insert compiler costs a twentieth of a check's CPU to say the same every time."""
    fields = _DECISION_FIELDS
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    params = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for row in rows
        for field in fields
    ]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    return (
        f"INSERT INTO {LocalityDecision._meta.db_table} ({columns})"
        f" VALUES {', '.join([row_sql] * len(rows))} RETURNING id, outcome",
        params,
    )


_DECISION_FIELDS = [f for f in LocalityDecision._meta.concrete_fields if not f.primary_key]


def _entry(
    records: list[LocalityDecision],
    context: str,
    run: TrainingRun | None,
    *,
    first: int | str,
    last: int | str,
    not_allowed: list[int] | str,
) -> tuple[list[str], dict[str, Any]]:
    """The subjects and data of the entry for a batch of decisions, naming them by reference
    (the first and last ids, the count, the ids of those not simply allowed)."""
    outcomes = {o: sum(1 for r in records if r.outcome == o) for o in Outcome.values}
    denied = sorted({f"dataset:{r.dataset_slug}" for r in records if r.outcome != Outcome.ALLOW})
    declared = _declarations(records)
    subjects = [*denied[:50], *([f"run:{run.pk}"] if run else [])]
    return subjects, {
        "context": context,
        "first_decision": first,
        "last_decision": last,
        "count": len(records),
        "outcomes": outcomes,
        "legal_outcomes": _counts(r.legal_outcome for r in records),
        "house_outcomes": _counts(r.house_outcome for r in records),
        "not_allowed": not_allowed,
        "policy_version": records[0].policy_version,
        **({"techniques": declared} if declared else {}),
    }


def _declarations(records: list[LocalityDecision]) -> list[list[dict[str, Any]]]:
    """The distinct technique declarations a batch of decisions was judged with."""
    found: list[list[dict[str, Any]]] = []
    for record in records:
        if record.techniques and record.techniques not in found:
            found.append(record.techniques)
    return found[:20]


def _counts(values: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return dict(sorted(counted.items()))


# --- Training runs --------------------------------------------------------------------------


def _verdict(outcomes: Iterable[str]) -> str:
    found = set(outcomes)
    if Outcome.DENY in found:
        return Outcome.DENY
    return Outcome.ALLOW_WITH_GRANT if Outcome.ALLOW_WITH_GRANT in found else Outcome.ALLOW


def _check_external_id(actor: Actor, external_id: str) -> None:
    """A pipeline's own id for a run names one run of that pipeline's account (409 if taken;
    the unique constraint settles a race)."""
    if not external_id:
        return
    taken = TrainingRun.objects.filter(created_by=actor_account(actor), external_id=external_id)
    first = taken.values_list("pk", flat=True).first()
    if first is not None:
        raise StateConflict(
            {"external_id": f"You registered run #{first} with this external_id already"}
        )


@transaction.atomic
def training_run_register(
    *,
    actor: Actor,
    name: str,
    purpose: Purpose,
    compute_regions: list[Region],
    inputs: list[tuple[Dataset, str]],
    mode: str = TrainingRun.Mode.CENTRALIZED,
    justification: str = "",
    external_id: str = "",
    model_name: str = "",
    scopes: Sequence[str] = (),
    techniques: Sequence[Declared] = (),
) -> tuple[TrainingRun, list[CheckResult]]:
    """Register a run and judge every dataset against every compute region, with the privacy
    techniques it declares (a federated run declares federated learning)."""
    if not may(actor, "governance.add_trainingrun"):
        raise PermissionDenied("Your role may not register training runs")
    if not compute_regions:
        raise ValidationError({"compute_regions": "Name at least one compute region"})
    if not inputs:
        raise ValidationError({"datasets": "Name at least one dataset"})
    _check_external_id(actor, external_id)
    declared = _run_techniques(mode, techniques)
    run = TrainingRun.objects.create(
        name=name,
        purpose=purpose,
        mode=mode,
        justification=justification,
        external_id=external_id,
        model_name=model_name,
        scopes=sorted(set(scopes)),
        techniques=declaration_json(declared),
        verdict=Outcome.DENY,
        created_by=actor,
        created_by_name=actor_name(actor),
    )
    run.compute_regions.set(compute_regions)
    TrainingRunDataset.objects.bulk_create(
        [TrainingRunDataset(run=run, dataset=ds, dataset_version=version) for ds, version in inputs]
    )
    checks = [
        Check(
            ds.slug,
            "train",
            region.code,
            purpose.code,
            scopes=frozenset(scopes),
            techniques=declared,
        )
        for ds, _ in inputs
        for region in compute_regions
    ]
    results = locality_check(
        actor=actor, checks=checks, context=LocalityDecision.Context.TRAINING_PLAN, run=run
    )
    run.verdict = _verdict(r.decision.outcome for r in results if r.decision)
    run.save(update_fields=["verdict"])
    return run, results


def _run_techniques(mode: str, techniques: Sequence[Declared]) -> tuple[Declared, ...]:
    """A run's declaration agrees with its mode: federated learning is declared by a federated
    run, and only by one."""
    declared = tuple(techniques)
    federated = Technique.FEDERATED in technique_names(declared)
    if mode == TrainingRun.Mode.FEDERATED and not federated:
        declared = tuple(
            sorted((*declared, Declared(Technique.FEDERATED)), key=lambda d: d.technique)
        )
    if mode != TrainingRun.Mode.FEDERATED and federated:
        raise ValidationError({"mode": "A run that declares federated learning is federated"})
    return declared


def can_report_reads(user: Actor, run: TrainingRun) -> TypeGuard[User]:
    """The run's registrant, or a privacy officer, reports what it read."""
    return may(user, "governance.add_trainingrun") and (
        run.created_by_id == user.pk or may(user, "governance.change_trainingrun")
    )


def training_run_report_reads(
    *, actor: Actor, run: TrainingRun, reads: Sequence[Check]
) -> list[CheckResult]:
    """Judge what a run actually read; each read is recorded against the run."""
    if not can_report_reads(actor, run):
        raise PermissionDenied(
            "Only the run's registrant or a privacy officer may report its reads"
        )
    declared = frozenset(run.scopes)
    techniques = parse_declaration(run.techniques)
    checks = [
        Check(r.dataset, r.action, r.region, run.purpose_id, r.at, r.scopes | declared, techniques)
        for r in reads
    ]
    with transaction.atomic():
        return locality_check(
            actor=actor, checks=checks, context=LocalityDecision.Context.TRAINING_READ, run=run
        )
