"""The mechanisms every workflow shares, each written once.

- `status_move`: a compare-and-swap of one row's status. Services check their transition table
  first (naming why a step is not allowed); the swap then makes sure nobody moved the row
  meanwhile. A lost race is always a StateConflict, which the API answers 409 and the pages
  show as a message.
- `row_move`: the compare-and-swap behind status_move, for a one-way move kept in other columns.
- `Step`: the one shape of a transition table's entry (the statuses a step may start from, the
  status it leads to). Each workflow keeps its table, named by verb, in its service module.
- `queue_after_commit`: a Celery task sent once the transaction commits. Work that must not be
  lost is a row first; with the broker down the task is not sent, the reason is logged, and
  the periodic sweep that looks for such rows does the work later. The change that made the
  rows has committed, and its caller must not fail because a task could not be queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import models, transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from catalog.errors import StateConflict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One allowed step of a workflow: from any of `sources` to `target` (None keeps the status)."""

    sources: frozenset[str]
    target: str | None

    def allows(self, status: str) -> bool:
        """Whether a record in `status` may take this step."""
        return status in self.sources


def status_move(
    rows: models.QuerySet[Any] | type[models.Model],
    *,
    pk: Any,
    current: str,
    target: str,
    when: models.Q | None = None,
    what: str = "record",
    **changes: Any,
) -> None:
    """Move row `pk` from status `current` to `target` (with `changes`) only if it is still
    `current` (and matches `when`); StateConflict (409) when another change came first."""
    queryset = rows._default_manager.all() if isinstance(rows, type) else rows
    expect = models.Q(status=current) & (when if when is not None else models.Q())
    fields = {"model": queryset.model._meta.label, "pk": pk, "from": current, "to": target}
    try:
        row_move(queryset, pk=pk, expect=expect, what=what, status=target, **changes)
    except StateConflict:
        log.info("Refused %s %s: %s → %s, it changed meanwhile", *fields.values(), extra=fields)
        raise
    log.info("%s %s: %s → %s", *fields.values(), extra=fields)


def row_move(
    rows: models.QuerySet[Any] | type[models.Model],
    *,
    pk: Any,
    expect: models.Q,
    what: str = "record",
    **changes: Any,
) -> None:
    """The compare-and-swap itself: write `changes` to row `pk` only if it still matches
    `expect`; StateConflict (409) when another change came first. status_move uses it; so does
    a one-way move kept in other columns (a grant's revocation: revoked_at set once)."""
    queryset = rows._default_manager.all() if isinstance(rows, type) else rows
    if queryset.filter(expect, pk=pk).update(**changes) != 1:
        raise StateConflict({"status": f"The {what} changed meanwhile; reload and try again"})


class Task(Protocol):
    """What queue_after_commit needs of a Celery task."""

    name: str

    def apply_async(self, *, args: tuple[Any, ...], queue: str | None) -> object: ...


def queue_after_commit(task: Task, *args: Any, queue: str | None = None, sweep: str = "") -> None:
    """Send task(*args) once the transaction commits (to `queue`, or Celery's default). With the
    broker down, log it: `sweep` names the periodic task that will find the work instead."""

    def send() -> None:
        try:
            task.apply_async(args=args, queue=queue)
        except BrokerUnavailable:
            log.warning(
                "Broker unavailable: %s%s not queued; %s",
                task.name,
                list(args),
                f"{sweep} will do the work" if sweep else "nothing will retry it",
                exc_info=True,
            )

    transaction.on_commit(send)
