"""Writes in governance: locality rules, transfer grants, locality checks and training runs.

Each verb is one transaction, checks permission, and bumps the governance revision when it
changes what the policy engine sees, so every process rebuilds its index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import Country, Dataset, Region
from catalog.revisions import revision_bump
from governance.ledger.chain import ledger_append
from governance.models import (
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Outcome,
    Purpose,
    RecordedDecision,
    TrainingRun,
    TrainingRunDataset,
    TransferGrant,
)
from governance.policy.engine import evaluate
from governance.policy.facts import ACTIONS, Decision, PolicyIndex, RuleFacts, UnknownInput
from governance.policy.index import current_index, load_rules, rule_facts

GOVERNANCE = "governance"
MAX_CHECKS_PER_REQUEST = 1000
RULE_FIELDS = (
    "name",
    "description",
    "jurisdiction",
    "sensitivity",
    "category",
    "dataset",
    "actions",
    "effect",
    "priority",
    "enabled",
)


def actor_name(user) -> str:
    """How a person is shown in records that outlive their account."""
    return (user.get_full_name() or user.get_username()) if user else "system"


# --- Locality rules -------------------------------------------------------------------------


def rule_snapshot(rule: LocalityRule, regions: Iterable[str], countries: Iterable[str]) -> dict:
    return {
        "name": rule.name,
        "description": rule.description,
        "jurisdiction": rule.jurisdiction_id,
        "sensitivity": rule.sensitivity,
        "category": rule.category_id,
        "dataset": rule.dataset.slug if rule.dataset_id else None,
        "actions": sorted(rule.actions or []),
        "effect": rule.effect,
        "regions": sorted(regions),
        "countries": sorted(countries),
        "priority": rule.priority,
        "enabled": rule.enabled,
    }


def _places_overlap(a: RuleFacts, b: RuleFacts, region_country: dict[str, str]) -> bool:
    a_countries = a.countries | {region_country[r] for r in a.regions}
    b_countries = b.countries | {region_country[r] for r in b.regions}
    return bool(a.regions & b.regions or a.countries & b_countries or b.countries & a_countries)


def _conditions_overlap(a: RuleFacts, b: RuleFacts) -> bool:
    """Could one dataset and action match both rules?

    A dataset has one id and one sensitivity, so rules naming different ones never meet; it can
    be under several jurisdictions and hold several categories, so those never keep rules apart.
    """
    for x, y in ((a.dataset_id, b.dataset_id), (a.sensitivity, b.sensitivity)):
        if x and y and x != y:
            return False
    return not a.actions or not b.actions or bool(a.actions & b.actions)


def rule_conflicts(candidate: RuleFacts, others: Sequence[RuleFacts]) -> list[RuleFacts]:
    """Enabled rules at the same priority that would answer the same question the other way."""
    region_country = dict(Region.objects.values_list("code", "country_id"))
    found = []
    for other in others:
        if other.id == candidate.id or other.priority != candidate.priority:
            continue
        if not _conditions_overlap(candidate, other):
            continue
        effects = {candidate.effect, other.effect}
        if effects == {LocalityRule.Effect.DENY}:
            continue
        if effects == {LocalityRule.Effect.ALLOW_ONLY}:
            same_places = (
                candidate.regions == other.regions and candidate.countries == other.countries
            )
            if not same_places:
                found.append(other)
        elif _places_overlap(candidate, other, region_country):
            found.append(other)
    return found


def _check_rule_editor(actor) -> None:
    if not actor.has_perm("governance.change_localityrule"):
        raise PermissionDenied("Only privacy officers may write locality rules")


def _validate_rule(rule: LocalityRule, regions: list[Region], countries: list[Country]) -> None:
    if not regions and not countries:
        raise ValidationError({"regions": "Name at least one region or country"})
    unknown_actions = set(rule.actions or []) - ACTIONS
    if unknown_actions:
        raise ValidationError({"actions": f"Unknown actions: {', '.join(sorted(unknown_actions))}"})
    rule.full_clean(exclude=["regions", "countries"])
    if not rule.enabled:
        return
    facts = rule_facts(rule, [r.code for r in regions], [c.code for c in countries])
    conflicts = rule_conflicts(facts, load_rules())
    if conflicts:
        names = "; ".join(f"#{c.id} {c.name!r}" for c in conflicts)
        raise ValidationError(
            {
                "priority": f"Contradicts rule {names} at the same priority {rule.priority}: change the priority or the places"
            }
        )


def _record_rule_version(*, actor, rule: LocalityRule, action: str, regions, countries) -> None:
    """Keep the version, and put it on the ledger."""
    snapshot = rule_snapshot(rule, [r.code for r in regions], [c.code for c in countries])
    LocalityRuleVersion.objects.create(
        rule=rule if action != "deleted" else None,
        rule_ref=rule.pk,
        version=rule.version,
        action=action,
        snapshot=snapshot,
        actor=actor,
        actor_name=actor_name(actor),
    )
    subjects = [f"rule:{rule.pk}"] + (
        [f"dataset:{snapshot['dataset']}"] if snapshot["dataset"] else []
    )
    ledger_append(
        actor=actor,
        kind=f"rule.{action}",
        subjects=subjects,
        data={"rule": rule.pk, "version": rule.version, "rule_snapshot": snapshot},
    )


@transaction.atomic
def rule_create(
    *, actor, regions: list[Region], countries: list[Country], **fields
) -> LocalityRule:
    """Write a new locality rule; refused if it contradicts another at the same priority."""
    _check_rule_editor(actor)
    rule = LocalityRule(created_by=actor, version=1, **fields)
    _validate_rule(rule, regions, countries)
    rule.save()
    rule.regions.set(regions)
    rule.countries.set(countries)
    _record_rule_version(
        actor=actor, rule=rule, action="created", regions=regions, countries=countries
    )
    revision_bump(GOVERNANCE)
    return rule


@transaction.atomic
def rule_update(
    *,
    actor,
    rule: LocalityRule,
    regions: list[Region] | None = None,
    countries: list[Country] | None = None,
    **fields,
) -> LocalityRule:
    """Change a rule; the previous version stays in its history."""
    _check_rule_editor(actor)
    rule = LocalityRule.objects.select_for_update().get(pk=rule.pk)
    regions = list(rule.regions.all()) if regions is None else regions
    countries = list(rule.countries.all()) if countries is None else countries
    for name, value in fields.items():
        setattr(rule, name, value)
    _validate_rule(rule, regions, countries)
    rule.version += 1
    rule.save()
    rule.regions.set(regions)
    rule.countries.set(countries)
    _record_rule_version(
        actor=actor, rule=rule, action="updated", regions=regions, countries=countries
    )
    revision_bump(GOVERNANCE)
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: LocalityRule) -> None:
    """Remove a rule; its history stays."""
    _check_rule_editor(actor)
    rule = LocalityRule.objects.select_for_update().get(pk=rule.pk)
    regions, countries = list(rule.regions.all()), list(rule.countries.all())
    rule.version += 1
    _record_rule_version(
        actor=actor, rule=rule, action="deleted", regions=regions, countries=countries
    )
    rule.delete()
    revision_bump(GOVERNANCE)


# --- Transfer grants ------------------------------------------------------------------------


@transaction.atomic
def grant_create(
    *,
    actor,
    datasets: list[Dataset],
    destination_regions: list[Region],
    mechanism: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    purpose: Purpose | None = None,
    mechanism_detail: str = "",
    reference: str = "",
) -> TransferGrant:
    """Create the effective permission an approved exception gives; honoured from valid_from."""
    if not actor.has_perm("governance.add_transfergrant"):
        raise PermissionDenied("Only privacy officers may create transfer grants")
    if not datasets:
        raise ValidationError({"datasets": "Name at least one dataset"})
    if not destination_regions:
        raise ValidationError({"destination_regions": "Name at least one destination region"})
    if valid_until <= valid_from:
        raise ValidationError({"valid_until": "The end must be after the start"})
    grant = TransferGrant(
        purpose=purpose,
        mechanism=mechanism,
        mechanism_detail=mechanism_detail,
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=actor,
        approved_by_name=actor_name(actor),
        reference=reference,
    )
    grant.full_clean()
    grant.save()
    grant.datasets.set(datasets)
    grant.destination_regions.set(destination_regions)
    revision_bump(GOVERNANCE)
    ledger_append(
        actor=actor,
        kind="grant.created",
        subjects=[f"grant:{grant.pk}", *(f"dataset:{d.slug}" for d in datasets)],
        data={
            "grant": grant.pk,
            "datasets": sorted(d.slug for d in datasets),
            "destination_regions": sorted(r.code for r in destination_regions),
            "purpose": purpose.code if purpose else None,
            "mechanism": mechanism,
            "mechanism_detail": mechanism_detail,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
            "reference": reference,
        },
    )
    return grant


@transaction.atomic
def grant_revoke(*, actor, grant: TransferGrant, reason: str) -> TransferGrant:
    """End a grant now; the engine stops honouring it at once."""
    if not actor.has_perm("governance.change_transfergrant"):
        raise PermissionDenied("Only privacy officers may revoke transfer grants")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for revoking"})
    now = timezone.now()
    updated = TransferGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoke_reason=reason
    )
    if updated != 1:
        raise ValidationError({"grant": f"Grant #{grant.pk} is already revoked"})
    revision_bump(GOVERNANCE)
    ledger_append(
        actor=actor,
        kind="grant.revoked",
        subjects=[
            f"grant:{grant.pk}",
            *(f"dataset:{slug}" for slug in grant.datasets.values_list("slug", flat=True)),
        ],
        data={"grant": grant.pk, "revoked_at": now.isoformat(), "reason": reason},
    )
    grant.refresh_from_db()
    return grant


# --- Checks and their records ---------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One question to the engine."""

    dataset: str
    action: str
    region: str
    purpose: str
    at: dt.datetime | None = None


