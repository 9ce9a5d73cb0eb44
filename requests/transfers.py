"""The transfer-exception workflow: request, review, approval into a grant, activation, expiry.

Every step goes through `exception_transition`, which checks the one table of allowed moves,
moves the status with a compare-and-swap, writes the timeline and the ledger in the same
transaction, and tells people after the commit. An approval creates the transfer grant in that
same transaction: the grant and the status move together or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, Jurisdiction, Regime, Region, Sensitivity
from governance.errors import StateConflict
from governance.ledger.chain import ledger_append
from governance.models import Purpose, TrainingRun, TransferMechanism
from governance.notifications import notify, officers_for
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from governance.services import actor_name, grant_create, grant_revoke
from requests.models import (
    ExceptionApproval,
    ExceptionEvent,
    ExceptionReminder,
    ExceptionStatus,
    RiskLevel,
    SupplementaryMeasure,
    TransferException,
    TransferExceptionUserObjectPermission,
)

S = ExceptionStatus
REQUESTER, REVIEWER, SYSTEM = "requester", "reviewer", "system"
# The actions the engine is asked about when judging what an exception would change.
JUDGED_ACTIONS = ("transfer", "process", "train")
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
OPEN = (S.SUBMITTED, S.UNDER_REVIEW)
FOUR_EYES_MECHANISMS = {
    TransferMechanism.ART49,
    TransferMechanism.PIPL_STANDARD_CONTRACT,
    TransferMechanism.PIPL_CERTIFICATION,
    TransferMechanism.PIPL_SECURITY_ASSESSMENT,
}


@dataclass(frozen=True)
class Move:
    sources: tuple[str, ...]
    target: str
    by: str  # requester, reviewer or system


# The one table of allowed transitions. `approve` lands on approved (or active when the
# start has come) once enough people approved; before that it moves to under review.
TRANSITIONS: dict[str, Move] = {
    "submit": Move(EDITABLE, S.SUBMITTED, REQUESTER),
    "withdraw": Move((*EDITABLE, *OPEN), S.WITHDRAWN, REQUESTER),
    "start_review": Move((S.SUBMITTED,), S.UNDER_REVIEW, REVIEWER),
    "request_changes": Move(OPEN, S.CHANGES_REQUESTED, REVIEWER),
    "approve": Move(OPEN, S.APPROVED, REVIEWER),
    "reject": Move(OPEN, S.REJECTED, REVIEWER),
    "revoke": Move((S.APPROVED, S.ACTIVE), S.REVOKED, REVIEWER),
    "activate": Move((S.APPROVED,), S.ACTIVE, SYSTEM),
    "expire": Move((S.APPROVED, S.ACTIVE), S.EXPIRED, SYSTEM),
    # Its whole period passed before anyone decided: it can no longer be approved.
    "lapse": Move((*EDITABLE, *OPEN), S.EXPIRED, SYSTEM),
}
# A decision by a reviewer needs a comment saying why, except an approval.
NEEDS_COMMENT = {"request_changes", "reject", "revoke"}


# --- Who may do what -------------------------------------------------------------------------


def is_reviewer(user, exception: TransferException) -> bool:
    """A privacy officer given this exception to review when it was submitted."""
    return bool(user and user.is_authenticated) and user.has_perm(
        "workflows.review_transferexception", exception
    )


def may_view(user, exception: TransferException) -> bool:
    return (
        exception.requester_id == user.pk
        or user.has_perm("workflows.view_transferexception")
        or user.has_perm("workflows.view_transferexception", exception)
    )


def may_request(user) -> bool:
    """Data owners and engineers ask for exceptions (privacy officers too, for their teams)."""
    return user.has_perm("workflows.add_transferexception")


def may_act(user, exception: TransferException, action: str) -> bool:
    """Whether this person may take this step on this exception, whatever its state."""
    move = TRANSITIONS.get(action)
    if move is None:
        return False
    try:
        _check_actor(user, exception, action, move.by)
    except PermissionDenied:
        return False
    return True


def _check_actor(actor, exception: TransferException, action: str, by: str) -> None:
    if by == SYSTEM:
        if actor is not None:
            raise PermissionDenied(f"{action} is done by Locus itself, when its time comes")
        return
    if by == REQUESTER and exception.requester_id != actor.pk:
        raise PermissionDenied(f"Only the requester may {action.replace('_', ' ')} this exception")
    if by == REVIEWER:
        if exception.requester_id == actor.pk:
            raise PermissionDenied("The requester can never review their own exception")
        if not is_reviewer(actor, exception):
            raise PermissionDenied(
                "Only the privacy officers responsible for its source jurisdictions may "
                f"{action.replace('_', ' ')} this exception"
            )


# --- Facts an exception is judged on ---------------------------------------------------------


def source_jurisdictions(exception: TransferException) -> set[str]:
    """The laws the data leaves: where the datasets are stored and whose people they describe,
    and the jurisdictions of the source regions."""
    datasets = exception.datasets.all()
    ids = {d.jurisdiction_id for d in datasets}
    ids |= set(
        Dataset.subject_jurisdictions.through.objects.filter(dataset__in=datasets).values_list(
            "jurisdiction_id", flat=True
        )
    )
    ids |= set(exception.source_regions.values_list("jurisdiction_id", flat=True))
    return ids


def needs_four_eyes(exception: TransferException) -> bool:
    """Restricted data, a PIPL transfer or an Art. 49 derogation needs two approvers."""
    if exception.mechanism in FOUR_EYES_MECHANISMS:
        return True
    datasets = exception.datasets.all()
    if any(d.sensitivity == Sensitivity.RESTRICTED for d in datasets):
        return True
    return Jurisdiction.objects.filter(
        pk__in=source_jurisdictions(exception), regime=Regime.PIPL
    ).exists()


def assess_risk(exception: TransferException, four_eyes: bool) -> str:
    if four_eyes or exception.tia_risk_level == RiskLevel.HIGH:
        return RiskLevel.HIGH
    has_personal = exception.datasets.filter(personal_data_categories__isnull=False).exists()
    if has_personal or exception.tia_risk_level == RiskLevel.MEDIUM:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


@dataclass(frozen=True)
class PairAnswer:
    """What the engine says, now, about one dataset in one destination."""

    dataset: str
    region: str
    outcome: str
    rule: str
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome != "deny"


def rule_answers(
    *,
    datasets: Iterable[Dataset],
    destination_regions: Iterable[Region],
    purpose: Purpose,
    at: dt.datetime,
    action: str = "transfer",
) -> list[PairAnswer]:
    """The engine's answer for each dataset and destination: the diff between what is asked and
    what the rules allow (a grant an exception already made counts: it shows as allowed)."""
    index = current_index()
    answers = []
    for ds in datasets:
        for region in destination_regions:
            decision = evaluate(index, ds.pk, action, region.code, purpose.pk, at)
            answers.append(
                PairAnswer(ds.slug, region.code, decision.outcome, decision.rule, decision.reason)
            )
    return answers


def already_allowed(
    *,
    datasets: list[Dataset],
    destination_regions: list[Region],
    purpose: Purpose,
    at: dt.datetime,
) -> list[str]:
    """Destinations where the rules already allow every judged action on every dataset."""
    free = []
    for region in destination_regions:
        if all(
            answer.allowed
            for action in JUDGED_ACTIONS
            for answer in rule_answers(
                datasets=datasets,
                destination_regions=[region],
                purpose=purpose,
                at=at,
                action=action,
            )
        ):
            free.append(region.code)
    return free


# --- Validation ------------------------------------------------------------------------------


def max_days(mechanism: str) -> int:
    caps = settings.EXCEPTION_MAX_DAYS
    return caps.get(mechanism, caps["default"])


def _validate_terms(fields: dict) -> None:
    """The checks that need no database: period, cap, mechanism details, assessment."""
    errors: dict[str, str] = {}
    starts_at, ends_at = fields["starts_at"], fields["ends_at"]
    mechanism = fields["mechanism"]
    if ends_at <= starts_at:
        errors["ends_at"] = "The end must be after the start"
    elif ends_at - starts_at > dt.timedelta(days=max_days(mechanism)):
        errors["ends_at"] = (
            f"An exception on {TransferMechanism(mechanism).label} lasts at most "
            f"{max_days(mechanism)} days; ask for a shorter period"
        )
    if mechanism == TransferMechanism.SCC and not fields.get("scc_module"):
        errors["scc_module"] = "Name the SCC module (Decision (EU) 2021/914)"
    if mechanism != TransferMechanism.SCC and fields.get("scc_module"):
        errors["scc_module"] = "An SCC module only goes with standard contractual clauses"
    if mechanism == TransferMechanism.ART49 and not fields.get("derogation"):
        errors["derogation"] = "Name the Art. 49 derogation relied on"
    if mechanism != TransferMechanism.ART49 and fields.get("derogation"):
        errors["derogation"] = "A derogation only goes with an Art. 49 transfer"
    risks = fields.get("tia_risks", [])
    if not isinstance(risks, list) or not all(isinstance(r, str) and r.strip() for r in risks):
        errors["tia_risks"] = "A list of the risks found, each a non-empty text"
    measures = fields.get("tia_measures", [])
    unknown = (
        [m for m in measures if m not in SupplementaryMeasure.values]
        if isinstance(measures, list)
        else ["?"]
    )
    if unknown:
        errors["tia_measures"] = (
            f"Unknown measures {unknown}; use {', '.join(SupplementaryMeasure.values)}"
        )
    if not str(fields.get("justification", "")).strip():
        errors["justification"] = "Say why the work needs this exception"
    if errors:
        raise ValidationError(errors)


def _validate_places(exception: TransferException, at: dt.datetime) -> None:
    datasets = list(exception.datasets.all())
    destinations = list(exception.destination_regions.all())
    errors = {}
    if not datasets:
        errors["datasets"] = "Name at least one dataset"
    if not destinations:
        errors["destination_regions"] = "Name at least one destination region"
    if errors:
        raise ValidationError(errors)
    free = already_allowed(
        datasets=datasets, destination_regions=destinations, purpose=exception.purpose, at=at
    )
    if free:
        raise ValidationError(
            {
                "destination_regions": (
                    f"The rules already allow this work in {', '.join(free)}: "
                    "no exception is needed there"
                )
            }
        )


# --- Writes ----------------------------------------------------------------------------------

TERM_FIELDS = (
    "title",
    "purpose",
    "mechanism",
    "scc_module",
    "derogation",
    "mechanism_detail",
    "tia_destination_laws",
    "tia_risks",
    "tia_risk_level",
    "tia_measures",
    "starts_at",
    "ends_at",
    "justification",
)


def default_title(datasets: list[Dataset], destination_regions: list[Region]) -> str:
    named = ", ".join(d.slug for d in datasets[:3]) + (" and more" if len(datasets) > 3 else "")
    return f"{named} to {', '.join(r.code for r in destination_regions[:3])}"[:200]


def default_period(start: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    start = start or timezone.now()
    return start, start + dt.timedelta(days=settings.EXCEPTION_DEFAULT_DAYS)


def _set_places(
    exception: TransferException,
    datasets: list[Dataset] | None,
    source_regions: list[Region] | None,
    destination_regions: list[Region] | None,
    training_runs: list[TrainingRun] | None,
) -> None:
    if datasets is not None:
        exception.datasets.set(datasets)
    if source_regions is None and datasets is not None:
        source_regions = []  # the datasets changed: so did where they are stored
    if source_regions is not None:
        # Not named: the regions the datasets are stored in.
        exception.source_regions.set(
            source_regions
            or Region.objects.filter(stored_datasets__in=exception.datasets.all()).distinct()
        )
    if destination_regions is not None:
        exception.destination_regions.set(destination_regions)
    if training_runs is not None:
        exception.training_runs.set(training_runs)


@transaction.atomic
def exception_create(
    *,
    actor,
    datasets: list[Dataset],
    destination_regions: list[Region],
    source_regions: list[Region] | None = None,
    training_runs: list[TrainingRun] | None = None,
    submit: bool = False,
    **terms,
) -> TransferException:
    """File a draft exception (and submit it at once when asked)."""
    if not may_request(actor):
        raise PermissionDenied("Data owners, engineers and privacy officers ask for exceptions")
    unknown = set(terms) - set(TERM_FIELDS)
    if unknown:
        raise ValidationError({field: "Not a field of an exception" for field in unknown})
    if terms.get("starts_at") is None:
        terms["starts_at"] = timezone.now()
    if terms.get("ends_at") is None:
        terms["ends_at"] = default_period(terms["starts_at"])[1]
    if not str(terms.get("title") or "").strip():
        terms["title"] = default_title(datasets, destination_regions)
    _validate_terms(terms)
    exception = TransferException(requester=actor, **terms)
    exception.full_clean(exclude=["requester"])
    exception.save()
    _set_places(exception, datasets, source_regions or [], destination_regions, training_runs)
    _validate_places(exception, exception.starts_at)
    _event(exception, actor, "create", "", S.DRAFT, "")
    ledger_append(
        actor=actor,
        kind="exception.created",
        subjects=_subjects(exception),
        data=_ledger_terms(exception),
    )
    if submit:
        exception = exception_transition(actor=actor, exception=exception, action="submit")
    return exception


@transaction.atomic
def exception_update(
    *,
    actor,
    exception: TransferException,
    datasets: list[Dataset] | None = None,
    destination_regions: list[Region] | None = None,
    source_regions: list[Region] | None = None,
    training_runs: list[TrainingRun] | None = None,
    **terms,
) -> TransferException:
    """Change a draft, or an exception sent back for changes; only its requester may."""
    exception = TransferException.objects.select_for_update().get(pk=exception.pk)
    if exception.requester_id != actor.pk:
        raise PermissionDenied("Only the requester may change this exception")
    if exception.status not in EDITABLE:
        raise StateConflict(
            {"status": f"A {exception.get_status_display().lower()} exception cannot be changed"}
        )
    unknown = set(terms) - set(TERM_FIELDS)
    if unknown:
        raise ValidationError({field: "Not a field of an exception" for field in unknown})
    for field, value in terms.items():
        setattr(exception, field, value)
    if not exception.title.strip():
        exception.title = default_title(
            datasets if datasets is not None else list(exception.datasets.all()),
            destination_regions
            if destination_regions is not None
            else list(exception.destination_regions.all()),
        )
    _validate_terms({field: getattr(exception, field) for field in TERM_FIELDS})
    exception.full_clean(exclude=["requester"])
    exception.save()
    _set_places(exception, datasets, source_regions, destination_regions, training_runs)
    _validate_places(exception, exception.starts_at)
    _event(exception, actor, "edit", exception.status, exception.status, "")
    ledger_append(
        actor=actor,
        kind="exception.edited",
        subjects=_subjects(exception),
        data=_ledger_terms(exception),
    )
    return exception


def exception_transition(
    *, actor, exception: TransferException, action: str, comment: str = ""
) -> TransferException:
    """Take one step of the workflow, or refuse it naming why; nothing is half done."""
    move = TRANSITIONS.get(action)
    if move is None:
        raise ValidationError({"action": f"Unknown step {action!r}; one of {sorted(TRANSITIONS)}"})
    with transaction.atomic():
        # Locked so that two approvals of a four-eyes exception are counted one after the other.
        exception = TransferException.objects.select_for_update().get(pk=exception.pk)
        _check_actor(actor, exception, action, move.by)  # who may act first, then what they send
        if action in NEEDS_COMMENT and not comment.strip():
            raise ValidationError(
                {"comment": f"Say why ({action.replace('_', ' ')} needs a reason)"}
            )
        if exception.status not in move.sources:
            raise StateConflict(
                {
                    "status": f"Cannot {action.replace('_', ' ')} an exception that is "
                    f"{exception.get_status_display().lower()}"
                }
            )
        step = _STEPS.get(action, _plain_step)
        return step(actor, exception, action, move, comment)


def _plain_step(actor, exception, action, move, comment) -> TransferException:
    _move(exception, move.target, actor, action, comment)
    return exception


def _submit_step(actor, exception, action, move, comment) -> TransferException:
    now = timezone.now()
    if exception.ends_at <= now:
        raise ValidationError({"ends_at": "The requested period has already ended"})
    _validate_places(exception, max(exception.starts_at, now))
    four_eyes = needs_four_eyes(exception)
    reviewers = list(
        officers_for(source_jurisdictions(exception)).exclude(pk=exception.requester_id)
    )
    if not reviewers:
        raise ValidationError(
            {
                "datasets": "No privacy officer answers for these datasets' jurisdictions; ask an "
                "administrator to name one"
            }
        )
    _grant_review(exception, reviewers)
    TransferException.objects.filter(pk=exception.pk).update(
        approvals_required=2 if four_eyes else 1,
        risk=assess_risk(exception, four_eyes),
        review_round=exception.review_round + 1,
        submitted_at=now,
    )
    exception.refresh_from_db()
    _move(exception, move.target, actor, action, comment)
    _tell(
        reviewers,
        exception,
        "exception.submitted",
        f"{exception.reference} waits for your review: {exception.title}",
        f"{actor_name(exception.requester)} asks for {exception.get_mechanism_display()} from "
        f"{exception.starts_at:%Y-%m-%d} to {exception.ends_at:%Y-%m-%d}"
        + (" (needs two approvers)" if four_eyes else ""),
    )
    return exception


def _approve_step(actor, exception, action, move, comment) -> TransferException:
    try:
        with transaction.atomic():
            ExceptionApproval.objects.create(
                exception=exception,
                review_round=exception.review_round,
                approver=actor,
                approver_name=actor_name(actor),
            )
    except IntegrityError:
        raise StateConflict(
            {
                "approver": "You have already approved it; the second approval must come from "
                "another privacy officer"
            }
        ) from None
    approvals = list(exception.approvals.filter(review_round=exception.review_round))
    if len(approvals) < exception.approvals_required:
        target = S.UNDER_REVIEW
        _move(exception, target, actor, "approve", comment, partial=True)
        return exception
    now = timezone.now()
    if exception.ends_at <= now:
        raise StateConflict({"ends_at": "The requested period has ended; it cannot be approved"})
    grant = grant_create(
        actor=actor,
        datasets=list(exception.datasets.all()),
        destination_regions=list(exception.destination_regions.all()),
        purpose=exception.purpose,
        mechanism=exception.mechanism,
        mechanism_detail=mechanism_detail(exception),
        # Never honoured before it was approved, so a replay of the past stays true.
        valid_from=max(exception.starts_at, now),
        valid_until=exception.ends_at,
        reference=exception.reference,
    )
    TransferException.objects.filter(pk=exception.pk).update(grant=grant, decided_at=now)
    exception.refresh_from_db()
    target = S.ACTIVE if grant.valid_from <= now else S.APPROVED
    _move(exception, target, actor, action, comment)
    names = " and ".join(a.approver_name for a in approvals)
    _tell(
        [exception.requester],
        exception,
        "exception.approved",
        f"{exception.reference} approved by {names}",
        f"Transfer grant #{grant.pk} is honoured from {grant.valid_from:%Y-%m-%d %H:%M} "
        f"until {grant.valid_until:%Y-%m-%d %H:%M} UTC.",
    )
    return exception


def _decision_step(actor, exception, action, move, comment) -> TransferException:
    TransferException.objects.filter(pk=exception.pk).update(
        decided_at=timezone.now() if action == "reject" else None
    )
    _move(exception, move.target, actor, action, comment)
    verb = {"reject": "rejected", "request_changes": "sent back for changes"}[action]
    _tell(
        [exception.requester],
        exception,
        f"exception.{action}",
        f"{exception.reference} {verb} by {actor_name(actor)}",
        comment,
    )
    return exception


def _revoke_step(actor, exception, action, move, comment) -> TransferException:
    if exception.grant_id and exception.grant.revoked_at is None:
        grant_revoke(actor=actor, grant=exception.grant, reason=comment)
    _move(exception, move.target, actor, action, comment)
    _tell(
        [exception.requester, *_reviewers(exception)],
        exception,
        "exception.revoked",
        f"{exception.reference} revoked by {actor_name(actor)}",
        comment,
    )
    return exception


def _expire_step(actor, exception, action, move, comment) -> TransferException:
    _move(exception, move.target, actor, action, comment or "Its end time has come")
    _tell(
        [exception.requester, *_reviewers(exception)],
        exception,
        "exception.expired",
        f"{exception.reference} has expired",
        f"Its transfer grant ended at {exception.ends_at:%Y-%m-%d %H:%M} UTC.",
    )
    return exception


def _lapse_step(actor, exception, action, move, comment) -> TransferException:
    _move(exception, move.target, actor, action, "Its period ended before a decision")
    _tell(
        [exception.requester, *_reviewers(exception)],
        exception,
        "exception.lapsed",
        f"{exception.reference} lapsed undecided",
        f"Its requested period ended at {exception.ends_at:%Y-%m-%d %H:%M} UTC before it was "
        "approved; ask again with a new period if the work still needs it.",
    )
    return exception


_STEPS = {
    "submit": _submit_step,
    "approve": _approve_step,
    "reject": _decision_step,
    "request_changes": _decision_step,
    "revoke": _revoke_step,
    "expire": _expire_step,
    "lapse": _lapse_step,
}


def _move(
    exception: TransferException,
    target: str,
    actor,
    action: str,
    comment: str,
    *,
    partial: bool = False,
) -> None:
    """Compare-and-swap the status, then write the timeline and the ledger."""
    current = exception.status
    moved = TransferException.objects.filter(pk=exception.pk, status=current).update(
        status=target, updated_at=timezone.now()
    )
    if moved != 1:
        raise StateConflict({"status": "The exception changed meanwhile; reload and try again"})
    exception.status = target
    _event(exception, actor, action, current, target, comment)
    ledger_append(
        actor=actor,
        kind="exception.approval" if partial else f"exception.{target}",
        subjects=_subjects(exception),
        data={
            "exception": exception.pk,
            "action": action,
            "from": current,
            "to": target,
            "comment": comment,
            "grant": exception.grant_id,
            "review_round": exception.review_round,
        },
    )


def _event(exception, actor, action: str, from_status: str, to_status: str, comment: str) -> None:
    ExceptionEvent.objects.create(
        exception=exception,
        actor=actor,
        actor_name=actor_name(actor),
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
    )


@transaction.atomic
def exception_comment(*, actor, exception: TransferException, comment: str) -> ExceptionEvent:
    """A remark on the timeline by the requester or a reviewer (no change of state)."""
    if not (exception.requester_id == actor.pk or is_reviewer(actor, exception)):
        raise PermissionDenied("Only the requester and its reviewers comment on an exception")
    if not comment.strip():
        raise ValidationError({"comment": "Write something"})
    _event(exception, actor, "comment", exception.status, exception.status, comment)
    return exception.events.order_by("-id").first()


def _grant_review(exception: TransferException, reviewers: list) -> None:
    """Give these privacy officers the object permissions to see and decide this exception."""
    perms = Permission.objects.filter(
        content_type__app_label="workflows",
        codename__in=["view_transferexception", "review_transferexception"],
    )
    TransferExceptionUserObjectPermission.objects.bulk_create(
        [
            TransferExceptionUserObjectPermission(
                user=user, permission=perm, content_object=exception
            )
            for user in reviewers
            for perm in perms
        ],
        ignore_conflicts=True,
    )


def _reviewers(exception: TransferException) -> list:
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(
            transferexceptionuserobjectpermission__content_object=exception,
            transferexceptionuserobjectpermission__permission__codename="review_transferexception",
        )
        .distinct()
    )


def _tell(recipients, exception: TransferException, kind: str, title: str, body: str) -> None:
    notify(
        recipients=recipients,
        kind=kind,
        title=title,
        body=body,
        url=reverse("workflows:exception-detail", args=[exception.pk]),
    )


def mechanism_detail(exception: TransferException) -> str:
    parts = [
        exception.get_scc_module_display() if exception.scc_module else "",
        exception.get_derogation_display() if exception.derogation else "",
        exception.mechanism_detail,
    ]
    return "; ".join(p for p in parts if p)[:200]


def _subjects(exception: TransferException) -> list[str]:
    return [
        f"exception:{exception.pk}",
        *(f"dataset:{slug}" for slug in exception.datasets.values_list("slug", flat=True)),
    ]


def _ledger_terms(exception: TransferException) -> dict:
    return {
        "exception": exception.pk,
        "datasets": sorted(exception.datasets.values_list("slug", flat=True)),
        "source_regions": sorted(exception.source_regions.values_list("code", flat=True)),
        "destination_regions": sorted(exception.destination_regions.values_list("code", flat=True)),
        "purpose": exception.purpose_id,
        "mechanism": exception.mechanism,
        "mechanism_detail": mechanism_detail(exception),
        "starts_at": exception.starts_at.isoformat(),
        "ends_at": exception.ends_at.isoformat(),
        "tia_risk_level": exception.tia_risk_level,
        "tia_measures": sorted(exception.tia_measures),
    }


# --- Time: activation, expiry, reminders -----------------------------------------------------


def _due(statuses: tuple[str, ...], condition: Q) -> list[int]:
    """Exceptions whose time has come. Two workers may list the same ones: the row lock and
    the compare-and-swap in exception_transition let one of them take each step."""
    rows = TransferException.objects.filter(condition, status__in=statuses).order_by("ends_at")
    return list(rows.values_list("pk", flat=True)[:500])


def _try_step(exception_id: int, action: str) -> bool:
    """One exception's step in its own transaction; False when another worker did it first."""
    try:
        exception_transition(
            actor=None, exception=TransferException(pk=exception_id), action=action
        )
    except StateConflict:
        return False
    return True


