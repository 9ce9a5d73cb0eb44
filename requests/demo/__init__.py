"""The demo's workflows: transfer exceptions in every state and subject requests in every state
and several regimes, each taken through the product's own services (the requester files, the
officers review, the subject verifies by the e-mailed code, the owners answer their tasks).

Only where a story needs time to have passed are timestamps moved back, after the service set
them to now; each place says so. Safe to run again: a story already told is left as it is."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from requests.demo.subjects import seed_subject_requests
from requests.demo.transfers import seed_exceptions


@transaction.atomic
def seed_workflows(people: dict[str, User]) -> dict[str, int]:
    """The demo's exceptions and subject requests, once; running again changes nothing."""
    return {
        "exceptions": seed_exceptions(people),
        "subject_requests": seed_subject_requests(people),
    }
