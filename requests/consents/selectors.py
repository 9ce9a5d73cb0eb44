"""Reads of consent: the events, and the current state derived from them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from requests.models.consents import ConsentEvent, ConsentState


@dataclass(frozen=True)
class CurrentConsent:
    """A subject's consent to a purpose for a dataset, as the latest event left it."""

    subject_key: str
    purpose: str
    dataset: str
    state: str
    at: str
    notice: str
    channel: str
    event: int

    @property
    def given(self) -> bool:
        return self.state == ConsentState.GIVEN


def consent_events(
    *, subject_key: str = "", dataset: str = "", purpose: str = ""
) -> QuerySet[ConsentEvent]:
    """The events, newest first, filtered by whichever of subject, dataset and purpose is given."""
    rows = ConsentEvent.objects.all()
    if subject_key:
        rows = rows.filter(subject_key=subject_key)
    if dataset:
        rows = rows.filter(dataset_slug=dataset)
    if purpose:
        rows = rows.filter(purpose=purpose)
    return rows.order_by("-at", "-id")


def consent_current(
    *, subject_key: str = "", dataset: str = "", purpose: str = ""
) -> list[CurrentConsent]:
    """The current state per subject, purpose and dataset: the latest event of each (by when
    it was given or withdrawn; of two at the same time, the one recorded last)."""
    latest: dict[tuple[str, str, str], ConsentEvent] = {}
    rows = consent_events(subject_key=subject_key, dataset=dataset, purpose=purpose)
    for event in rows.order_by("at", "id").iterator(chunk_size=2000):
        latest[(event.subject_key, event.purpose, event.dataset_slug)] = event
    return [_current(event) for _, event in sorted(latest.items())]


def _current(event: ConsentEvent) -> CurrentConsent:
    return CurrentConsent(
        subject_key=event.subject_key,
        purpose=event.purpose,
        dataset=event.dataset_slug,
        state=event.state,
        at=event.at.isoformat(),
        notice=f"{event.notice_code} v{event.notice_version}",
        channel=event.channel,
        event=event.pk,
    )
