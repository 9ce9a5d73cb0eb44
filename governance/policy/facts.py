"""The policy engine's inputs and answer: immutable facts about datasets, regions, rules,
adequacy decisions and grants, compiled into a `PolicyIndex`, and the `Decision` it gives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from governance.models import Action, Outcome
from governance.policy.law import LawBook, LegalVerdict

ACTIONS = frozenset(Action.values)
MEMO_LIMIT = 500_000  # memoised officer-rule answers kept per index

# Rule names as they appear in decisions ("the rule that decided").
RULE_SAME_REGION = "builtin:storage-region"
RULE_DATASET_REGIONS = "builtin:dataset-allowed-regions"
RULE_RESTRICTED = "builtin:restricted-stays-in-storage-region"
HOUSE_ALLOW = "allow"
HOUSE_DENY = "deny"


class UnknownInput(ValueError):
    """A check names a dataset, region, action or purpose the engine does not know."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True, slots=True)
class RegionFacts:
    code: str
    country: str
    jurisdiction: str


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """A consent-based dataset's consent: the purposes its notices cover (their latest
    versions) and the law that makes consent a lawful basis, with its citation."""

    purposes: frozenset[str]
    notices: str  # how answers name them: "newsletter v3, app v2"
    law: str  # the law's name, e.g. "GDPR (EU/EEA)"; "" when no consent law is encoded
    regime: str  # its jurisdiction
    citation: str  # e.g. "GDPR Art. 6(1)(a)"
    verified: bool


@dataclass(frozen=True, slots=True)
class DatasetFacts:
    id: int
    slug: str
    uri: str
    storage_region: str
    storage_jurisdiction: str
    sensitivity: str
    personal: bool
    categories: frozenset[str]
    subject_jurisdictions: frozenset[str]
    allowed_regions: frozenset[str]
    # Derived once at compile time so evaluation does no set algebra it can avoid.
    rule_group: frozenset  # the conditions it offers to rules (all but its own id)
    # The laws protecting it (none if it holds no personal data), with the country it is stored
    # in and its categories: what the law's verdict depends on, one shared object per group.
    legal_group: tuple[tuple[str, ...], str, frozenset[str]] = ((), "", frozenset())
    # The number of its group as the law's verdicts see it (its categories cut to those some
    # duty or restriction of its laws names), given by the index: the legal memo's key, shared
    # by far more datasets than the group itself and hashed at no cost. 0: not given (the memo
    # is then keyed by the group).
    legal_key: int = field(default=0, compare=False)
    # Its consent, when its lawful basis is consent and a notice names it (None otherwise).
    consent: ConsentFacts | None = field(default=None, compare=False)

    @property
    def laws(self) -> tuple[str, ...]:
        return self.legal_group[0]


@dataclass(frozen=True, slots=True)
class RuleFacts:
    id: int
    name: str
    priority: int
    effect: str
    jurisdiction: str | None
    sensitivity: str
    category: str | None
    dataset_id: int | None
    actions: frozenset[str]
    regions: frozenset[str]
    countries: frozenset[str]
    # A glossary term the rule matches by (its slug), resolved to the personal-data categories
    # of the term's approved definition when the index is built; `term_note` names it in answers.
    term: str | None = None
    term_categories: frozenset[str] = frozenset()
    term_note: str = ""
    # Work declaring all of these techniques is outside the rule (empty: the rule speaks of all).
    unless_techniques: frozenset[str] = frozenset()

    def exempts(self, techniques: frozenset[str]) -> bool:
        """Does the work's declaration take it outside this rule?"""
        return bool(self.unless_techniques) and self.unless_techniques <= techniques

    def matches(self, ds: DatasetFacts, action: str) -> bool:
        return (
            (self.dataset_id is None or self.dataset_id == ds.id)
            and (
                self.jurisdiction is None
                or self.jurisdiction == ds.storage_jurisdiction
                or self.jurisdiction in ds.subject_jurisdictions
            )
            and (not self.sensitivity or self.sensitivity == ds.sensitivity)
            and (self.category is None or self.category in ds.categories)
            and (self.term is None or not self.term_categories.isdisjoint(ds.categories))
            and (not self.actions or action in self.actions)
        )

    def covers(self, region: RegionFacts) -> bool:
        return region.code in self.regions or region.country in self.countries


@dataclass(frozen=True, slots=True)
class AdequacyFacts:
    id: int
    country: str
    scope: str
    instrument: str
    effective_from: dt.date
    effective_until: dt.date | None
    scope_code: str = ""
    scope_description: str = ""

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day < self.effective_until
        )


