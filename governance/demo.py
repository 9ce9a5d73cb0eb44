"""Demo governance state: locality rules, training runs, recorded decisions and a signed
checkpoint of the decision log. (The demo's grants are made by approving its transfer
exceptions: requests.demo.)"""

from typing import Any

from django.db import transaction

from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Region
from governance.checks.services import training_run_register
from governance.ledger.export import checkpoint_create
from governance.ledger.records import recorded_decision_create
from governance.models import (
    LedgerCheckpoint,
    LocalityRule,
    Purpose,
    RecordedDecision,
    TrainingRun,
)
from governance.policy.rules import rule_create

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Health data never leaves the EEA",
        "description": "Board decision 2026-03: special-category health data is processed in the EEA only.",
        "category": "health",
        "effect": LocalityRule.Effect.ALLOW_ONLY,
        "countries": "eea",
        "priority": 200,
    },
    {
        "name": "No training on biometric data in the US",
        "description": "Pending state biometric-privacy review (BIPA-style laws).",
        "category": "biometric",
        "effect": LocalityRule.Effect.DENY,
        "countries": ["US"],
        "actions": ["train"],
        "priority": 150,
    },
    {
        "name": "Brazilian data stays in South America or the EEA",
        "jurisdiction": "br",
        "effect": LocalityRule.Effect.ALLOW_ONLY,
        "countries": ["BR", "AR", "UY", "CL", "DE", "IE", "FR", "NL"],
        "priority": 120,
    },
]

DEMO_RUNS = [
    ("churn-model nightly", ["aws:eu-west-1"], "clickstream"),
    ("voice-assistant fine-tune", ["aws:us-east-1", "aws:eu-central-1"], "voice-samples"),
    ("search-ranking v7", ["gcp:us-central1"], "search-queries"),
    ("fraud-detector retrain", ["aws:eu-west-2"], "payments"),
]


def _places(spec: str | list[str]) -> dict[str, list[Country]]:
    if spec == "eea":
        return {"countries": list(Country.objects.filter(in_eea=True))}
    return {"countries": list(Country.objects.filter(code__in=spec))}


def _seed_rules(officer) -> int:
    created = 0
    for spec in DEMO_RULES:
        if LocalityRule.objects.filter(name=spec["name"]).exists():
            continue
        fields: dict[str, Any] = {
            k: v for k, v in spec.items() if k not in ("countries", "category", "jurisdiction")
        }
        if "category" in spec:
            fields["category"] = PersonalDataCategory.objects.get(code=spec["category"])
        if "jurisdiction" in spec:
            fields["jurisdiction"] = Jurisdiction.objects.get(code=spec["jurisdiction"])
        rule_create(actor=officer, regions=[], **_places(spec["countries"]), **fields)
        created += 1
    return created


def _seed_runs(engineer) -> int:
    created = 0
    purpose = Purpose.objects.get(code="model-training")
    for name, regions, theme in DEMO_RUNS:
        if TrainingRun.objects.filter(name=name).exists():
            continue
        inputs = [
            (ds, "2026-11-01") for ds in Dataset.objects.filter(slug__startswith=f"{theme}-")[:3]
        ]
        if not inputs:
            continue
        training_run_register(
            actor=engineer,
            name=name,
            purpose=purpose,
            compute_regions=list(Region.objects.filter(code__in=regions)),
            inputs=inputs,
            justification="Demo run: the compute region follows the team's GPU capacity.",
        )
        created += 1
    return created


DEMO_DECISIONS: list[dict[str, Any]] = [
    {
        "title": "Health data is processed in the EEA only",
        "context": "Claims data is special-category data (GDPR Art. 9); two vendors offered "
        "cheaper GPU capacity in the US.",
        "decision": "Health data never leaves the EEA, whatever the mechanism offered.",
        "rationale": "The risk to claimants outweighs the saving; EU capacity is enough.",
        "alternatives": "SCCs with a US vendor and pseudonymisation (rejected: re-identifiable).",
        "status": RecordedDecision.Status.ACCEPTED,
        "rule": "Health data never leaves the EEA",
        "dataset_prefix": "health-claims-",
    },
    {
        "title": "EU card payments scored by the US fraud platform",
        "context": "The group's fraud platform runs in Virginia; EU cards are scored there.",
        "decision": "Allow under SCC module 2 with the keys held in Frankfurt, once two officers "
        "approve the transfer exception.",
        "status": RecordedDecision.Status.PROPOSED,
        "dataset_prefix": "payments-",
    },
]


def _seed_decisions(officer) -> int:
    created = 0
    for spec in DEMO_DECISIONS:
        if RecordedDecision.objects.filter(title=spec["title"]).exists():
            continue
        fields = {k: v for k, v in spec.items() if k not in ("rule", "dataset_prefix")}
        dataset = Dataset.objects.filter(slug__startswith=spec["dataset_prefix"]).first()
        recorded_decision_create(
            actor=officer,
            datasets=[dataset] if dataset else [],
            rules=list(LocalityRule.objects.filter(name=spec.get("rule", ""))),
            **fields,
        )
        created += 1
    return created


def seed_checkpoint(auditor) -> bool:
    """Sign the decision log's head once, as an auditor does before taking an export."""
    if LedgerCheckpoint.objects.exists():
        return False
    checkpoint_create(actor=auditor)
    return True


@transaction.atomic
def seed_governance(*, officer, engineer) -> dict[str, int]:
    """Create the demo rules, runs and recorded decisions once; running again changes nothing."""
    return {
        "rules": _seed_rules(officer),
        "training_runs": _seed_runs(engineer),
        "decisions": _seed_decisions(officer),
    }
