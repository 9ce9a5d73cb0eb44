"""The transfer exception's verbs: file, change, take a step (submit, review, approve into a
grant, reject, revoke, expire, lapse), comment; and the periodic run of what time brings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.actors import Actor
from catalog.models import Dataset, Region
from governance.errors import StateConflict
from governance.grants.services import grant_create, grant_revoke
from governance.ledger.chain import actor_name, ledger_append
from governance.models import TrainingRun
from governance.notifications.services import officers_for
from requests.models import (
    ExceptionApproval,
    ExceptionEvent,
    ExceptionReminder,
    TransferException,
)
from requests.transfers.assessment import (
    assess_risk,
    needs_four_eyes,
    source_jurisdictions,
    validate_places,
    validate_terms,
)
from requests.transfers.workflow import (
    ACTED_BY,
    EDITABLE,
    NEEDS_COMMENT,
    OPEN,
    TRANSITIONS,
    S,
    check_actor,
    event_add,
    ledger_subjects,
    ledger_terms,
    may_comment,
    may_request,
    mechanism_detail,
    move_status,
    review_grant,
    reviewers_of,
    tell,
)

# --- Writes ----------------------------------------------------------------------------------

# What a requester writes, defined here once: the API's serializer and the page's form take
# their fields from these.
PLACE_FIELDS = ("datasets", "source_regions", "destination_regions", "training_runs")
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
    actor: Actor,
    datasets: list[Dataset],
    destination_regions: list[Region],
    source_regions: list[Region] | None = None,
    training_runs: list[TrainingRun] | None = None,
    submit: bool = False,
    **terms: Any,
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
    validate_terms(terms)
    exception = TransferException(requester=actor, **terms)
    exception.full_clean(exclude=["requester"])
    exception.save()
    _set_places(exception, datasets, source_regions or [], destination_regions, training_runs)
    validate_places(exception, exception.starts_at)
    event_add(exception, actor, "create", "", S.DRAFT, "")
    ledger_append(
        actor=actor,
        kind="exception.created",
        subjects=ledger_subjects(exception),
        data=ledger_terms(exception),
    )
    if submit:
        exception = exception_transition(actor=actor, exception=exception, action="submit")
    return exception


@transaction.atomic
def exception_update(
    *,
    actor: Actor,
    exception: TransferException,
    datasets: list[Dataset] | None = None,
    destination_regions: list[Region] | None = None,
    source_regions: list[Region] | None = None,
    training_runs: list[TrainingRun] | None = None,
    **terms: Any,
) -> TransferException:
    """Change a draft, or an exception sent back for changes; only its requester may."""
    exception = TransferException.objects.select_for_update().get(pk=exception.pk)
    if actor is None or exception.requester_id != actor.pk:
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
    validate_terms({field: getattr(exception, field) for field in TERM_FIELDS})
    exception.full_clean(exclude=["requester"])
    exception.save()
    _set_places(exception, datasets, source_regions, destination_regions, training_runs)
    validate_places(exception, exception.starts_at)
    event_add(exception, actor, "edit", exception.status, exception.status, "")
    ledger_append(
        actor=actor,
        kind="exception.edited",
        subjects=ledger_subjects(exception),
        data=ledger_terms(exception),
    )
    return exception


def exception_transition(
    *, actor: Actor, exception: TransferException, action: str, comment: str = ""
) -> TransferException:
    """Take one step of the workflow, or refuse it naming why; nothing is half done."""
    move = TRANSITIONS.get(action)
    if move is None:
        raise ValidationError({"action": f"Unknown step {action!r}; one of {sorted(TRANSITIONS)}"})
    with transaction.atomic():
        # Locked so that two approvals of a four-eyes exception are counted one after the other.
        exception = TransferException.objects.select_for_update().get(pk=exception.pk)
        # Who may act first, then what they send.
        person = check_actor(actor, exception, action, ACTED_BY[action])
        if action in NEEDS_COMMENT and not comment.strip():
            raise ValidationError(
                {"comment": f"Say why ({action.replace('_', ' ')} needs a reason)"}
            )
        if not move.allows(exception.status):
            raise StateConflict(
                {
                    "status": f"Cannot {action.replace('_', ' ')} an exception that is "
                    f"{exception.get_status_display().lower()}"
                }
            )
        step = _STEPS.get(action, _plain_step)
        # Each step of this table names its status (a target of None would keep it).
        return step(person, exception, action, move.target or exception.status, comment)


def _plain_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    move_status(exception, target, actor, action, comment)
    return exception


def _submit_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    now = timezone.now()
    if exception.ends_at <= now:
        raise ValidationError({"ends_at": "The requested period has already ended"})
    validate_places(exception, max(exception.starts_at, now))
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
    review_grant(exception, reviewers)
    TransferException.objects.filter(pk=exception.pk).update(
        approvals_required=2 if four_eyes else 1,
        risk=assess_risk(exception, four_eyes),
        review_round=exception.review_round + 1,
        submitted_at=now,
    )
    exception.refresh_from_db()
    move_status(exception, target, actor, action, comment)
    tell(
        reviewers,
        exception,
        "exception.submitted",
        f"{exception.reference} waits for your review: {exception.title}",
        f"{actor_name(exception.requester)} asks for {exception.get_mechanism_display()} from "
        f"{exception.starts_at:%Y-%m-%d} to {exception.ends_at:%Y-%m-%d}"
        + (" (needs two approvers)" if four_eyes else ""),
    )
    return exception


def _approve_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    if actor is None:  # check_actor already lets only a reviewer approve
        raise PermissionDenied("Only a privacy officer may approve this exception")
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
        move_status(exception, target, actor, "approve", comment, partial=True)
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
    move_status(exception, target, actor, action, comment)
    names = " and ".join(a.approver_name for a in approvals)
    tell(
        [exception.requester],
        exception,
        "exception.approved",
        f"{exception.reference} approved by {names}",
        f"Transfer grant #{grant.pk} is honoured from {grant.valid_from:%Y-%m-%d %H:%M} "
        f"until {grant.valid_until:%Y-%m-%d %H:%M} UTC.",
    )
    return exception


def _decision_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    TransferException.objects.filter(pk=exception.pk).update(
        decided_at=timezone.now() if action == "reject" else None
    )
    move_status(exception, target, actor, action, comment)
    verb = {"reject": "rejected", "request_changes": "sent back for changes"}[action]
    tell(
        [exception.requester],
        exception,
        f"exception.{action}",
        f"{exception.reference} {verb} by {actor_name(actor)}",
        comment,
    )
    return exception


def _revoke_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    grant = exception.grant
    if grant is not None and grant.revoked_at is None:
        grant_revoke(actor=actor, grant=grant, reason=comment)
    move_status(exception, target, actor, action, comment)
    tell(
        [exception.requester, *reviewers_of(exception)],
        exception,
        "exception.revoked",
        f"{exception.reference} revoked by {actor_name(actor)}",
        comment,
    )
    return exception


def _expire_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    move_status(exception, target, actor, action, comment or "Its end time has come")
    tell(
        [exception.requester, *reviewers_of(exception)],
        exception,
        "exception.expired",
        f"{exception.reference} has expired",
        f"Its transfer grant ended at {exception.ends_at:%Y-%m-%d %H:%M} UTC.",
    )
    return exception


def _lapse_step(
    actor: User | None, exception: TransferException, action: str, target: str, comment: str
) -> TransferException:
    move_status(exception, target, actor, action, "Its period ended before a decision")
    tell(
        [exception.requester, *reviewers_of(exception)],
        exception,
        "exception.lapsed",
        f"{exception.reference} lapsed undecided",
        f"Its requested period ended at {exception.ends_at:%Y-%m-%d %H:%M} UTC before it was "
        "approved; ask again with a new period if the work still needs it.",
    )
    return exception


# A step on the locked row, by the person check_actor let take it (None: Locus itself), to
# the status its transition names.
StepFunction = Callable[[User | None, TransferException, str, str, str], TransferException]
_STEPS: dict[str, StepFunction] = {
    "submit": _submit_step,
    "approve": _approve_step,
    "reject": _decision_step,
    "request_changes": _decision_step,
    "revoke": _revoke_step,
    "expire": _expire_step,
    "lapse": _lapse_step,
}


@transaction.atomic
def exception_comment(
    *, actor: Actor, exception: TransferException, comment: str
) -> ExceptionEvent:
    """A remark on the timeline by the requester or a reviewer (no change of state)."""
    if not may_comment(actor, exception):
        raise PermissionDenied("Only the requester and its reviewers comment on an exception")
    if not comment.strip():
        raise ValidationError({"comment": "Write something"})
    event_add(exception, actor, "comment", exception.status, exception.status, comment)
    return exception.events.latest("id")


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
            tell(
                [exception.requester, *reviewers_of(exception)],
                exception,
                "exception.expiring",
                f"{exception.reference} ends within {days} day{'s' if days != 1 else ''}",
                f"Its transfer grant ends at {exception.ends_at:%Y-%m-%d %H:%M} UTC; ask for a "
                "new exception if the work goes on.",
            )
    except IntegrityError:
        return False
    return True
