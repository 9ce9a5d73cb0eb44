"""Recording consent: a collecting system's batch, whole or not at all, replayed harmlessly; a
withdrawal from a dataset held on consent opens the model decisions erasure opens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction

from catalog.actors import Actor, may
from catalog.models import Dataset, LawfulBasis
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from requests.consents.batch import ConsentItem
from requests.models.consents import ConsentEvent, ConsentState
from requests.subjects.ml import decisions_open


@dataclass
class BatchOutcome:
    """What a batch did: each item created or found already recorded, and the model
    decisions its withdrawals opened."""

    results: list[dict[str, object]] = field(default_factory=list)
    created: int = 0
    unchanged: int = 0
    decisions_opened: int = 0


@transaction.atomic
def consent_batch_record(*, actor: Actor, items: Sequence[ConsentItem]) -> BatchOutcome:
    """Record a batch of consent events (each checked by requests.consents.batch): the new ones
    are written, the ones already recorded under the same key are left alone."""
    if not may(actor, "workflows.add_consentevent"):
        raise PermissionDenied("Only consent-collecting clients record consent")
    # One client's batches one after another: a replay racing its original finds its rows.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    outcome = BatchOutcome()
    created: list[ConsentEvent] = []
    for index, item in enumerate(items):
        events = _item_record(actor, item, index)
        state = "created" if events else "unchanged"
        outcome.results.append({"index": index, "key": item.key, "status": state})
        if not events:
            outcome.unchanged += 1
            continue
        outcome.created += 1
        created += events
        for event in events:
            outcome.decisions_opened += _withdrawal_propagate(event)
    if created:
        _ledger_batch(actor, created, outcome)
    return outcome


def _item_record(actor: User, item: ConsentItem, index: int) -> list[ConsentEvent]:
    """The item's events, one per dataset; none when the key was recorded already (a
    different event under a recorded key is a conflict)."""
    recorded = list(ConsentEvent.objects.filter(client=actor, key=item.key))
    if recorded:
        _same_or_conflict(item, recorded, index)
        return []
    return [_event_create(actor, item, dataset) for dataset in item.datasets]


def _ledger_batch(actor: User, events: list[ConsentEvent], outcome: BatchOutcome) -> None:
    """One ledger entry per batch: its subjects by pseudonym, what it recorded."""
    withdrawn = sum(1 for e in events if e.state == ConsentState.WITHDRAWN)
    ledger_append(
        actor=actor,
        kind="consent.recorded",
        subjects=sorted({e.subject_key for e in events}),
        data={
            "events": [events[0].pk, events[-1].pk],
            "given": len(events) - withdrawn,
            "withdrawn": withdrawn,
            "model_decisions_opened": outcome.decisions_opened,
        },
    )


def _same_or_conflict(item: ConsentItem, recorded: list[ConsentEvent], index: int) -> None:
    first = recorded[0]
    same = (first.subject_key, first.purpose, first.state, first.at, first.notice_id) == (
        item.subject_key,
        item.purpose,
        item.state,
        item.at,
        item.notice.pk,
    )
    if not same:
        raise StateConflict(
            {"key": f"Item {index}: key {item.key!r} was recorded for another event; use a new key"}
        )


def _event_create(actor: User, item: ConsentItem, dataset: Dataset) -> ConsentEvent:
    event = ConsentEvent.objects.create(
        subject_key=item.subject_key,
        purpose=item.purpose,
        dataset=dataset,
        dataset_slug=dataset.slug,
        notice=item.notice,
        notice_code=item.notice.code,
        notice_version=item.notice.version,
        jurisdiction_code=item.jurisdiction_code,
        state=item.state,
        at=item.at,
        channel=item.channel,
        client=actor,
        client_name=actor_name(actor),
        key=item.key,
    )
    return event


def _withdrawal_propagate(event: ConsentEvent) -> int:
    """A withdrawal from a dataset held on consent reaches the models trained on it, as an
    erasure does: one decision per training run that read it (retrain, unlearn, suppress,
    accept with a reason). How many were opened."""
    dataset = cast(Dataset | None, event.dataset)
    if event.state != ConsentState.WITHDRAWN or dataset is None:
        return 0
    if dataset.lawful_basis != LawfulBasis.CONSENT:
        return 0  # held on another basis: withdrawing consent does not end its processing
    return decisions_open([dataset], consent_withdrawal=event)
