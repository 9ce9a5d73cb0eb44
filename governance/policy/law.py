"""The law's verdict, apart from the house's: may personal data protected by these laws be
handled in that country, and which article says so?

A dataset is protected by the law of its data subjects and by the law it is stored under (and,
for a US state, by federal law too). For each of those laws, in this order:

1. a duty to store the data in the country first (152-FZ Art. 18(5)) is broken wherever the
   data is stored abroad: deny;
2. inside the law's own countries: allow;
3. a destination its government bars for these categories (28 CFR Part 202): deny, or needs its
   listed safeguard;
4. a destination its law recognises (an adequacy decision, a whitelist) in force that day: allow;
   one recognised only for some recipients (DPF-certified, PIPEDA-regulated): allow when the
   check says the recipient is in that scope, else needs a mechanism, naming the scope question;
5. otherwise by the law's model: `restricted` needs one of its listed mechanisms;
   `accountability` and `open_except_listed` allow, saying why.

The strictest verdict among the laws is the law's answer. Conditional localisation duties (which
bind only some organisations or volumes, which the catalog does not record) are named in it.
A law with no transfer rule encoded answers `not_encoded`: never a silent allow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

LAW_ALLOW = "allow"
LAW_NEEDS_MECHANISM = "needs_mechanism"
LAW_DENY = "deny"
LAW_NOT_ENCODED = "not_encoded"
LEGAL_OUTCOMES = (LAW_ALLOW, LAW_NOT_ENCODED, LAW_NEEDS_MECHANISM, LAW_DENY)
_STRICTNESS = {outcome: rank for rank, outcome in enumerate(LEGAL_OUTCOMES)}

RESTRICTED = "restricted"
ACCOUNTABILITY = "accountability"
OPEN_EXCEPT_LISTED = "open_except_listed"
STORE_FIRST = "store_first"
STORE_ONLY = "store_only"
CONDITIONAL = "conditional"
SCOPE_QUESTION = "adequacy"  # a grant naming "adequacy" answers a scope question

# A transfer grant names one mechanism (governance.models.TransferMechanism); the codes of the
# laws' own mechanisms it stands for. "other" is a route the approving officer named in words.
GRANT_MECHANISMS: dict[str, frozenset[str]] = {
    "adequacy": frozenset({SCOPE_QUESTION, "adequate_law"}),
    "scc": frozenset({"scc"}),
    "bcr": frozenset({"bcr"}),
    "art49": frozenset({"derogation", "contract_necessity"}),
    "pipl_standard_contract": frozenset({"standard_contract"}),
    "pipl_certification": frozenset({"certification"}),
    "pipl_security_assessment": frozenset({"security_assessment"}),
    "consent": frozenset({"consent"}),
}


@dataclass(frozen=True, slots=True)
class Mechanism:
    code: str
    name: str
    citation: str


@dataclass(frozen=True, slots=True)
class TransferLawFacts:
    jurisdiction: str
    name: str  # how answers name the law, e.g. "Swiss FADP"
    model: str
    home: frozenset[str]
    mechanisms: tuple[Mechanism, ...]
    citation: str
    verified: bool

    def routes(self) -> str:
        """The mechanisms, as an answer names them."""
        seen: dict[str, str] = {}
        for m in self.mechanisms:
            seen.setdefault(m.code, m.citation)
        return "; ".join(f"{code} ({citation})" for code, citation in seen.items())


@dataclass(frozen=True, slots=True)
class DutyFacts:
    jurisdiction: str
    duty: str
    applies_to: str
    categories: frozenset[str]
    citation: str
    effective_from: dt.date | None

    def binds(self, categories: frozenset[str], day: dt.date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            not self.categories or bool(self.categories & categories)
        )


@dataclass(frozen=True, slots=True)
class RestrictionFacts:
    code: str
    jurisdiction: str
    countries: frozenset[str]
    categories: frozenset[str]
    effect: str
    mechanisms: tuple[Mechanism, ...]
    thresholds: str  # e.g. "genetic > 100, health > 10000 people in 12 months"
    citation: str
    effective_from: dt.date | None

    def binds(self, country: str, categories: frozenset[str], day: dt.date) -> bool:
        return (
            country in self.countries
            and (self.effective_from is None or self.effective_from <= day)
            and (not self.categories or bool(self.categories & categories))
        )


@dataclass(frozen=True, slots=True)
class LegalVerdict:
    """What the law says, with the rule, the article and the regime that say it."""

    outcome: str
    rule: str
    reason: str
    citation: str = ""
    regime: str = ""
    # The mechanism codes any of which would make a `needs_mechanism` transfer lawful.
    mechanisms: frozenset[str] = frozenset()
    # True when the data leaves one of its laws' home areas (the legal reason is then the
    # telling one); False when every law it is under is at home there.
    crossing: bool = False
    # Where several laws each need a mechanism: each one's routes (a grant must fit them all).
    needs: tuple[frozenset[str], ...] = ()
    # Whether the fact that decided was checked against the law's text (None: not stated).
    verified: bool | None = None
    # The lawful basis the processing rests on, when the catalog records one the law judges
    # (consent: its article and notices); "" otherwise.
    basis: str = ""
    # Derived once when the verdict is made (verdicts are memoised, checks are not): whether
    # only a grant can make the work lawful, and for each law needing a mechanism, the grant
    # mechanisms that fit it (a grant naming none of GRANT_MECHANISMS fits every law).
    stricter_than_allow: bool = field(init=False, repr=False, compare=False)
    grant_fits: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        strict = _STRICTNESS[self.outcome] >= _STRICTNESS[LAW_NEEDS_MECHANISM]
        object.__setattr__(self, "stricter_than_allow", strict)
        fits: tuple[frozenset[str], ...] = ()
        if self.outcome == LAW_NEEDS_MECHANISM:
            fits = tuple(
                frozenset(grant for grant, codes in GRANT_MECHANISMS.items() if codes & routes)
                for routes in self.needs or (self.mechanisms,)
            )
        object.__setattr__(self, "grant_fits", fits)

    def lifted_by_grants(self, grants: Sequence[GrantLike]) -> bool:
        """`lifted_by` for grants (the engine's form: no list of mechanisms built)."""
        if self.outcome != LAW_NEEDS_MECHANISM:
            return self.outcome != LAW_DENY
        for fits in self.grant_fits:
            for grant in grants:
                if grant.mechanism in fits or grant.mechanism not in GRANT_MECHANISMS:
                    break
            else:
                return False
        return True

    def lifted_by(self, grant_mechanisms: Sequence[str]) -> bool:
        """Would grants naming these mechanisms make the transfer lawful? Each law that needs a
        mechanism must find one of its routes among them."""
        if self.outcome != LAW_NEEDS_MECHANISM:
            return self.outcome != LAW_DENY
        for routes in self.needs or (self.mechanisms,):
            if not any(_fits(mechanism, routes) for mechanism in grant_mechanisms):
                return False
        return True


class GrantLike(Protocol):
    """What this module reads of a transfer grant (facts.GrantFacts)."""

    @property
    def mechanism(self) -> str: ...


def _fits(grant_mechanism: str, routes: frozenset[str]) -> bool:
    fits = GRANT_MECHANISMS.get(grant_mechanism)
    return fits is None or bool(fits & routes)  # "other": a route the officer named in words


@dataclass(slots=True)
class LawBook:
    """Every jurisdiction's transfer law, compiled: the engine's legal half."""

    laws: dict[str, TransferLawFacts]
    duties: dict[str, tuple[DutyFacts, ...]] = field(default_factory=dict)
    restrictions: dict[str, tuple[RestrictionFacts, ...]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # jurisdiction -> its law's name

    def name(self, jurisdiction: str) -> str:
        return self.names.get(jurisdiction, jurisdiction)

    def telling_categories(self, laws: Sequence[str]) -> frozenset[str]:
        """The data categories some duty or destination restriction of these laws names: the
        only ones the laws' verdicts depend on."""
        found: set[str] = set()
        for jurisdiction in laws:
            for duty in self.duties.get(jurisdiction, ()):
                found |= duty.categories
            for restriction in self.restrictions.get(jurisdiction, ()):
                found |= restriction.categories
        return frozenset(found)


def stricter(a: LegalVerdict, b: LegalVerdict) -> LegalVerdict:
    if _STRICTNESS[b.outcome] > _STRICTNESS[a.outcome]:
        return b
    if _STRICTNESS[b.outcome] == _STRICTNESS[a.outcome] and b.crossing and not a.crossing:
        return b
    return a


NOT_PERSONAL = LegalVerdict(
    LAW_ALLOW,
    "law:not-personal",
    "holds no personal data: no data-protection transfer rule applies",
)


class AdequacyLike(Protocol):
    """What this module reads of an adequacy decision (facts.AdequacyFacts)."""

    @property
    def scope(self) -> str: ...
    @property
    def scope_code(self) -> str: ...
    @property
    def scope_description(self) -> str: ...
    @property
    def instrument(self) -> str: ...
    def in_force(self, day: dt.date) -> bool: ...


Adequacy = Mapping[tuple[str, str], Sequence[AdequacyLike]]


def judge_law(
    book: LawBook,
    adequacy: Adequacy,
    laws: tuple[str, ...],
    stored_in: str,
    categories: frozenset[str],
    country: str,
    day: dt.date,
    scopes: frozenset[str],
) -> LegalVerdict:
    """The strictest verdict of the laws protecting the data, for work in `country` on `day`."""
    verdict: LegalVerdict | None = None
    notes: list[str] = []
    needs: list[frozenset[str]] = []
    for jurisdiction in laws:
        one = _one_law(book, adequacy, jurisdiction, stored_in, categories, country, day, scopes)
        verdict = one if verdict is None else stricter(verdict, one)
        notes += _conditional_duties(book, jurisdiction, categories, country, day)
        if one.outcome == LAW_NEEDS_MECHANISM:
            needs.append(one.mechanisms)
    if verdict is None:
        return NOT_PERSONAL
    if (notes or len(needs) > 1) and verdict.outcome != LAW_DENY:
        return LegalVerdict(
            verdict.outcome,
            verdict.rule,
            "; ".join([verdict.reason, *notes]),
            verdict.citation,
            verdict.regime,
            verdict.mechanisms,
            verdict.crossing,
            tuple(needs) if len(needs) > 1 else (),
        )
    return verdict


def _one_law(
    book: LawBook,
    adequacy: Adequacy,
    jurisdiction: str,
    stored_in: str,
    categories: frozenset[str],
    country: str,
    day: dt.date,
    scopes: frozenset[str],
) -> LegalVerdict:
    law = book.laws.get(jurisdiction)
    if law is None:
        return LegalVerdict(
            LAW_NOT_ENCODED,
            f"law:{jurisdiction}:not-encoded",
            f"no transfer rule encoded for {book.name(jurisdiction)}",
            regime=jurisdiction,
            crossing=True,
        )
    for duty in book.duties.get(jurisdiction, ()):
        if duty.duty in (STORE_FIRST, STORE_ONLY) and duty.binds(categories, day):
            if stored_in not in law.home:
                return _deny(
                    law,
                    duty,
                    f"must be recorded and stored in {_places(law)} first; "
                    f"this dataset is stored in {stored_in}",
                )
            if duty.duty == STORE_ONLY and country not in law.home:
                return _deny(law, duty, f"must stay in {_places(law)}")
    if country in law.home:
        return LegalVerdict(
            LAW_ALLOW,
            f"law:{jurisdiction}:home",
            f"{country} is inside {law.name}'s own area",
            law.citation,
            jurisdiction,
        )
    for restriction in book.restrictions.get(jurisdiction, ()):
        if restriction.binds(country, categories, day):
            return _restricted(law, restriction, country)
    return _recognised(law, adequacy.get((jurisdiction, country), ()), country, day, scopes)


def _recognised(
    law: TransferLawFacts,
    decisions: Sequence[AdequacyLike],
    country: str,
    day: dt.date,
    scopes: frozenset[str],
) -> LegalVerdict:
    """Step 4 and 5: a recognised destination, in scope or not; else the law's model."""
    questions = []
    for decision in decisions:
        if not decision.in_force(day):
            continue
        if decision.scope == "full" or decision.scope_code in scopes:
            scope = f" for {decision.scope_code}" if decision.scope_code else ""
            return LegalVerdict(
                LAW_ALLOW,
                f"law:{law.jurisdiction}:adequacy",
                f"{law.name} recognises {country}{scope} on {day}: {decision.instrument}",
                decision.instrument,
                law.jurisdiction,
                crossing=True,
            )
        questions.append(decision)
    if questions:
        asked = " or ".join(f"{d.scope_code} ({d.scope_description})" for d in questions)
        return LegalVerdict(
            LAW_NEEDS_MECHANISM,
            f"law:{law.jurisdiction}:scope",
            f"{law.name} recognises {country} only for some recipients ({questions[0].instrument}):"
            f" is the recipient {asked}? Otherwise it needs one of: {law.routes()}",
            questions[0].instrument,
            law.jurisdiction,
            frozenset({SCOPE_QUESTION, *(m.code for m in law.mechanisms)}),
            crossing=True,
        )
    if law.model == RESTRICTED:
        return LegalVerdict(
            LAW_NEEDS_MECHANISM,
            f"law:{law.jurisdiction}:transfer",
            f"{law.name} does not recognise {country} on {day}; the transfer needs one of: "
            f"{law.routes() or 'a route the law lists'}",
            law.citation,
            law.jurisdiction,
            frozenset(m.code for m in law.mechanisms),
            crossing=True,
        )
    why = (
        "transfers out are lawful and the exporter stays accountable for the data"
        if law.model == ACCOUNTABILITY
        else f"{country} is not a destination its government restricts"
    )
    return LegalVerdict(
        LAW_ALLOW,
        f"law:{law.jurisdiction}:{law.model}",
        f"{law.name}: {why} ({law.citation})",
        law.citation,
        law.jurisdiction,
        crossing=True,
    )


def _restricted(law: TransferLawFacts, restriction: RestrictionFacts, country: str) -> LegalVerdict:
    applies = (
        f"{restriction.citation}; applies above {restriction.thresholds}"
        if (restriction.thresholds)
        else restriction.citation
    )
    if restriction.effect == LAW_DENY:
        return LegalVerdict(
            LAW_DENY,
            f"law:{restriction.code}",
            f"{law.name} prohibits this data going to {country} ({applies})",
            restriction.citation,
            law.jurisdiction,
            crossing=True,
        )
    routes = "; ".join(f"{m.code} ({m.citation})" for m in restriction.mechanisms)
    return LegalVerdict(
        LAW_NEEDS_MECHANISM,
        f"law:{restriction.code}",
        f"{law.name} allows this data to go to {country} only with: {routes} ({applies})",
        restriction.citation,
        law.jurisdiction,
        frozenset(m.code for m in restriction.mechanisms),
        crossing=True,
    )


def _conditional_duties(
    book: LawBook, jurisdiction: str, categories: frozenset[str], country: str, day: dt.date
) -> list[str]:
    law = book.laws.get(jurisdiction)
    if law is None or country in law.home:
        return []
    return [
        f"a localisation duty may apply ({duty.citation}): {duty.applies_to}"
        for duty in book.duties.get(jurisdiction, ())
        if duty.duty == CONDITIONAL and duty.binds(categories, day)
    ]


def _deny(law: TransferLawFacts, duty: DutyFacts, what: str) -> LegalVerdict:
    return LegalVerdict(
        LAW_DENY,
        f"law:{law.jurisdiction}:localisation",
        f"{law.name} ({duty.citation}): {duty.applies_to}: {what}",
        duty.citation,
        law.jurisdiction,
        crossing=True,
    )


def _places(law: TransferLawFacts) -> str:
    return ", ".join(sorted(law.home)) if len(law.home) <= 3 else f"{law.name}'s area"
