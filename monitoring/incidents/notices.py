"""Telling people about incidents and anomalies: in-app and e-mail notices to the privacy
officers who answer for the jurisdictions involved (and the dataset's owner), and outgoing
Slack-compatible webhooks per jurisdiction. Rows are written in the caller's transaction; the
sending happens after the commit, in Celery, and never blocks ingest (with the broker down,
monitoring.tasks.webhooks_sweep sends what is pending).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.contrib.auth import get_user_model

from catalog.models import Dataset, Jurisdiction
from governance.models import Responsibility
from governance.notifications.services import notify_many, officers_for, privacy_officers
from governance.site import absolute
from governance.workflow import queue_after_commit
from monitoring.incidents import breach
from monitoring.models import (
    AnomalyAlert,
    Basis,
    ClockState,
    Incident,
    WebhookDelivery,
    WebhookEndpoint,
)
from monitoring.tasks import webhooks_deliver

log = logging.getLogger(__name__)
User = get_user_model()


def _jurisdictions(codes) -> list[Jurisdiction]:
    return [Jurisdiction(pk=code) for code in codes]


def incident_url(incident: Incident) -> str:
    """The incident's page: why it opened and the ways out (its API twin is
    /api/v1/incidents/<id>/)."""
    return f"/monitoring/incidents/{incident.pk}/"


def clock_text(incident: Incident) -> str:
    """What the incident means for the regulator: which laws' clocks run (with their citations),
    or why none does. Named from the data's own laws, never GDPR for everyone."""
    state = incident.clock_state
    if not incident.personal_data:
        return "No personal data: no regulator clock."
    if state == ClockState.NONE:
        if incident.basis == Basis.HOUSE and incident.breach_assessment == "not_assessed":
            return (
                "House rules only (the law does not forbid this transfer): not a "
                "personal-data breach by itself; no regulator clock."
            )
        return f"Assessed: {incident.get_breach_assessment_display().lower()}; no regulator clock."
    clocks = "; ".join(breach.describe(c, incident.opened_at) for c in incident.breach_clocks)
    clocks = clocks or "no breach clock encoded for its laws"
    if state == ClockState.POSSIBLE:
        return (
            f"Unlawful transfer of personal data under {breach.regimes(incident)}: assess whether "
            f"it is a personal-data breach. If it is a notifiable one: {clocks}."
        )
    return f"Notifiable personal-data breach under {breach.regimes(incident)}: {clocks}."


DRILL_NOTE = (
    "THIS IS A BREACH DRILL: a synthetic violation Locus made to rehearse the response; no "
    "data moved and nothing is to be reported. Handle it as a real one: acknowledge, contain "
    "and assess it. "
)


def subject_for(incident: Incident, text: str) -> str:
    """A notice's subject, "[DRILL] " first for a drill's incident."""
    return f"[DRILL] {text}" if incident.drill_id else text


def _incident_text(incident: Incident) -> str:
    return (
        (DRILL_NOTE if incident.drill_id else "")
        + f"[{incident.severity}] {incident.title}: {incident.violation_count} violation(s) "
        f"since {incident.first_violation_at:%Y-%m-%d %H:%M} UTC; "
        f"jurisdictions {', '.join(incident.jurisdiction_codes) or '-'}. {clock_text(incident)}"
    )


class _Officers:
    """officers_for() of each incident of a batch, in two queries for the whole batch: the
    officers who answer for any of its jurisdictions, then which jurisdictions each holds
    (none: all of them)."""

    def __init__(self, codes: set[str]):
        self.people = list(officers_for(_jurisdictions(codes)))
        self.holds: dict[int, set[str]] = defaultdict(set)
        rows = Responsibility.objects.filter(user__in=self.people)
        for user_id, code in rows.values_list("user_id", "jurisdiction_id"):
            self.holds[user_id].add(code)

    def of(self, codes) -> list:
        wanted = set(codes)
        return [u for u in self.people if not self.holds[u.pk] or self.holds[u.pk] & wanted]


