"""Reads of the policy shared by the API and the pages: locality rules, and what-ifs (a
proposed rule set replayed against recorded decisions, an adequacy decision falling).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from catalog.models import Country, Jurisdiction, PersonalDataCategory, Region
from governance.models import (
    LocalityDecision,
    LocalityRule,
    Outcome,
    TrainingRun,
    TransferGrant,
)
from governance.policy.engine import evaluate
from governance.policy.facts import AdequacyFacts, Decision, PolicyIndex, RuleFacts
from governance.policy.index import current_index, with_adequacy, with_rules

MAX_REPLAY_DAYS = 90
MAX_REPLAYED_DECISIONS = 200_000
REPLAY_DAYS = 30  # what the pages replay
FLIPS_SHOWN = 200  # flips a page lists


def _flip_kind(before: str, after: str) -> str | None:
    was, now = before != Outcome.DENY, after != Outcome.DENY
    if was and not now:
        return "allow_to_deny"
    if now and not was:
        return "deny_to_allow"
    return None


def replay(
    proposed: list[RuleFacts], *, days: int, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Re-judge the last `days` of recorded decisions under a proposed rule set; list what flips."""
    now = now or timezone.now()
    current = current_index()
    candidate = with_rules(current, proposed, f"{current.version}+proposal")
    since = now - dt.timedelta(days=days)
    rows = LocalityDecision.objects.filter(
        decided_at__gte=since, dataset_id__isnull=False
    ).values_list("id", "dataset_id", "action", "region_code", "purpose", "at", "scopes")[
        :MAX_REPLAYED_DECISIONS
    ]
    flips = []
    by_dataset: dict[str, Counter[str]] = defaultdict(Counter)
    by_jurisdiction: dict[str, Counter[str]] = defaultdict(Counter)
    replayed = 0
    for decision_id, ds_id, action, region, purpose, at, declared in rows.iterator(chunk_size=5000):
        ds = current.datasets.get(ds_id)
        if ds is None or region not in current.regions or purpose not in current.purposes:
            continue
        replayed += 1
        scopes = frozenset(declared or ())  # as the caller declared them then
        before = evaluate(current, ds_id, action, region, purpose, at, scopes)
        after = evaluate(candidate, ds_id, action, region, purpose, at, scopes)
        kind = _flip_kind(before.outcome, after.outcome)
        if kind is None:
            continue
        flips.append(
            {
                "decision_id": decision_id,
                "dataset": ds.slug,
                "region": region,
                "action": action,
                "kind": kind,
                "before": {"outcome": before.outcome, "rule": before.rule},
                "after": {"outcome": after.outcome, "rule": after.rule, "reason": after.reason},
            }
        )
        by_dataset[ds.slug][kind] += 1
        for jurisdiction in {ds.storage_jurisdiction, *ds.subject_jurisdictions}:
            by_jurisdiction[jurisdiction][kind] += 1
    return {
        "days": days,
        "replayed": replayed,
        "flipped": len(flips),
        "by_dataset": {k: dict(v) for k, v in sorted(by_dataset.items())},
        "by_jurisdiction": {k: dict(v) for k, v in sorted(by_jurisdiction.items())},
        "flips": flips[:1000],
    }


def replay_shown(result: dict[str, Any], proposed_rule: str | None = None) -> dict[str, Any]:
    """A replay ready for a page (governance/_impact.html): jurisdictions by name, the first
    flips, and which of them the proposed rule (e.g. "rule:7") decides."""
    names = dict(Jurisdiction.objects.values_list("code", "name"))
    flips = [
        {
            **flip,
            "by_proposal": proposed_rule is not None and flip["after"]["rule"] == proposed_rule,
        }
        for flip in result["flips"][:FLIPS_SHOWN]
    ]
    return {
        "replayed": result["replayed"],
        "flipped": result["flipped"],
        "days": result["days"],
        "datasets": _flip_rows(result["by_dataset"]),
        "jurisdictions": [
            {**row, "name": names.get(row["key"], row["key"])}
            for row in _flip_rows(result["by_jurisdiction"])
        ],
        "flips": flips,
        "more": result["flipped"] - len(flips),
    }


def _flip_rows(counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "allow_to_deny": kinds.get("allow_to_deny", 0),
            "deny_to_allow": kinds.get("deny_to_allow", 0),
        }
        for key, kinds in counts.items()
    ]


def rules_with_definition(
    rules: Iterable[RuleFacts], term: str, categories: frozenset[str], note: str
) -> list[RuleFacts]:
    """The rules, those matching by glossary term `term` (slug) under another definition."""
    return [
        replace(rule, term_categories=categories, term_note=note) if rule.term == term else rule
        for rule in rules
    ]


