"""A request's timeline in words: who did what, and the status it moved to, as people say it
("Priya Shah verified the subject's identity"), not the codes the events are stored under."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from requests.models.subjects import SubjectEvent, SubjectRequestStatus

WHAT = {
    "received": "received the request",
    "verify": "verified the subject's identity",
    "link_duplicate": "verified it and linked it to the open request it repeats",
    "discover": "found the datasets that may hold the subject's data",
    "pause": "paused the clock, waiting for the subject",
    "resume": "resumed the clock",
    "extend": "extended the deadline",
    "ready": "saw the last task done: the answer awaits an officer's review",
    "complete": "approved the answer and sent it to the subject",
    "reject": "refused the request",
    "withdraw": "recorded that the subject withdrew the request",
    "revive": "took the request up again (the one it repeated ended unanswered)",
    "answered_with_original": "answered it with the request it repeats",
    "task_done": "finished a task",
    "task_manual": "handed a task to its owner",
    "task_failed": "saw a connector fail",
    "task_retry": "ran a connector again",
    "ml_decision": "decided what to do about a model",
    "verification_locked": "locked verification after wrong codes",
    "verification_resent": "asked for a new code",
    "verification_unlocked": "unlocked verification (a new code was sent)",
    "package_reissued": "sent the subject a new download link",
    "task-due": "reminded the owner of a task due soon",
    "task-overdue": "reminded the owner of an overdue task",
    "escalated": "told the officers the deadline is near",
    "overdue": "told the officers the deadline has passed",
}
# Who acted when no person did: the subject themself, or Locus (its workers and sweeps).
NOBODY = {"system": "Locus", "connector": "Locus (a connector)", "manual": "Locus"}


@dataclass(frozen=True, slots=True)
class Line:
    at: object
    who: str
    what: str
    detail: str
    status: str  # the status it moved to, as people read it; "" when it stayed


def _status(code: str) -> str:
    try:
        return SubjectRequestStatus(code).label
    except ValueError:
        return code


# What the subject themself did, said from their side.
BY_THE_SUBJECT = {"verify": "confirmed it is theirs with the e-mailed code"}


def line(event: SubjectEvent) -> Line:
    moved = event.to_status and event.to_status != event.from_status
    who = NOBODY.get(event.actor_name, event.actor_name)
    said = BY_THE_SUBJECT.get(event.action) if who == "the subject" else None
    return Line(
        at=event.at,
        who=who,
        what=said or WHAT.get(event.action, event.action.replace("_", " ").replace("-", " ")),
        detail=event.comment,
        status=_status(event.to_status) if moved else "",
    )


def lines(events: Iterable[SubjectEvent]) -> list[Line]:
    return [line(event) for event in events]