def incidents_opened(incidents: list[Incident]) -> None:
    """Tell the responsible officers and the dataset owners; queue the webhooks."""
    if not incidents:
        return
    # Keyed by dataset id, None included: an incident whose dataset is gone has no owner.
    owners: dict[int | None, int] = dict(
        Dataset.objects.filter(pk__in={i.dataset_id for i in incidents}).values_list(
            "pk", "owner_id"
        )
    )
    users = User.objects.in_bulk(set(owners.values()))
    officers = _Officers({code for i in incidents for code in i.jurisdiction_codes})
    notify_many(
        [
            (
                [
                    *officers.of(incident.jurisdiction_codes),
                    users.get(owners.get(incident.dataset_id)),
                ],
                "monitoring.incident_opened",
                subject_for(incident, f"Incident #{incident.pk}: {incident.title}"),
                _incident_text(incident),
                incident_url(incident),
            )
            for incident in incidents
        ]
    )
    webhooks_queue(
        [
            (
                incident.jurisdiction_codes,
                "incident.opened",
                slack_message(
                    subject_for(incident, f"Locus incident #{incident.pk}"),
                    _incident_text(incident),
                    incident_url(incident),
                ),
            )
            for incident in incidents
        ]
    )


def breach_assessed(incident: Incident) -> None:
    """A breach found notifiable: tell the officers of its jurisdictions and the owner which
    regulators' clocks run, by when; queue the webhooks."""
    owner = incident.dataset.owner if incident.dataset is not None else None
    officers = _Officers(set(incident.jurisdiction_codes))
    title = subject_for(
        incident, f"Incident #{incident.pk} is a notifiable breach: {incident.title}"
    )
    text = _incident_text(incident)
    notify_many(
        [
            (
                [*officers.of(incident.jurisdiction_codes), owner],
                "monitoring.breach_notifiable",
                title,
                text,
                incident_url(incident),
            )
        ]
    )
    webhooks_queue(
        [
            (
                incident.jurisdiction_codes,
                "incident.breach_notifiable",
                slack_message(
                    subject_for(incident, f"Locus incident #{incident.pk}: notifiable breach"),
                    text,
                    incident_url(incident),
                ),
            )
        ]
    )


def alerts_raised(alerts: list[AnomalyAlert]) -> None:
    """One notice per jurisdiction (all officers when the alert has none) per batch."""
    if not alerts:
        return
    grouped: dict[str | None, list[AnomalyAlert]] = defaultdict(list)
    for alert in alerts:
        grouped[alert.jurisdiction_id].append(alert)
    notices = []
    for jurisdiction, group in grouped.items():
        recipients = (
            officers_for(_jurisdictions([jurisdiction])) if jurisdiction else privacy_officers()
        )
        lines = "\n".join(f"- {a.get_kind_display()}: {a.detail}" for a in group[:20])
        notices.append(
            (
                recipients,
                "monitoring.anomaly",
                f"{len(group)} access anomal{'y' if len(group) == 1 else 'ies'}",
                lines,
                "/api/v1/anomaly-alerts/",
            )
        )
    notify_many(notices)
    webhooks_queue(
        [
            (
                [a.jurisdiction_id] if a.jurisdiction_id else [],
                "alert.raised",
                slack_message("Locus access anomaly", a.detail, "/api/v1/anomaly-alerts/"),
            )
            for a in alerts
        ]
    )


def slack_message(title: str, text: str, path: str) -> dict:
    """An incoming-webhook body Slack (and Mattermost, Teams' Slack mode...) understand."""
    return {
        "text": f"{title}: {text}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{absolute(path)}|Open in Locus>"},
            },
        ],
    }


def webhooks_queue(messages: list[tuple[list[str], str, dict]]) -> list[int]:
    """Write a delivery per message and matching endpoint (an endpoint without a jurisdiction
    matches every message); send them after the commit."""
    endpoints = list(
        WebhookEndpoint.objects.filter(active=True).values_list("pk", "jurisdiction_id")
    )
    if not endpoints:
        return []
    rows = [
        WebhookDelivery(endpoint_id=pk, kind=kind, payload=payload)
        for jurisdictions, kind, payload in messages
        for pk, jurisdiction in endpoints
        if jurisdiction is None or jurisdiction in jurisdictions
    ]
    ids = [row.pk for row in WebhookDelivery.objects.bulk_create(rows)]
    if ids:
        queue_after_commit(webhooks_deliver, ids, sweep="monitoring.tasks.webhooks_sweep")
    return ids