@dataclass(frozen=True)
class CheckResult:
    check: Check
    decision: Decision | None = None
    record: LocalityDecision | None = None
    errors: dict | None = None


def _decision_row(
    index: PolicyIndex,
    check: Check,
    decision: Decision,
    actor,
    context: str,
    run=None,
) -> LocalityDecision:
    ds = index.dataset(check.dataset)
    return LocalityDecision(
        at=check.at,
        dataset_id=ds.id,
        dataset_slug=ds.slug,
        action=check.action,
        region_code=check.region,
        country=index.regions[check.region].country,
        purpose=check.purpose,
        actor=actor,
        actor_name=actor_name(actor),
        outcome=decision.outcome,
        rule=decision.rule,
        reason=decision.reason,
        grant_id=decision.grant_id,
        policy_version=decision.policy_version,
        context=context,
        training_run=run,
    )


def locality_check(
    *, actor, checks: Sequence[Check], context: str = LocalityDecision.Context.CHECK, run=None
) -> list[CheckResult]:
    """Answer a batch of checks and record every decision in one insert; bad items get errors."""
    if len(checks) > MAX_CHECKS_PER_REQUEST:
        raise ValidationError(
            {"checks": f"At most {MAX_CHECKS_PER_REQUEST} checks per request, got {len(checks)}"}
        )
    index = current_index()
    now = timezone.now()
    answered: list[tuple[int, Check, Decision]] = []
    results: list[CheckResult] = []
    for check in checks:
        check = (
            check
            if check.at
            else Check(check.dataset, check.action, check.region, check.purpose, now)
        )
        try:
            decision = evaluate(
                index, check.dataset, check.action, check.region, check.purpose, check.at
            )
        except UnknownInput as exc:
            results.append(CheckResult(check, errors={exc.field: [exc.message]}))
            continue
        answered.append((len(results), check, decision))
        results.append(CheckResult(check, decision))
    rows = [
        _decision_row(index, check, decision, actor, context, run)
        for _, check, decision in answered
    ]
    with transaction.atomic():
        records = LocalityDecision.objects.bulk_create(rows)
        if records:
            _ledger_decisions(actor, records, context, run)
    for (position, check, decision), record in zip(answered, records, strict=True):
        results[position] = CheckResult(check, decision, record)
    return results


