"""Models trained on data being erased, or whose consent was withdrawn: one decision per
training run, made by an owner of the datasets or an officer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor
from catalog.models import Dataset
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from governance.ml.selectors import served_by_run
from governance.models import TrainingRun, TrainingRunDataset
from requests.models.consents import ConsentEvent
from requests.models.subjects import (
    OPEN_STATUSES,
    MlDecision,
    MlPropagationDecision,
    SubjectRequest,
)
from requests.subjects.access import can_manage
from requests.subjects.selectors import managed_scope
from requests.subjects.workflow import event_add, maybe_ready

OPEN = frozenset(OPEN_STATUSES)


def with_served_models(
    decisions: Iterable[MlPropagationDecision],
) -> list[MlPropagationDecision]:
    """The decisions, each with `served_models`: the registered models its run trained and
    the regions each is served from now (where the erased or withdrawn data still answers)."""
    shown = list(decisions)
    served = served_by_run(d.training_run_id for d in shown if d.training_run_id)
    for decision in shown:
        decision.served_models = served.get(decision.training_run_id or 0, [])  # type: ignore[attr-defined]
    return shown


def decisions_create(subject_request: SubjectRequest, datasets: Iterable[Dataset]) -> None:
    """One decision to make per training run that read any of the datasets to erase from."""
    decisions_open(datasets, request=subject_request)


def decisions_open(
    datasets: Iterable[Dataset],
    *,
    request: SubjectRequest | None = None,
    consent_withdrawal: ConsentEvent | None = None,
) -> int:
    """One decision to make per training run that read any of the datasets, for an erasure
    request or a consent withdrawal (one of them); how many runs were found."""
    by_run: dict[int, list[str]] = defaultdict(list)
    runs: dict[int, TrainingRun] = {}
    reads = TrainingRunDataset.objects.filter(dataset__in=datasets).select_related("run", "dataset")
    for read in reads:
        by_run[read.run_id].append(read.dataset.slug)
        runs[read.run_id] = read.run
    MlPropagationDecision.objects.bulk_create(
        [
            MlPropagationDecision(
                request=request,
                consent_withdrawal=consent_withdrawal,
                training_run=runs[run_id],
                run_name=runs[run_id].name,
                model_name=runs[run_id].model_name,
                datasets=sorted(set(slugs)),
            )
            for run_id, slugs in by_run.items()
        ],
        ignore_conflicts=True,
    )
    return len(by_run)


@transaction.atomic
def ml_decision_record(
    *, actor: Actor, decision: MlPropagationDecision, choice: str, reason: str = ""
) -> MlPropagationDecision:
    """The owner decides what happens to a model trained on data being erased, or whose
    subject withdrew consent."""
    if decision.consent_withdrawal_id is not None:
        return _withdrawal_decision(actor, decision, choice, reason)
    assert decision.request_id is not None  # one source or the other (a table constraint)
    subject_request = SubjectRequest.objects.select_for_update().get(pk=decision.request_id)
    owns = (
        isinstance(actor, User)
        and subject_request.tasks.filter(owner=actor, dataset_slug__in=decision.datasets).exists()
    )
    if not (owns or can_manage(actor, subject_request)):
        raise PermissionDenied("Only an owner of the erased datasets or a privacy officer decides")
    reason = _checked(choice, reason)
    if subject_request.status not in OPEN:
        raise StateConflict({"status": "The request is closed"})
    _decide(actor, decision, choice, reason)
    event_add(
        subject_request,
        actor=actor,
        action="ml_decision",
        comment=f"{decision.run_name}: {choice}" + (f" ({reason})" if reason else ""),
    )
    ledger_append(
        actor=actor,
        kind="subject_request.ml_decision",
        subjects=[
            subject_request.ref,
            subject_request.subject_key,
            f"training-run:{decision.training_run_id}",
        ],
        data={"decision": choice, "model": decision.model_name},
    )
    maybe_ready(subject_request)
    return decision


def _withdrawal_decision(
    actor: Actor, decision: MlPropagationDecision, choice: str, reason: str
) -> MlPropagationDecision:
    """The decision for a consent withdrawal: an owner of the dataset or a privacy officer."""
    withdrawal = ConsentEvent.objects.get(ml_decisions=decision)
    owns = isinstance(actor, User) and (
        Dataset.objects.filter(slug__in=decision.datasets, owner=actor).exists()
    )
    scope = managed_scope(actor) if isinstance(actor, User) else None
    manages = scope is not None and (
        scope.everything or withdrawal.jurisdiction_code in scope.jurisdictions
    )
    if not (owns or manages):
        raise PermissionDenied("Only an owner of the dataset or a privacy officer decides")
    reason = _checked(choice, reason)
    _decide(actor, decision, choice, reason)
    ledger_append(
        actor=actor,
        kind="consent.ml_decision",
        subjects=[
            withdrawal.ref,
            withdrawal.subject_key,
            f"training-run:{decision.training_run_id}",
        ],
        data={"decision": choice, "model": decision.model_name, "purpose": withdrawal.purpose},
    )
    return decision


def _checked(choice: str, reason: str) -> str:
    """The reason, stripped, once the choice is known and an acceptance gives one."""
    if choice not in MlDecision.values:
        raise ValidationError(
            {"decision": f"Unknown decision {choice!r}; use {', '.join(MlDecision.values)}"}
        )
    reason = (reason or "").strip()
    if choice == MlDecision.ACCEPT and not reason:
        raise ValidationError({"reason": "Accepting the risk needs a reason"})
    return reason


def _decide(actor: Actor, decision: MlPropagationDecision, choice: str, reason: str) -> None:
    """Record the choice once: a decision already made is a conflict."""
    changed = MlPropagationDecision.objects.filter(pk=decision.pk, decision="").update(
        decision=choice,
        reason=reason,
        decided_by=actor,
        decided_by_name=actor_name(actor),
        decided_at=timezone.now(),
    )
    if changed != 1:
        raise StateConflict({"decision": "This model's decision was already recorded"})
    decision.refresh_from_db()