def exceptions_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Expire what has ended (and let lapse what ended undecided), activate what has started,
    send the expiry notices due.

    Safe to run on several workers at once: each step is a compare-and-swap in its own
    transaction, so a step is done once, and a worker that dies leaves each exception either
    moved (with its ledger entry and notices) or untouched for the next run."""
    now = now or timezone.now()
    done = {"expired": 0, "lapsed": 0, "activated": 0, "reminded": 0}
    for pk in _due((S.APPROVED, S.ACTIVE), Q(ends_at__lte=now)):
        done["expired"] += _try_step(pk, "expire")
    for pk in _due((*EDITABLE, *OPEN), Q(ends_at__lte=now)):
        done["lapsed"] += _try_step(pk, "lapse")
    for pk in _due((S.APPROVED,), Q(grant__valid_from__lte=now, ends_at__gt=now)):
        done["activated"] += _try_step(pk, "activate")
    for days in sorted(settings.EXCEPTION_EXPIRY_NOTICE_DAYS):
        window = Q(ends_at__gt=now, ends_at__lte=now + dt.timedelta(days=days))
        for pk in _due((S.ACTIVE, S.APPROVED), window & ~Q(reminders__days_before=days)):
            done["reminded"] += _remind(pk, days)
    return done


def _remind(exception_id: int, days: int) -> bool:
    """Tell requester and reviewers that an exception ends soon; the reminder row makes it once."""
    try:
        with transaction.atomic():
            exception = TransferException.objects.get(pk=exception_id)
            ExceptionReminder.objects.create(exception=exception, days_before=days)
            _tell(
                [exception.requester, *_reviewers(exception)],
                exception,
                "exception.expiring",
                f"{exception.reference} ends within {days} day{'s' if days != 1 else ''}",
                f"Its transfer grant ends at {exception.ends_at:%Y-%m-%d %H:%M} UTC; ask for a "
                "new exception if the work goes on.",
            )
    except IntegrityError:
        return False
    return True


# --- Reads shared by the API and the pages ---------------------------------------------------


def exceptions_visible_to(user) -> QuerySet[TransferException]:
    """Auditors and executives see all; privacy officers the ones given them; people their own."""
    rows = TransferException.objects.select_related("requester", "purpose", "grant")
    if user.has_perm("workflows.view_transferexception"):
        return rows
    given = TransferExceptionUserObjectPermission.objects.filter(
        user=user, permission__codename="view_transferexception"
    ).values("content_object_id")
    return rows.filter(Q(requester=user) | Q(pk__in=given))