def _ledger_decisions(actor, records: list[LocalityDecision], context: str, run) -> None:
    """One ledger entry per batch, naming its decisions by reference (ids and counts)."""
    ids = [r.pk for r in records]
    outcomes = {o: sum(1 for r in records if r.outcome == o) for o in Outcome.values}
    denied = sorted({f"dataset:{r.dataset_slug}" for r in records if r.outcome != Outcome.ALLOW})
    ledger_append(
        actor=actor,
        kind="locality.decisions",
        subjects=[*denied[:50], *([f"run:{run.pk}"] if run else [])],
        data={
            "context": context,
            "first_decision": min(ids),
            "last_decision": max(ids),
            "count": len(ids),
            "outcomes": outcomes,
            "not_allowed": [r.pk for r in records if r.outcome != Outcome.ALLOW][:1000],
            "policy_version": records[0].policy_version,
        },
    )


# --- Training runs --------------------------------------------------------------------------


def _verdict(outcomes: Iterable[str]) -> str:
    outcomes = set(outcomes)
    if Outcome.DENY in outcomes:
        return Outcome.DENY
    return Outcome.ALLOW_WITH_GRANT if Outcome.ALLOW_WITH_GRANT in outcomes else Outcome.ALLOW


@transaction.atomic
def training_run_register(
    *,
    actor,
    name: str,
    purpose: Purpose,
    compute_regions: list[Region],
    inputs: list[tuple[Dataset, str]],
    mode: str = TrainingRun.Mode.CENTRALIZED,
    justification: str = "",
    external_id: str = "",
    model_name: str = "",
) -> tuple[TrainingRun, list[CheckResult]]:
    """Register a run and judge every dataset against every compute region."""
    if not actor.has_perm("governance.add_trainingrun"):
        raise PermissionDenied("Your role may not register training runs")
    if not compute_regions:
        raise ValidationError({"compute_regions": "Name at least one compute region"})
    if not inputs:
        raise ValidationError({"datasets": "Name at least one dataset"})
    run = TrainingRun.objects.create(
        name=name,
        purpose=purpose,
        mode=mode,
        justification=justification,
        external_id=external_id,
        model_name=model_name,
        verdict=Outcome.DENY,
        created_by=actor,
        created_by_name=actor_name(actor),
    )
    run.compute_regions.set(compute_regions)
    TrainingRunDataset.objects.bulk_create(
        [TrainingRunDataset(run=run, dataset=ds, dataset_version=version) for ds, version in inputs]
    )
    checks = [
        Check(ds.slug, "train", region.code, purpose.code)
        for ds, _ in inputs
        for region in compute_regions
    ]
    results = locality_check(
        actor=actor, checks=checks, context=LocalityDecision.Context.TRAINING_PLAN, run=run
    )
    run.verdict = _verdict(r.decision.outcome for r in results if r.decision)
    run.save(update_fields=["verdict"])
    return run, results


