"""Recorded decisions (ADR style: context, decision, rationale, alternatives, links), each
change on the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction

from catalog.actors import Actor, may
from catalog.models import Dataset
from governance.ledger.chain import actor_name, ledger_append
from governance.models import LocalityRule, RecordedDecision

DECISION_FIELDS = ("title", "context", "decision", "rationale", "alternatives", "status", "links")


def _decision_ledger_data(record: RecordedDecision) -> dict[str, Any]:
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


def _check_decision_writer(actor: Actor) -> User:
    if not may(actor, "governance.add_recordeddecision"):
        raise PermissionDenied("Only privacy officers may record decisions")
    return actor


@transaction.atomic
def recorded_decision_create(
    *,
    actor: Actor,
    datasets: Iterable[Dataset] = (),
    rules: Iterable[LocalityRule] = (),
    **fields: Any,
) -> RecordedDecision:
    """Write a decision down; it is a ledger entry from the start."""
    author = _check_decision_writer(actor)
    record = RecordedDecision(author=author, author_name=actor_name(author), **fields)
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
    *,
    actor: Actor,
    record: RecordedDecision,
    datasets: Iterable[Dataset] | None = None,
    rules: Iterable[LocalityRule] | None = None,
    **fields: Any,
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
