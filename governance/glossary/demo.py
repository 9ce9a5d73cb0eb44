"""The demo's glossary: terms approved, in review and in draft, each written, submitted and
approved through the glossary's own services (a proposer never approves their own term)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from catalog.models import Country, Dataset
from governance.glossary.services import term_approve, term_create, term_submit
from governance.models import LocalityRule, Term
from governance.policy.rules import rule_create

# A locality rule that names an approved term: it matches the term's categories, and a change
# of the term's definition is reviewed with the replay of what it would flip.
TERM_RULE = {
    "name": "No special-category data in China",
    "description": "Matches by the glossary term: its approved definition decides which data.",
    "term": "Special-category data",
    "effect": LocalityRule.Effect.DENY,
    "countries": ["CN"],
    "priority": 180,
}


@dataclass(frozen=True)
class TermStory:
    name: str
    definition: str
    proposer: str
    ends: str  # draft | in_review | approved
    approver: str = ""
    synonyms: tuple[str, ...] = ()
    steward: str = ""
    related: tuple[str, ...] = ()  # names of terms told before
    dataset_prefixes: tuple[str, ...] = ()  # the first dataset whose slug starts with each
    rule: str = ""  # a locality rule by name
    categories: tuple[str, ...] = ()  # the definition locality rules match by


TERMS = [
    TermStory(
        "Personal data",
        "Any information relating to an identified or identifiable natural person (GDPR "
        "Art. 4(1)); an online identifier or a location ping is enough.",
        proposer="omar",
        ends="approved",
        approver="priya",
        synonyms=("Personal information", "PII"),
        steward="priya",
        dataset_prefixes=("customer-profiles-", "clickstream-"),
    ),
    TermStory(
        "Special-category data",
        "Health, biometric, genetic and other data GDPR Art. 9 protects more strictly; in this "
        "catalog, the health and biometric categories.",
        proposer="priya",
        ends="approved",
        approver="marco",
        synonyms=("Sensitive personal data",),
        steward="priya",
        related=("Personal data",),
        dataset_prefixes=("health-claims-", "voice-samples-"),
        rule="Health data never leaves the EEA",
        categories=("biometric", "health"),
    ),
    TermStory(
        "Transfer exception",
        "A time-limited permission, asked for and approved in Locus, to let named datasets be "
        "processed outside their allowed regions under a named transfer mechanism.",
        proposer="priya",
        ends="approved",
        approver="marco",
        steward="marco",
    ),
    TermStory(
        "Data subject request",
        "A person's request to exercise a right over their data (access, erasure, "
        "rectification, portability, opt-out...), answered within their law's deadline.",
        proposer="dana",
        ends="approved",
        approver="priya",
        synonyms=("DSR", "DSAR"),
        steward="priya",
        related=("Personal data",),
    ),
    TermStory(
        "Pseudonymisation",
        "Replacing identifiers so that data can no longer be attributed to a person without "
        "additional information kept separately (GDPR Art. 4(5)). Pseudonymised data is still "
        "personal data.",
        proposer="dana",
        ends="in_review",
        synonyms=("Pseudonymization",),
        related=("Personal data",),
    ),
    TermStory(
        "Feature store",
        "The team's shared table of model features derived from raw datasets; it inherits the "
        "locality rules of every dataset it is derived from.",
        proposer="omar",
        ends="in_review",
        dataset_prefixes=("clickstream-",),
    ),
    TermStory(
        "Training window",
        "The period of data a model version was trained on. Draft: agree whether it counts "
        "from collection or from ingestion.",
        proposer="omar",
        ends="draft",
    ),
    TermStory(
        "Data residency",
        "Where a dataset is stored at rest, as opposed to where it may be processed.",
        proposer="dana",
        ends="draft",
        synonyms=("Data locality",),
    ),
]


def _relations(story: TermStory, people: dict[str, User]) -> dict:
    datasets = [
        dataset
        for prefix in story.dataset_prefixes
        if (dataset := Dataset.objects.filter(slug__startswith=prefix).order_by("slug").first())
    ]
    rules = list(LocalityRule.objects.filter(name=story.rule)) if story.rule else []
    return {
        "categories": list(story.categories),
        "synonyms": list(story.synonyms),
        "steward": people.get(story.steward),
        "related": list(Term.objects.filter(name__in=story.related)),
        "datasets": datasets,
        "rules": rules,
    }


@transaction.atomic
def seed_glossary(people: dict[str, User]) -> int:
    """Write each demo term once, taking it as far as its story goes; returns terms made now."""
    made = 0
    for story in TERMS:
        if Term.objects.filter(name__iexact=story.name).exists():
            continue
        proposer = people[story.proposer]
        term = term_create(
            actor=proposer,
            name=story.name,
            definition=story.definition,
            **_relations(story, people),
        )
        if story.ends in ("in_review", "approved"):
            term_submit(actor=proposer, term=term, note="Ready for review.")
        if story.ends == "approved":
            term_approve(actor=people[story.approver], term=term, comment="Agreed.")
        made += 1
    _seed_term_rule(people["priya"])
    return made


def _seed_term_rule(officer: User) -> None:
    """The demo's rule by glossary term, once."""
    term = Term.objects.filter(name=TERM_RULE["term"]).first()
    if term is None or LocalityRule.objects.filter(name=TERM_RULE["name"]).exists():
        return
    fields = {k: v for k, v in TERM_RULE.items() if k not in ("term", "countries")}
    countries = list(Country.objects.filter(code__in=TERM_RULE["countries"]))
    rule_create(actor=officer, term=term, regions=[], countries=countries, **fields)
