"""Access reviews' section of the auditor's evidence package (settings.EVIDENCE_SECTIONS):
the campaigns opened in the period, their progress, and every item with its decision. Holders
by the names the rows keep; no token or secret (a token by its first characters only)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from governance.models import AccessReview, AccessReviewItem
from governance.reviews.services import review_counts

ACCESS_REVIEWS = "access-reviews.json"


def access_review_records(since: dt.datetime, until: dt.datetime) -> dict[str, bytes]:
    """One JSON document of the campaigns opened in [since, until), as they stand now."""
    campaigns = AccessReview.objects.filter(opened_at__gte=since, opened_at__lt=until).order_by(
        "opened_at", "id"
    )
    document = {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "basis": "Access review campaigns opened in the period, with each access found and "
        "what its reviewer decided, as of the export.",
        "reviews": [_campaign(c) for c in campaigns.prefetch_related("items")],
    }
    return {ACCESS_REVIEWS: json.dumps(document, indent=2, sort_keys=True).encode()}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _campaign(campaign: AccessReview) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "opened_at": _iso(campaign.opened_at),
        "opened_by": campaign.opened_by_name,
        "due_at": _iso(campaign.due_at),
        "closed_at": _iso(campaign.closed_at),
        "counts": review_counts(campaign),
        "items": [_item(i) for i in campaign.items.all()],
    }


def _item(item: AccessReviewItem) -> dict[str, Any]:
    return {
        "dataset": item.dataset_slug or None,
        "kind": item.kind,
        "holder": item.holder,
        "access": item.access,
        "status": item.status,
        "decided_at": _iso(item.decided_at),
        "decided_by": item.decided_by_name,
        "note": item.note,
        "reminded_at": _iso(item.reminded_at),
        "escalated_at": _iso(item.escalated_at),
    }
