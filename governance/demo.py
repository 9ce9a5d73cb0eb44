"""Demo governance state: locality rules and training runs. (The demo's grants are made by
approving its transfer exceptions: requests.demo.)"""

from typing import Any

from django.db import transaction

from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Region
from governance.checks.services import training_run_register
from governance.models import LocalityRule, Purpose, TrainingRun
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


@transaction.atomic
def seed_governance(*, officer, engineer) -> dict[str, int]:
    """Create the demo rules, grants and runs once; running again changes nothing."""
    return {
        "rules": _seed_rules(officer),
        "training_runs": _seed_runs(engineer),
    }