def can_report_reads(user, run: TrainingRun) -> bool:
    """The run's registrant, or a privacy officer, reports what it read."""
    return user.has_perm("governance.add_trainingrun") and (
        run.created_by_id == user.pk or user.has_perm("governance.change_trainingrun")
    )


def training_run_report_reads(
    *, actor, run: TrainingRun, reads: Sequence[Check]
) -> list[CheckResult]:
    """Judge what a run actually read; each read is recorded against the run."""
    if not can_report_reads(actor, run):
        raise PermissionDenied(
            "Only the run's registrant or a privacy officer may report its reads"
        )
    checks = [Check(r.dataset, r.action, r.region, run.purpose_id, r.at) for r in reads]
    with transaction.atomic():
        return locality_check(
            actor=actor, checks=checks, context=LocalityDecision.Context.TRAINING_READ, run=run
        )


# --- Recorded decisions (ADR-style, on the ledger) --------------------------------------------

DECISION_FIELDS = ("title", "context", "decision", "rationale", "alternatives", "status", "links")


def _decision_ledger_data(record: RecordedDecision) -> dict:
    return {
        "recorded_decision": record.pk,
        "version": record.version,
        **{name: getattr(record, name) for name in DECISION_FIELDS},
        "datasets": sorted(record.datasets.values_list("slug", flat=True)),
        "rules": sorted(record.rules.values_list("pk", flat=True)),
    }


def _decision_subjects(record: RecordedDecision) -> list[str]:
    return [
        f"decision:{record.pk}",
        *(f"dataset:{slug}" for slug in record.datasets.values_list("slug", flat=True)),
        *(f"rule:{pk}" for pk in record.rules.values_list("pk", flat=True)),
        *(str(link) for link in record.links if ":" in str(link) and " " not in str(link)),
    ]


def _check_decision_writer(actor) -> None:
    if not actor.has_perm("governance.add_recordeddecision"):
        raise PermissionDenied("Only privacy officers may record decisions")


@transaction.atomic
def recorded_decision_create(*, actor, datasets=(), rules=(), **fields) -> RecordedDecision:
    """Write a decision down; it is a ledger entry from the start."""
    _check_decision_writer(actor)
    record = RecordedDecision(author=actor, author_name=actor_name(actor), **fields)
    record.full_clean()
    record.save()
    record.datasets.set(datasets)
    record.rules.set(rules)
    ledger_append(
        actor=actor,
        kind="decision.recorded",
        subjects=_decision_subjects(record),
        data=_decision_ledger_data(record),
    )
    return record


@transaction.atomic
def recorded_decision_update(
    *, actor, record: RecordedDecision, datasets=None, rules=None, **fields
) -> RecordedDecision:
    """Amend a recorded decision; the new version goes on the ledger, the old one stays there."""
    _check_decision_writer(actor)
    record = RecordedDecision.objects.select_for_update().get(pk=record.pk)
    for name, value in fields.items():
        setattr(record, name, value)
    record.version += 1
    record.full_clean()
    record.save()
    if datasets is not None:
        record.datasets.set(datasets)
    if rules is not None:
        record.rules.set(rules)
    ledger_append(
        actor=actor,
        kind="decision.updated",
        subjects=_decision_subjects(record),
        data=_decision_ledger_data(record),
    )
    return record


def purposes_changed() -> None:
    """The set of purposes changed (admin): every process must learn the new list."""
    revision_bump(GOVERNANCE)