@dataclass(frozen=True, slots=True)
class GrantFacts:
    id: int
    regions: frozenset[str]
    purpose: str | None
    mechanism: str
    mechanism_detail: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    revoked_at: dt.datetime | None
    note: str = ""  # how a decision names it, built once

    def honours(self, region: str, purpose: str, at: dt.datetime) -> bool:
        return region in self.regions and self.honours_there(purpose, at)

    def honours_there(self, purpose: str, at: dt.datetime) -> bool:
        """Honoured for this purpose at this time, in a region it names."""
        return (
            (self.purpose is None or self.purpose == purpose)
            and self.valid_from <= at < self.valid_until
            and (self.revoked_at is None or at < self.revoked_at)
        )


# Decision and HouseVerdict are built for every check, so they are plain slotted dataclasses: a
# frozen one's __init__ sets each field through object.__setattr__, at about four times the cost.
# Nothing changes them once built.
@dataclass(slots=True)
class HouseVerdict:
    """What the organisation's own rules say: its officers' locality rules and the dataset's
    declared storage and processing regions."""

    outcome: str  # allow | deny
    rule: str
    reason: str


@dataclass(slots=True)
class Decision:
    """The engine's answer."""

    outcome: str
    rule: str
    reason: str
    policy_version: str
    grant_id: int | None = None
    legal: LegalVerdict | None = None  # what the law says
    house: HouseVerdict | None = None  # what the organisation's own rules say

    @property
    def allowed(self) -> bool:
        return self.outcome != Outcome.DENY


@dataclass(slots=True)
class PolicyIndex:
    version: str
    datasets: dict[int, DatasetFacts]
    # Slugs and URIs apart: the slug table, which nearly every check hits, stays half the size
    # (at 100k datasets a lookup in one table of both cost twice as much, in cache misses).
    datasets_by_slug: dict[str, DatasetFacts]
    datasets_by_uri: dict[str, DatasetFacts]
    regions: dict[str, RegionFacts]
    purposes: frozenset[str]
    law: LawBook
    adequacy: dict[tuple[str, str], tuple[AdequacyFacts, ...]]
    rules_by_key: dict[tuple[str, object], tuple[RuleFacts, ...]]
    grants: dict[int, tuple[GrantFacts, ...]]
    rules: tuple[RuleFacts, ...] = field(default=())
    # Derived from the above when the index is built (__post_init__), so that a check builds no
    # key tuple and scans no grant it does not need:
    # the datasets some officer rule names by id (their own rules decide before their group's);
    own_rule_datasets: frozenset[int] = field(init=False)
    # each dataset's grants by destination region, in id order.
    grants_by_region: dict[int, dict[str, tuple[GrantFacts, ...]]] = field(init=False)
    # whether some rule exempts work by its declared techniques (if none, they change nothing).
    exempting: bool = field(init=False)
    # Filled as the engine answers; never shared between indexes.
    group_rules: dict[frozenset, tuple[RuleFacts, ...]] = field(default_factory=dict)
    # (dataset id or rule group, action, region) -> the officer rule's verdict, or None.
    officer_memo: dict[tuple, HouseVerdict | None] = field(default_factory=dict)
    legal_memo: dict[tuple, LegalVerdict] = field(default_factory=dict)
    # (dataset id, purpose, transfer verdict) -> the verdict with its consent weighed.
    consent_memo: dict[tuple, LegalVerdict] = field(default_factory=dict)
    # dataset id -> the house's verdict where it is stored (no officer rule speaking), shared
    # by every such check: at most one per dataset.
    home_verdicts: dict[int, HouseVerdict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.own_rule_datasets = frozenset(
            key[1]  # type: ignore[misc]
            for key in self.rules_by_key
            if key[0] == "dataset"
        )
        self.exempting = any(
            rule.unless_techniques for rules in self.rules_by_key.values() for rule in rules
        )
        by_region: dict[int, dict[str, tuple[GrantFacts, ...]]] = {}
        for ds_id, grants in self.grants.items():
            regions = sorted({code for grant in grants for code in grant.regions})
            by_region[ds_id] = {
                code: tuple(g for g in grants if code in g.regions) for code in regions
            }
        self.grants_by_region = by_region

    def named(self, name: str) -> DatasetFacts | None:
        """The dataset with this slug, else with this URI (None if neither)."""
        found = self.datasets_by_slug.get(name)
        return found if found is not None else self.datasets_by_uri.get(name)

    def dataset(self, name_or_id: str | int) -> DatasetFacts:
        found = (
            self.datasets.get(name_or_id) if isinstance(name_or_id, int) else self.named(name_or_id)
        )
        if found is None:
            raise UnknownInput("dataset", f"Unknown dataset {name_or_id!r} (give its slug or URI)")
        return found

    def region(self, code: str) -> RegionFacts:
        found = self.regions.get(code)
        if found is None:
            raise UnknownInput(
                "region", f"Unknown region {code!r} (use provider:name, e.g. aws:eu-west-1)"
            )
        return found
