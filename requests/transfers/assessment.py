"""What an exception is judged on: its source jurisdictions, whether it needs four eyes, its
risk, the policy engine's answers for each pair of places, and the checks of its terms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from catalog.models import Dataset, Jurisdiction, Regime, Region, Sensitivity
from governance.models import Purpose, TransferMechanism
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from requests.models import (
    RiskLevel,
    SupplementaryMeasure,
    TransferException,
)
from requests.transfers.workflow import FOUR_EYES_MECHANISMS, JUDGED_ACTIONS

# --- Facts an exception is judged on ---------------------------------------------------------


def source_jurisdictions(exception: TransferException) -> set[str]:
    """The laws the data leaves: where the datasets are stored and whose people they describe,
    and the jurisdictions of the source regions."""
    datasets = exception.datasets.all()
    ids = {d.jurisdiction_id for d in datasets}
    ids |= set(
        Dataset.subject_jurisdictions.through.objects.filter(dataset__in=datasets).values_list(
            "jurisdiction_id", flat=True
        )
    )
    ids |= set(exception.source_regions.values_list("jurisdiction_id", flat=True))
    return ids


def needs_four_eyes(exception: TransferException) -> bool:
    """Restricted data, a PIPL transfer or an Art. 49 derogation needs two approvers."""
    if exception.mechanism in FOUR_EYES_MECHANISMS:
        return True
    datasets = exception.datasets.all()
    if any(d.sensitivity == Sensitivity.RESTRICTED for d in datasets):
        return True
    return Jurisdiction.objects.filter(
        pk__in=source_jurisdictions(exception), regime=Regime.PIPL
    ).exists()


def assess_risk(exception: TransferException, four_eyes: bool) -> str:
    if four_eyes or exception.tia_risk_level == RiskLevel.HIGH:
        return RiskLevel.HIGH
    has_personal = exception.datasets.filter(personal_data_categories__isnull=False).exists()
    if has_personal or exception.tia_risk_level == RiskLevel.MEDIUM:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


@dataclass(frozen=True)
class PairAnswer:
    """What the engine says, now, about one dataset in one destination."""

    dataset: str
    region: str
    outcome: str
    rule: str
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome != "deny"


def rule_answers(
    *,
    datasets: Iterable[Dataset],
    destination_regions: Iterable[Region],
    purpose: Purpose,
    at: dt.datetime,
    action: str = "transfer",
) -> list[PairAnswer]:
    """The engine's answer for each dataset and destination: the diff between what is asked and
    what the rules allow (a grant an exception already made counts: it shows as allowed)."""
    index = current_index()
    answers = []
    for ds in datasets:
        for region in destination_regions:
            decision = evaluate(index, ds.pk, action, region.code, purpose.pk, at)
            answers.append(
                PairAnswer(ds.slug, region.code, decision.outcome, decision.rule, decision.reason)
            )
    return answers


def already_allowed(
    *,
    datasets: list[Dataset],
    destination_regions: list[Region],
    purpose: Purpose,
    at: dt.datetime,
) -> list[str]:
    """Destinations where the rules already allow every judged action on every dataset."""
    free = []
    for region in destination_regions:
        if all(
            answer.allowed
            for action in JUDGED_ACTIONS
            for answer in rule_answers(
                datasets=datasets,
                destination_regions=[region],
                purpose=purpose,
                at=at,
                action=action,
            )
        ):
            free.append(region.code)
    return free


# --- Validation ------------------------------------------------------------------------------


def max_days(mechanism: str) -> int:
    caps = settings.EXCEPTION_MAX_DAYS
    return caps.get(mechanism, caps["default"])


def validate_terms(fields: dict) -> None:
    """The checks that need no database: period, cap, mechanism details, assessment."""
    errors: dict[str, str] = {}
    starts_at, ends_at = fields["starts_at"], fields["ends_at"]
    mechanism = fields["mechanism"]
    if ends_at <= starts_at:
        errors["ends_at"] = "The end must be after the start"
    elif ends_at - starts_at > dt.timedelta(days=max_days(mechanism)):
        errors["ends_at"] = (
            f"An exception on {TransferMechanism(mechanism).label} lasts at most "
            f"{max_days(mechanism)} days; ask for a shorter period"
        )
    if mechanism == TransferMechanism.SCC and not fields.get("scc_module"):
        errors["scc_module"] = "Name the SCC module (Decision (EU) 2021/914)"
    if mechanism != TransferMechanism.SCC and fields.get("scc_module"):
        errors["scc_module"] = "An SCC module only goes with standard contractual clauses"
    if mechanism == TransferMechanism.ART49 and not fields.get("derogation"):
        errors["derogation"] = "Name the Art. 49 derogation relied on"
    if mechanism != TransferMechanism.ART49 and fields.get("derogation"):
        errors["derogation"] = "A derogation only goes with an Art. 49 transfer"
    risks = fields.get("tia_risks", [])
    if not isinstance(risks, list) or not all(isinstance(r, str) and r.strip() for r in risks):
        errors["tia_risks"] = "A list of the risks found, each a non-empty text"
    measures = fields.get("tia_measures", [])
    unknown = (
        [m for m in measures if m not in SupplementaryMeasure.values]
        if isinstance(measures, list)
        else ["?"]
    )
    if unknown:
        errors["tia_measures"] = (
            f"Unknown measures {unknown}; use {', '.join(SupplementaryMeasure.values)}"
        )
    if not str(fields.get("justification", "")).strip():
        errors["justification"] = "Say why the work needs this exception"
    if errors:
        raise ValidationError(errors)


def validate_places(exception: TransferException, at: dt.datetime) -> None:
    datasets = list(exception.datasets.all())
    destinations = list(exception.destination_regions.all())
    errors = {}
    if not datasets:
        errors["datasets"] = "Name at least one dataset"
    if not destinations:
        errors["destination_regions"] = "Name at least one destination region"
    if errors:
        raise ValidationError(errors)
    free = already_allowed(
        datasets=datasets, destination_regions=destinations, purpose=exception.purpose, at=at
    )
    if free:
        raise ValidationError(
            {
                "destination_regions": (
                    f"The rules already allow this work in {', '.join(free)}: "
                    "no exception is needed there"
                )
            }
        )