def term_definition_replay(
    term: str, categories: Iterable[str], note: str, *, days: int, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Which recorded decisions would flip if the rules matching by this glossary term used
    these categories as its definition (a proposed change, before it is approved)."""
    rules = rules_with_definition(current_index().rules, term, frozenset(categories), note)
    return replay(rules, days=days, now=now)


def adequacy_what_if(*, decided_by: str, country: str, falls_on: dt.date) -> dict[str, Any]:
    """If `decided_by`'s adequacy decision for `country` ended on `falls_on`: what would be affected?"""
    current = current_index()
    key = (decided_by, country)
    # Every decision stops applying on falls_on: cut the ones in force, drop those not yet begun.
    ended = tuple(
        AdequacyFacts(
            a.id,
            a.country,
            a.scope,
            a.instrument,
            a.effective_from,
            min(a.effective_until or falls_on, falls_on),
            a.scope_code,
            a.scope_description,
        )
        for a in current.adequacy.get(key, ())
        if a.effective_from < falls_on
    )
    candidate = with_adequacy(
        current, {**current.adequacy, key: ended}, f"{current.version}+what-if"
    )
    at = dt.datetime.combine(falls_on, dt.time(12), tzinfo=dt.UTC)
    regions = [r for r in current.regions.values() if r.country == country]
    # What relies on a decision limited to some recipients is work with recipients in scope.
    in_scope = frozenset(a.scope_code for a in current.adequacy.get(key, ()) if a.scope_code)

    def flips(ds_id: int, region: str, purpose: str) -> tuple[Decision, Decision] | None:
        before = evaluate(current, ds_id, "process", region, purpose, at, in_scope)
        after = evaluate(candidate, ds_id, "process", region, purpose, at, in_scope)
        return (before, after) if before.allowed and not after.allowed else None

    datasets = []
    for ds in current.datasets.values():
        if decided_by not in ds.laws:
            continue
        places = [
            r.code for r in regions if r.code == ds.storage_region or r.code in ds.allowed_regions
        ]
        hits = [(code, pair) for code in places if (pair := flips(ds.id, code, "analytics"))]
        if hits:
            datasets.append(
                {
                    "dataset": ds.slug,
                    "regions": [code for code, _ in hits],
                    "reason": hits[0][1][1].reason,
                }
            )
    affected_slugs = {d["dataset"] for d in datasets}
    runs = _runs_in(country, decided_by, current, candidate, at)
    grants = [
        {"id": g.id, "mechanism": g.get_mechanism_display(), "valid_until": g.valid_until}
        for g in TransferGrant.objects.filter(
            mechanism="adequacy",
            destination_regions__country_id=country,
            revoked_at__isnull=True,
            valid_until__gt=at,
        ).distinct()
    ]
    return {
        "decided_by": decided_by,
        "country": country,
        "falls_on": falls_on,
        "decisions_ending": [
            a.instrument for a in current.adequacy.get(key, ()) if a.in_force(falls_on)
        ],
        "datasets": sorted(datasets, key=lambda d: d["dataset"]),
        "training_runs": runs,
        "grants_relying_on_adequacy": grants,
        "summary": {
            "datasets": len(affected_slugs),
            "training_runs": len(runs),
            "grants": len(grants),
        },
    }


def _runs_in(
    country: str,
    decided_by: str,
    current: PolicyIndex,
    candidate: PolicyIndex,
    at: dt.datetime,
) -> list[dict[str, Any]]:
    runs = []
    queryset = (
        TrainingRun.objects.filter(compute_regions__country_id=country)
        .distinct()
        .prefetch_related("compute_regions", "inputs__dataset")
    )
    for run in queryset:
        affected = []
        for region in run.compute_regions.all():
            if region.country_id != country:
                continue
            for item in run.inputs.all():
                ds = current.datasets.get(item.dataset_id)
                if ds is None or decided_by not in ds.laws:
                    continue
                scopes = frozenset(run.scopes)
                declared = frozenset(d["technique"] for d in run.techniques)
                before = evaluate(
                    current, ds.id, "train", region.code, run.purpose_id, at, scopes, declared
                )
                after = evaluate(
                    candidate, ds.id, "train", region.code, run.purpose_id, at, scopes, declared
                )
                if before.allowed and not after.allowed:
                    affected.append({"dataset": ds.slug, "region": region.code})
        if affected:
            runs.append({"id": run.pk, "name": run.name, "affected": affected})
    return runs


def locality_rules() -> QuerySet[LocalityRule]:
    """Rules with everything the list and the detail show, in a fixed number of queries."""
    return LocalityRule.objects.select_related(
        "jurisdiction", "category", "dataset", "term"
    ).prefetch_related(
        Prefetch("regions", Region.objects.order_by("code")),
        Prefetch("countries", Country.objects.order_by("code")),
        Prefetch("term__categories", PersonalDataCategory.objects.order_by("code")),
    )
