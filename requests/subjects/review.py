"""What an officer reviews before a request is answered: per dataset, what was found and done,
the files the subject will receive, and whether the answer is empty. An empty answer to a
request for data, or an erasure that erased nothing, is sent only once the officer confirms it:
it is more often a search with the wrong identifiers than a subject we hold nothing about."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone

from requests.models.subjects import (
    EXPORTING_TYPES,
    SubjectRequest,
    SubjectRequestType,
    SubjectTask,
)
from requests.subjects.packages import build


@dataclass(frozen=True, slots=True)
class DatasetLine:
    dataset: str
    automatic: bool
    records: int | None
    erased: int | None
    masked: int | None
    note: str


@dataclass(frozen=True, slots=True)
class Review:
    kind: str
    summary: str
    files: list[dict]
    datasets: list[DatasetLine]
    records: int
    empty: bool


def _line(task: SubjectTask) -> DatasetLine:
    return DatasetLine(
        dataset=task.dataset_slug,
        automatic=task.automatic,
        records=task.rows_exported,
        erased=task.rows_erased,
        masked=task.rows_masked,
        note=task.note,
    )


def _counted(subject_request: SubjectRequest, lines: list[DatasetLine]) -> tuple[int, bool]:
    """The records the answer gives (or rows it erased or masked), and whether it is empty."""
    if subject_request.type in EXPORTING_TYPES:
        records = sum(line.records or 0 for line in lines)
        return records, records == 0
    records = sum((line.erased or 0) + (line.masked or 0) for line in lines)
    # A manual erasure says what was done in words, not counts: only counted zeros are empty.
    counted = all(line.erased is not None or line.masked is not None for line in lines)
    return records, subject_request.type == SubjectRequestType.ERASURE and counted and records == 0


def _lines(tasks: list[SubjectTask]) -> list[DatasetLine]:
    return [_line(task) for task in tasks]


def review_of(subject_request: SubjectRequest) -> Review:
    """The answer as it would be sent now (built, not stored)."""
    tasks = list(subject_request.tasks.order_by("dataset_slug"))
    built = build(subject_request, tasks, list(subject_request.ml_decisions.all()), timezone.now())
    lines = _lines(tasks)
    records, empty = _counted(subject_request, lines)
    return Review(
        kind=built.kind,
        summary=built.summary,
        files=built.manifest["files"],
        datasets=lines,
        records=records,
        empty=empty,
    )


def require_confirmed_if_empty(subject_request: SubjectRequest, confirm_empty: bool) -> None:
    """A 400 naming `confirm_empty` when the answer is empty and the officer has not said so."""
    if confirm_empty:
        return
    # From the tasks' counts alone: the answer itself is built once, when it is sent.
    lines = _lines(list(subject_request.tasks.all()))
    if not _counted(subject_request, lines)[1]:
        return
    what = (
        "holds no record" if subject_request.type in EXPORTING_TYPES else "erased or masked no row"
    )
    raise ValidationError(
        {
            "confirm_empty": f"The answer {what} in any dataset. Check the searches used the "
            "subject's identifiers, then confirm that an empty answer is right."
        }
    )
