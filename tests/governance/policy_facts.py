"""The policy engine's inputs built in memory, for tests of `evaluate()` as the pure function it is.

The legal facts (regions, jurisdictions, adequacy decisions) are the shipped reference data read
from its file; datasets, officers' rules and grants are plain values compiled the way
governance.policy.index compiles the catalog's rows. No database: a test module that uses only
this needs no `django_db` mark. `test_policy_engine.py` checks that the catalog compiles the same
facts, so this helper cannot drift from the real index unnoticed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
from collections import defaultdict
from collections.abc import Iterable

from catalog.models import LawfulBasis
from catalog.reference import read_reference_data
from governance.policy.facts import (
    AdequacyFacts,
    DatasetFacts,
    GrantFacts,
    PolicyIndex,
    RegionFacts,
    RuleFacts,
)
from governance.policy.index import _grant_note, _rule_group, compile_rules
from governance.policy.law_index import build_law_book, law_jurisdictions

REFERENCE = read_reference_data()
REGIONS = {
    r["code"]: RegionFacts(r["code"], r["country"], r["jurisdiction"]) for r in REFERENCE["regions"]
}
PURPOSES = frozenset(
    code for code, *_ in importlib.import_module("governance.migrations.0002_purposes").PURPOSES
)
LAW_BOOK, PARENTS = build_law_book(
    REFERENCE["jurisdictions"],
    REFERENCE["transfer_laws"],
    REFERENCE["localisation_duties"],
    REFERENCE["destination_restrictions"],
)


def shipped_adequacy() -> list[tuple[str, AdequacyFacts]]:
    """The shipped adequacy decisions, each with the jurisdiction that decided it."""
    return [
        (
            a["decided_by"],
            _adequacy(
                number,
                a["country"],
                a["scope"],
                a["instrument"],
                a["effective_from"],
                a["effective_until"],
                a["scope_code"],
                a["scope_description"],
            ),
        )
        for number, a in enumerate(REFERENCE["adequacy_decisions"], start=1)
    ]


def _adequacy(
    number, country, scope, instrument, start, end, scope_code="", scope_description=""
) -> AdequacyFacts:
    return AdequacyFacts(
        number,
        country,
        scope,
        instrument,
        _day(start),
        end and _day(end),
        scope_code,
        scope_description,
    )


def _day(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


class World:
    """A catalog, rules and grants held in memory; `index()` compiles them for the engine."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.datasets: dict[str, DatasetFacts] = {}
        self.rules: list[RuleFacts] = []
        self.grants: dict[int, list[GrantFacts]] = defaultdict(list)
        self.adequacy = shipped_adequacy()
        self.regions = dict(REGIONS)

    def dataset(
        self,
        slug: str,
        *,
        storage_region: str = "aws:eu-west-1",
        jurisdiction: str | None = None,
        uri: str = "",
        sensitivity: str = "confidential",
        lawful_basis: str = LawfulBasis.NOT_PERSONAL,
        personal_data_categories: Iterable[str] = (),
        subject_jurisdictions: Iterable[str] = (),
        allowed_processing_regions: Iterable[str] = (),
    ) -> DatasetFacts:
        """A dataset as the catalog would hold it (its law is its storage region's by default)."""
        storage = jurisdiction or self.regions[storage_region].jurisdiction
        categories = frozenset(personal_data_categories)
        subjects = frozenset(subject_jurisdictions)
        personal = lawful_basis != LawfulBasis.NOT_PERSONAL or bool(categories)
        laws = law_jurisdictions(subjects | {storage}, PARENTS) if personal else ()
        facts = DatasetFacts(
            id=next(self._ids),
            slug=slug,
            uri=uri,
            storage_region=storage_region,
            storage_jurisdiction=storage,
            sensitivity=sensitivity,
            personal=personal,
            categories=categories,
            subject_jurisdictions=subjects,
            allowed_regions=frozenset(allowed_processing_regions),
            rule_group=_rule_group(storage, subjects, sensitivity, categories),
            legal_group=(laws, self.regions[storage_region].country, categories),
        )
        self.datasets[slug] = facts
        return facts

    def region(self, code: str, country: str, jurisdiction: str) -> RegionFacts:
        """A place the shipped regions lack (e.g. an on-premises site in Argentina)."""
        self.regions[code] = RegionFacts(code, country, jurisdiction)
        return self.regions[code]

    def rule(
        self,
        *,
        effect: str,
        name: str = "test rule",
        priority: int = 100,
        jurisdiction: str | None = None,
        sensitivity: str = "",
        category: str | None = None,
        dataset: str | None = None,
        actions: Iterable[str] = (),
        regions: Iterable[str] = (),
        countries: Iterable[str] = (),
        enabled: bool = True,
    ) -> RuleFacts:
        """An officer's locality rule (a disabled one is made but never reaches the index)."""
        facts = RuleFacts(
            id=next(self._ids),
            name=name,
            priority=priority,
            effect=effect,
            jurisdiction=jurisdiction,
            sensitivity=sensitivity,
            category=category,
            dataset_id=self.datasets[dataset].id if dataset else None,
            actions=frozenset(actions),
            regions=frozenset(regions),
            countries=frozenset(countries),
        )
        if enabled:
            self.rules.append(facts)
        return facts

    def grant(
        self,
        dataset: str,
        regions: Iterable[str],
        *,
        valid_from: dt.datetime,
        valid_until: dt.datetime,
        mechanism: str = "scc",
        mechanism_detail: str = "",
        purpose: str | None = None,
        revoked_at: dt.datetime | None = None,
    ) -> GrantFacts:
        """A transfer grant for one dataset."""
        number = next(self._ids)
        note = _grant_note(
            {
                "id": number,
                "mechanism": mechanism,
                "mechanism_detail": mechanism_detail,
                "valid_until": valid_until,
            }
        )
        facts = GrantFacts(
            number,
            frozenset(regions),
            purpose,
            mechanism,
            mechanism_detail,
            valid_from,
            valid_until,
            revoked_at,
            note,
        )
        self.grants[self.datasets[dataset].id].append(facts)
        return facts

    def adequacy_decision(self, decided_by: str, country: str, **fields) -> AdequacyFacts:
        """Another adequacy decision beside the shipped ones."""
        facts = _adequacy(
            len(self.adequacy) + 1,
            country,
            fields["scope"],
            fields["instrument"],
            fields["effective_from"],
            fields.get("effective_until"),
            fields.get("scope_code", ""),
            fields.get("scope_description", ""),
        )
        self.adequacy.append((decided_by, facts))
        return facts

    def index(self, version: str = "memory") -> PolicyIndex:
        """The engine's snapshot of everything above."""
        adequacy: dict[tuple[str, str], list[AdequacyFacts]] = defaultdict(list)
        for decided_by, decision in self.adequacy:
            adequacy[(decided_by, decision.country)].append(decision)
        datasets = list(self.datasets.values())
        return PolicyIndex(
            version=version,
            datasets={ds.id: ds for ds in datasets},
            datasets_by_slug={ds.slug: ds for ds in datasets},
            datasets_by_uri={ds.uri: ds for ds in reversed(datasets) if ds.uri},
            regions=self.regions,
            purposes=PURPOSES,
            law=LAW_BOOK,
            adequacy={
                key: tuple(
                    sorted(value, key=lambda a: a.effective_from)
                )  # as the catalog orders them
                for key, value in adequacy.items()
            },
            rules_by_key=compile_rules(self.rules),
            grants={ds_id: tuple(grants) for ds_id, grants in self.grants.items()},
            rules=tuple(self.rules),
        )
