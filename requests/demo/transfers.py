"""The demo's transfer exceptions, one in every state, each taken through the workflow's own
services by the people of the demo (requester, then the privacy officers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from catalog.models import Dataset, Region
from catalog.revisions import revision_bump
from governance.models import Purpose, TransferGrant
from governance.policy.index import GOVERNANCE
from requests.models import TransferException
from requests.transfers.assessment import already_allowed
from requests.transfers.services import exception_create, exception_transition, exceptions_due


@dataclass(frozen=True)
class ExceptionStory:
    """One exception: who asks for what, then the steps people take, in order."""

    title: str
    requester: str
    datasets: tuple[str, ...]
    # Tried in order: the first one the rules do not already allow (an exception approved
    # earlier in the story may have opened another).
    destinations: tuple[str, ...]
    purpose: str
    terms: dict[str, Any]
    justification: str
    steps: tuple[tuple[str, str, str], ...] = ()  # (username, action, comment)
    starts_in_days: float = 0
    days: int = 90
    # Days ago its period ended: approved, then its whole period moved into the past and
    # expired by the periodic run, as if the story had started that long ago.
    ended_days_ago: int | None = None


# "{requester}" in a step: the story's requester takes it.
SUBMIT = ("{requester}", "submit", "")
EXCEPTIONS = [
    ExceptionStory(
        title="Customer profiles for the US support desk",
        requester="omar",
        datasets=("customer-profiles-aws-eu-west-1",),
        destinations=("aws:us-east-1", "gcp:us-central1", "aws:us-east-2"),
        purpose="customer-support",
        terms={"mechanism": "scc", "scc_module": "c2p"},
        justification="The follow-the-sun support desk in Virginia answers EU customers at night.",
    ),
    ExceptionStory(
        title="Support tickets triaged by the US support vendor",
        requester="dana",
        datasets=("support-tickets-azure-uksouth",),
        destinations=("gcp:us-central1", "aws:us-east-2", "aws:us-east-1"),
        purpose="customer-support",
        terms={
            "mechanism": "other",
            "mechanism_detail": "UK International Data Transfer Addendum to the EU SCCs",
            "tia_risk_level": "medium",
            "tia_measures": ["encryption_in_transit", "access_controls"],
        },
        justification="The new ticket-triage vendor runs in the US only.",
        steps=(SUBMIT,),
    ),
    ExceptionStory(
        title="Churn features for the US training cluster",
        requester="eli",
        datasets=("clickstream-aws-eu-central-1-features",),
        destinations=("aws:us-east-2", "gcp:us-central1", "aws:us-east-1"),
        purpose="model-training",
        terms={
            "mechanism": "scc",
            "scc_module": "c2c",
            "tia_risk_level": "medium",
            "tia_measures": ["pseudonymisation", "encryption_at_rest_keys_at_source"],
        },
        justification="The EU GPU pool is booked until March; the churn model retrains weekly.",
        steps=(SUBMIT, ("priya", "start_review", "")),
    ),
    ExceptionStory(
        title="Search queries for the ranking model in the US",
        requester="eli",
        datasets=("search-queries-aws-ap-south-1",),
        destinations=("aws:us-east-1", "gcp:us-central1", "aws:us-east-2"),
        purpose="model-training",
        terms={"mechanism": "other", "mechanism_detail": "Contract with the processor"},
        justification="Search-ranking v7 trains on every market's queries.",
        steps=(
            SUBMIT,
            (
                "priya",
                "request_changes",
                "Add the transfer impact assessment: which US laws apply to the recipient, "
                "and whether the queries are pseudonymised before they leave.",
            ),
        ),
    ),
    ExceptionStory(
        title="Card payments for the US fraud platform",
        requester="omar",
        datasets=("payments-gcp-europe-west3",),
        destinations=("aws:us-east-1", "gcp:us-central1", "aws:us-east-2"),
        purpose="fraud-prevention",
        terms={
            "mechanism": "scc",
            "scc_module": "c2p",
            "tia_risk_level": "high",
            "tia_risks": ["FISA 702 access to the processor's systems"],
            "tia_measures": ["encryption_at_rest_keys_at_source", "pseudonymisation"],
            "tia_destination_laws": "FISA 702, EO 12333; the processor is DPF-certified.",
        },
        justification="Fraud scores for EU cards come from the group's US platform.",
        # Restricted data: two privacy officers approve. Priya has; Marco has not yet.
        steps=(
            SUBMIT,
            ("priya", "start_review", ""),
            ("priya", "approve", "TIA read; the keys stay in Frankfurt."),
        ),
    ),
    ExceptionStory(
        title="Clickstream for the churn model in Virginia",
        requester="eli",
        datasets=("clickstream-aws-eu-central-1",),
        destinations=("aws:us-east-1", "gcp:us-central1", "aws:us-east-2"),
        purpose="model-training",
        terms={
            "mechanism": "scc",
            "scc_module": "c2c",
            "mechanism_detail": "TIA 2026-07",
            "tia_risk_level": "medium",
            "tia_measures": ["pseudonymisation", "encryption_in_transit"],
        },
        justification="Churn-model nightly runs where the GPUs are.",
        steps=(SUBMIT, ("priya", "approve", "SCC module 1 signed; TIA on file.")),
    ),
    ExceptionStory(
        title="Beta testers' clicks for the ranking experiment",
        requester="eli",
        datasets=("clickstream-aws-eu-central-1",),
        destinations=("gcp:us-central1", "aws:us-east-2", "aws:us-east-1"),
        purpose="model-evaluation",
        terms={
            "mechanism": "art49",
            "derogation": "49_1_a",
            "mechanism_detail": "One-off: testers who opted in to the beta",
        },
        justification="A two-week evaluation with testers who consented to it explicitly.",
        steps=(
            SUBMIT,
            ("priya", "approve", "Consent records checked."),
            ("marco", "approve", "Second approval: one-off, two weeks."),
        ),
        starts_in_days=3,
        days=14,
    ),
    ExceptionStory(
        title="Voice samples for the US speech model",
        requester="dana",
        datasets=("voice-samples-alibaba-cn-shanghai",),
        destinations=("aws:us-west-2", "gcp:us-central1", "aws:us-east-1"),
        purpose="model-training",
        terms={"mechanism": "pipl_standard_contract"},
        justification="The speech model is trained in Oregon.",
        steps=(
            SUBMIT,
            ("priya", "start_review", ""),
            (
                "priya",
                "reject",
                "Voice prints are sensitive personal information (PIPL Art. 28): the standard "
                "contract is not filed with the CAC and there is no separate consent.",
            ),
        ),
    ),
    ExceptionStory(
        title="Location pings for the US maps team",
        requester="dana",
        datasets=("geo-pings-aws-sa-east-1",),
        destinations=("aws:us-east-1", "gcp:us-central1", "aws:us-east-2"),
        purpose="product-improvement",
        terms={"mechanism": "other", "mechanism_detail": "ANPD standard contractual clauses"},
        justification="The maps team wanted São Paulo traffic patterns.",
        steps=(SUBMIT, ("{requester}", "withdraw", "The maps team will work in São Paulo.")),
    ),
    ExceptionStory(
        title="Year-end support surge in Pune",
        requester="omar",
        datasets=("customer-profiles-aws-eu-west-1",),
        destinations=("azure:centralindia", "aws:ap-south-1", "gcp:asia-south1"),
        purpose="customer-support",
        terms={"mechanism": "scc", "scc_module": "c2p"},
        justification="The Pune team covered the holiday peak.",
        steps=(SUBMIT, ("priya", "approve", "For the peak only.")),
        days=30,
        ended_days_ago=12,
    ),
    ExceptionStory(
        title="Support tickets for the US chatbot pilot",
        requester="dana",
        datasets=("support-tickets-azure-uksouth-features",),
        destinations=("aws:us-east-2", "aws:us-east-1", "gcp:us-central1"),
        purpose="model-training",
        terms={"mechanism": "other", "mechanism_detail": "UK IDTA"},
        justification="A chatbot pilot trained on anonymised ticket features.",
        steps=(
            SUBMIT,
            ("priya", "approve", ""),
            (
                "priya",
                "revoke",
                "The features turned out to hold customers' names: the pilot stops until they "
                "are removed.",
            ),
        ),
    ),
]


def _free_destination(story: ExceptionStory, datasets: list[Dataset], purpose: Purpose, at):
    """The first destination of the story that the rules do not already allow."""
    for code in story.destinations:
        region = Region.objects.filter(code=code).first()
        if region is None:
            continue
        if not already_allowed(
            datasets=datasets, destination_regions=[region], purpose=purpose, at=at
        ):
            return region
    return None


def _tell_exception(story: ExceptionStory, people: dict[str, User]) -> TransferException | None:
    datasets = list(Dataset.objects.filter(slug__in=story.datasets))
    purpose = Purpose.objects.get(code=story.purpose)
    now = timezone.now()
    starts_at = now + dt.timedelta(days=story.starts_in_days)
    destination = _free_destination(story, datasets, purpose, starts_at)
    if len(datasets) < len(story.datasets) or destination is None:
        return None  # a catalog without the story's datasets, or nowhere left to ask for
    requester = people[story.requester]
    exception = exception_create(
        actor=requester,
        datasets=datasets,
        destination_regions=[destination],
        title=story.title,
        purpose=purpose,
        justification=story.justification,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(days=story.days),
        **story.terms,
    )
    for username, action, comment in story.steps:
        actor = requester if username == "{requester}" else people[username]
        exception = exception_transition(
            actor=actor, exception=exception, action=action, comment=comment
        )
    if story.ended_days_ago is not None:
        _move_into_past(exception, story)
    return exception


def _move_into_past(exception: TransferException, story: ExceptionStory) -> None:
    """Backdating: the service stamped the period, submission, decision and grant with now; the
    story happened earlier, so they move back, and the periodic run expires the exception as it
    would have when its end came."""
    shift = dt.timedelta(days=story.days + (story.ended_days_ago or 0))
    exception.refresh_from_db()
    TransferException.objects.filter(pk=exception.pk).update(
        starts_at=exception.starts_at - shift,
        ends_at=exception.ends_at - shift,
        submitted_at=exception.submitted_at - shift if exception.submitted_at else None,
        decided_at=exception.decided_at - shift if exception.decided_at else None,
    )
    grant = exception.grant
    if grant is not None:
        TransferGrant.objects.filter(pk=grant.pk).update(
            valid_from=grant.valid_from - shift, valid_until=grant.valid_until - shift
        )
        revision_bump(GOVERNANCE)  # the engine stops honouring the grant at once
    exceptions_due()


def _retire_old_grants(officer: User) -> None:
    """Earlier demos made two grants citing exceptions that never existed; they end now."""
    from governance.grants.services import grant_revoke

    for grant in TransferGrant.objects.filter(
        reference__startswith="demo-exc-", revoked_at__isnull=True
    ):
        grant_revoke(
            actor=officer,
            grant=grant,
            reason="Replaced by grants made by approving real transfer exceptions",
        )


def seed_exceptions(people: dict[str, User]) -> int:
    """Tell each exception story once; returns how many were told now."""
    _retire_old_grants(people["priya"])
    told = 0
    for story in EXCEPTIONS:
        if TransferException.objects.filter(title=story.title).exists():
            continue
        told += _tell_exception(story, people) is not None
    return told
