"""What an incident page and the API's incident detail show: why (the rule broken and its kind),
whose data, from where to where, which events and runs, what happened since, what was found,
and the ways out. Reads only; the page and the API render the same facts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, Min, QuerySet
from django.urls import reverse

from catalog.models import Dataset
from governance.models import LocalityRule, TrainingRun
from monitoring.models import (
    PLAYBOOK_STEPS,
    Basis,
    Incident,
    IncidentEvent,
    LineageRun,
    Violation,
)
from monitoring.selectors import Visibility, related_incidents

EVENTS_PER_PAGE = 20
RUNS_PER_PAGE = 20
TIMELINE_SHOWN = 200
OFFICERS_RULE = "rule:"
LAW_SAYS = {
    "deny": "forbids this transfer",
    "needs_mechanism": "allows it only with a transfer mechanism, and none was recorded",
    "not_encoded": "is not encoded in Locus",
    "allow": "allows it",
}


@dataclass
class Why:
    """The rule broken: its kind (law or house), its name, and each half's verdict."""

    kind: str  # "law" | "house"
    label: str
    rule: str
    legal: dict
    house: dict
    officers_rule: LocalityRule | None = None
    declared_regions: list[str] = field(default_factory=list)

    @property
    def law_says(self) -> str:
        """The legal verdict in words."""
        return LAW_SAYS.get(self.legal.get("outcome", ""), self.legal.get("outcome", ""))

    def as_json(self) -> dict[str, Any]:
        rule = self.officers_rule
        return {
            "kind": self.kind,
            "label": self.label,
            "rule": self.rule,
            "law": self.legal or None,
            "house": self.house or None,
            "officers_rule": None if rule is None else {"id": rule.pk, "name": rule.name},
            "declared_regions": self.declared_regions,
        }


def why(incident: Incident, dataset: Dataset | None) -> Why:
    """The rule this incident's violations broke, as the engine said when it opened."""
    house = incident.house_verdict
    rule_ids = [
        r.removeprefix(OFFICERS_RULE)
        for r in (incident.rule, house.get("rule", ""))
        if r.startswith(OFFICERS_RULE) and r.removeprefix(OFFICERS_RULE).isdigit()
    ]
    officers_rule = LocalityRule.objects.filter(pk__in=rule_ids).first() if rule_ids else None
    return Why(
        kind=incident.rule_kind,
        label=incident.rule_label,
        rule=incident.rule,
        legal=incident.legal_verdict,
        house=house,
        officers_rule=officers_rule,
        declared_regions=declared_regions(dataset),
    )


def declared_regions(dataset: Dataset | None) -> list[str]:
    """Where the dataset says it may be: its storage region first, then its processing regions."""
    if dataset is None:
        return []
    allowed = sorted(dataset.allowed_processing_regions.values_list("code", flat=True))
    home = dataset.storage_region.code
    return [home, *(r for r in allowed if r != home)]


def source_regions(incident: Incident) -> list[dict]:
    """Where the data came from, with how many violations each."""
    return list(
        Violation.objects.filter(incident=incident)
        .values("source_region", "source_country")
        .annotate(violations=Count("pk"))
        .order_by("-violations", "source_region")
    )


def events(incident: Incident) -> QuerySet[Violation]:
    """The incident's violations with their events, latest first."""
    return (
        Violation.objects.filter(incident=incident)
        .select_related("event")
        .order_by("-occurred_at", "-id")
    )


@dataclass
class Run:
    """A run the incident's events came from: a pipeline or OpenLineage run id, with what
    Locus knows of it (an OpenLineage run, a registered training run)."""

    run_id: str
    violations: int
    first: Any
    last: Any
    lineage: LineageRun | None = None
    training: TrainingRun | None = None

    def as_json(self) -> dict[str, Any]:
        lineage, training = self.lineage, self.training
        return {
            "run_id": self.run_id,
            "violations": self.violations,
            "first_violation_at": self.first.isoformat(),
            "last_violation_at": self.last.isoformat(),
            "openlineage": None
            if lineage is None
            else {
                "job": f"{lineage.job_namespace}/{lineage.job_name}",
                "state": lineage.state,
                "region": lineage.region,
            },
            "training_run": None
            if training is None
            else {"id": training.pk, "name": training.name, "verdict": training.verdict},
        }


