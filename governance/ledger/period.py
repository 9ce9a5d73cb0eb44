"""The documents of the evidence package that describe a period: the rules in force and their
changes, the grants, the engine's answers counted (per outcome, rule, country, and per legal and
house verdict), and the recorded decisions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, TypeAlias

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from catalog.models import Country, Dataset, Region
from governance.models import (
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Outcome,
    RecordedDecision,
    TransferGrant,
)
from governance.policy.rules import rule_snapshot

Document: TypeAlias = dict[str, Any]


def period(since: dt.datetime, until: dt.datetime) -> Document:
    return {"from": since.isoformat(), "to": until.isoformat()}


def rules_document(since: dt.datetime, until: dt.datetime) -> Document:
    """The enabled locality rules now, with their snapshots, and every rule change of the period."""
    rules = (
        LocalityRule.objects.filter(enabled=True)
        .select_related("dataset")
        .prefetch_related(
            Prefetch("regions", Region.objects.only("code")),
            Prefetch("countries", Country.objects.only("code")),
        )
        .order_by("-priority", "id")
    )
    changes = LocalityRuleVersion.objects.filter(at__gte=since, at__lt=until).order_by("at", "id")
    return {
        "in_force_at": timezone.now().isoformat(),
        "rules": [
            {
                "rule": f"rule:{rule.pk}",
                "id": rule.pk,
                "version": rule.version,
                "updated_at": rule.updated_at.isoformat(),
                "snapshot": rule_snapshot(
                    rule,
                    [r.code for r in rule.regions.all()],
                    [c.code for c in rule.countries.all()],
                ),
            }
            for rule in rules
        ],
        "changes_in_period": [
            {
                "rule": f"rule:{change.rule_ref}",
                "version": change.version,
                "action": change.action,
                "at": change.at.isoformat(),
                "actor_name": change.actor_name,
                "snapshot": change.snapshot,
            }
            for change in changes
        ],
    }


def _in_force(grant: TransferGrant, at: dt.datetime) -> bool:
    revoked = grant.revoked_at is not None and grant.revoked_at <= at
    return grant.valid_from <= at < grant.valid_until and not revoked


def grants_document(since: dt.datetime, until: dt.datetime) -> Document:
    """Every grant honoured at some moment of the period or at its end."""
    grants = (
        TransferGrant.objects.filter(valid_from__lte=until, valid_until__gt=since)
        .exclude(revoked_at__lte=since)
        .select_related("purpose")
        .prefetch_related(
            Prefetch("datasets", Dataset.objects.only("id", "slug").order_by("slug")),
            Prefetch("destination_regions", Region.objects.only("code").order_by("code")),
        )
        .order_by("valid_from", "id")
    )
    rows = [_grant_row(grant, until) for grant in grants]
    return {
        "period": period(since, until),
        "in_force_at_end": [row["grant"] for row in rows if row["in_force_at_end"]],
        "grants": rows,
    }


def _grant_row(grant: TransferGrant, until: dt.datetime) -> Document:
    return {
        "grant": f"grant:{grant.pk}",
        "id": grant.pk,
        "in_force_at_end": _in_force(grant, until),
        "datasets": [d.slug for d in grant.datasets.all()],
        "destination_regions": [r.code for r in grant.destination_regions.all()],
        "purpose": grant.purpose_id,
        "mechanism": grant.mechanism,
        "mechanism_detail": grant.mechanism_detail,
        "valid_from": grant.valid_from.isoformat(),
        "valid_until": grant.valid_until.isoformat(),
        "approved_by_name": grant.approved_by_name,
        "reference": grant.reference,
        "created_at": grant.created_at.isoformat(),
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "revoke_reason": grant.revoke_reason,
    }


def decisions_summary(since: dt.datetime, until: dt.datetime) -> Document:
    """The engine's answers of the period, counted per outcome, per rule and per country."""
    decisions = LocalityDecision.objects.filter(decided_at__gte=since, decided_at__lt=until)
    by_rule = _counts(decisions, "rule")
    by_country = _counts(decisions, "country")
    by_outcome = {outcome: 0 for outcome in Outcome.values}
    for outcomes in by_rule.values():
        for outcome, count in outcomes.items():
            by_outcome[outcome] = by_outcome.get(outcome, 0) + count
    return {
        "period": period(since, until),
        "total": sum(by_outcome.values()),
        "by_outcome": by_outcome,
        "by_rule": by_rule,
        "by_country": by_country,
        # What the law said and what the house rules said, apart (empty: answered before).
        "by_legal_outcome": _counts(decisions, "legal_outcome"),
        "by_house_outcome": _counts(decisions, "house_outcome"),
    }


def _counts(decisions: QuerySet[LocalityDecision], key: str) -> dict[str, dict[str, int]]:
    """{key value: {outcome: count}}, in one grouped query."""
    rows = decisions.order_by().values_list(key, "outcome").annotate(count=Count("id"))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for value, outcome, count in rows:
        counts[value][outcome] = count
    return dict(sorted(counts.items()))


def recorded_decisions_document() -> Document:
    """Every recorded decision as it stands (each version is also on the ledger)."""
    records = RecordedDecision.objects.prefetch_related(
        Prefetch("datasets", Dataset.objects.only("id", "slug").order_by("slug")),
        Prefetch("rules", LocalityRule.objects.only("id").order_by("id")),
    ).order_by("id")
    return {
        "recorded_decisions": [
            {
                "decision": f"decision:{record.pk}",
                "id": record.pk,
                "title": record.title,
                "status": record.status,
                "version": record.version,
                "context": record.context,
                "decision_text": record.decision,
                "rationale": record.rationale,
                "alternatives": record.alternatives,
                "datasets": [d.slug for d in record.datasets.all()],
                "rules": [r.pk for r in record.rules.all()],
                "links": record.links,
                "author_name": record.author_name,
                "created_at": record.created_at.isoformat(),
                "updated_at": record.updated_at.isoformat(),
            }
            for record in records
        ]
    }


# --- Sections other apps contribute ------------------------------------------------------------