def runs(incident: Incident) -> QuerySet:
    """The run ids of the incident's events, with their counts (a values queryset to page,
    newest violation first; its keys are the names the API answers and orders by)."""
    return (
        Violation.objects.filter(incident=incident)
        .exclude(event__run_id="")
        .values(run_id=F("event__run_id"))
        .annotate(
            violations=Count("pk"),
            first_violation_at=Min("occurred_at"),
            last_violation_at=Max("occurred_at"),
        )
        .order_by("-last_violation_at", "run_id")
    )


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def known_runs(rows: list[dict]) -> list[Run]:
    """The page's runs, matched to OpenLineage runs (by runId) and training runs (by their
    external id or Locus id): two queries for the page."""
    ids = [row["run_id"] for row in rows]
    uuids = [u for u in map(_uuid, ids) if u is not None]
    lineage = {str(r.run_id): r for r in LineageRun.objects.filter(run_id__in=uuids)}
    numbers = [int(i) for i in ids if i.isdigit()]
    training: dict[str, TrainingRun] = {}
    for run in TrainingRun.objects.filter(external_id__in=ids) | TrainingRun.objects.filter(
        pk__in=numbers
    ):
        training.setdefault(run.external_id or str(run.pk), run)
        training.setdefault(str(run.pk), run)
    return [
        Run(
            run_id=row["run_id"],
            violations=row["violations"],
            first=row["first_violation_at"],
            last=row["last_violation_at"],
            lineage=lineage.get(row["run_id"]),
            training=training.get(row["run_id"]),
        )
        for row in rows
    ]


@dataclass
class Moment:
    """A line of the timeline."""

    at: Any
    kind: str
    label: str
    who: str
    note: str = ""
    data: dict = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "what": self.label,
            "by": self.who,
            "note": self.note,
            "details": self.data,
        }


def timeline(incident: Incident) -> list[Moment]:
    """When it opened, then every step, comment and reopening, oldest first."""
    opened = Moment(
        incident.opened_at,
        "opened",
        "Opened",
        "Locus",
        f"First violation at {incident.first_violation_at:%Y-%m-%d %H:%M} UTC",
    )
    rows = IncidentEvent.objects.filter(incident=incident).order_by("at", "id")[:TIMELINE_SHOWN]
    return [opened] + [
        Moment(e.at, e.kind, e.get_kind_display(), e.actor_name or "Locus", e.note, e.data)
        for e in rows
    ]


def playbook(incident: Incident) -> list[dict]:
    """The playbook's steps in order, each done (by whom, when) or not."""
    return [{"step": step, "done": incident.playbook.get(step)} for step in PLAYBOOK_STEPS]


def ways_out(incident: Incident) -> dict[str, str]:
    """Where to go to end it: ask for a transfer exception (pre-filled), change the dataset's
    declared regions, or contain it (a step on the incident)."""
    links = {
        "exception": reverse("monitoring:incident-exception", args=[incident.pk]),
        "contain": reverse("monitoring:incident-action", args=[incident.pk, "contain"]),
    }
    if incident.dataset_id is not None:
        links["declared_regions"] = reverse("catalog:dataset-edit", args=[incident.dataset_slug])
    return links


def page_of(rows, number: str | None, per_page: int) -> Page:
    """One page of a list (the last one when the number is past it; the first when not one)."""
    return Paginator(rows, per_page).get_page(number)


@dataclass
class Facts:
    """Everything the page shows, but the paged lists."""

    incident: Incident
    dataset: Dataset | None
    why: Why
    sources: list[dict]
    timeline: list[Moment]
    playbook: list[dict]
    related: list[Incident]
    ways_out: dict[str, str]

    @property
    def legal(self) -> bool:
        return self.incident.basis == Basis.LEGAL


def facts(incident: Incident, seen: Visibility) -> Facts:
    """The incident's facts for one viewer (related incidents are those they may see)."""
    dataset = None
    if incident.dataset_id is not None:
        dataset = (
            Dataset.objects.select_related("owner", "steward", "storage_region", "jurisdiction")
            .filter(pk=incident.dataset_id)
            .first()
        )
    return Facts(
        incident=incident,
        dataset=dataset,
        why=why(incident, dataset),
        sources=source_regions(incident),
        timeline=timeline(incident),
        playbook=playbook(incident),
        related=related_incidents(incident, seen),
        ways_out=ways_out(incident),
    )
