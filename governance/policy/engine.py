"""The locality policy engine: "may this work touch this dataset in that region, and why?"

`evaluate()` is a pure function over a `PolicyIndex` (governance.policy.facts): an immutable,
compiled snapshot of the catalog facts, the privacy officers' locality rules, the adequacy
decisions and the transfer grants (governance.policy.index builds and caches it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from catalog.models import Sensitivity
from governance.models import LocalityRule, Outcome
from governance.policy.consent import judge_consent
from governance.policy.facts import (
    ACTIONS,
    HOUSE_ALLOW,
    HOUSE_DENY,
    MEMO_LIMIT,
    RULE_DATASET_REGIONS,
    RULE_RESTRICTED,
    RULE_SAME_REGION,
    DatasetFacts,
    Decision,
    GrantFacts,
    HouseVerdict,
    PolicyIndex,
    RegionFacts,
    RuleFacts,
    UnknownInput,
)
from governance.policy.law import LAW_DENY, NOT_PERSONAL, LegalVerdict, judge_law

NO_SCOPES: frozenset[str] = frozenset()
NO_TECHNIQUES: frozenset[str] = frozenset()

# The enum members the hot path compares with or answers, read once: an enum member read from
# its class costs as much as a dictionary lookup of the check.
_DENY = Outcome.DENY
_ALLOW = Outcome.ALLOW
_ALLOW_WITH_GRANT = Outcome.ALLOW_WITH_GRANT
_RESTRICTED_DATA = Sensitivity.RESTRICTED
_ACTIONS = {action: action for action in ACTIONS}
# One date object per day the engine has judged (a few a year): the legal memo's keys share it.
_DAYS: dict[dt.date, dt.date] = {}


def evaluate(
    index: PolicyIndex,
    dataset: str | int,
    action: str,
    region: str,
    purpose: str,
    at: dt.datetime,
    scopes: frozenset[str] = NO_SCOPES,
    techniques: frozenset[str] = NO_TECHNIQUES,
) -> Decision:
    """May `action` on `dataset` run in `region` for `purpose` at time `at`? Allow, allow with
    grant, or deny; with what the law says and what the house rules say, each apart.

    `scopes` are what the caller declares about the recipient there (e.g. "dpf-certified"),
    which answer the scope question of an adequacy decision limited to some recipients.
    `techniques` are the privacy techniques the work declares (catalog.techniques): they take
    it outside officers' rules that exempt them, and never change the law's verdict.
    """
    # The common case, a known slug and region, in one lookup each; the methods say what is unknown.
    ds = index.datasets_by_slug.get(dataset) or index.dataset(dataset)  # type: ignore[arg-type]
    place = index.regions.get(region) or index.region(region)
    # Memo keys are made of the index's own objects (the action's canonical string, the
    # region's code, the index's day and empty scopes), not of the caller's equal copies: a
    # lookup then compares them by identity, without reading the stored key's objects.
    known = _ACTIONS.get(action)
    if known is None:
        raise UnknownInput(
            "action", f"Unknown action {action!r}; one of {', '.join(sorted(ACTIONS))}"
        )
    action = known
    if purpose not in index.purposes:
        raise UnknownInput("purpose", f"Unknown purpose {purpose!r}")
    # The officer-rule memo hit inline (a call costs as much as the lookup); `_officer_rules`
    # fills the memo. Most checks are of data where it is stored, with no officer rule speaking.
    key = ds.id if ds.id in index.own_rule_datasets else ds.rule_group
    if techniques and index.exempting:  # rare: the answer depends on the declaration too
        officer = _officer_rules(index, ds, action, place, techniques)
    else:
        try:
            officer = index.officer_memo[(key, action, place.code)]
        except KeyError:
            officer = _officer_rules(index, ds, action, place)
    if officer is None and place.code == ds.storage_region:
        house = index.home_verdicts.get(ds.id) or _at_home(index, ds)
    else:
        house = _house(ds, place, officer)
    group = ds.legal_group
    if group[0]:  # inline: the memo hit is the common case, and a call costs as much as it
        try:
            day = at.date()
            legal = index.legal_memo[
                (
                    ds.legal_key or group,
                    place.country,
                    _DAYS.setdefault(day, day),
                    scopes or NO_SCOPES,
                )
            ]
        except KeyError:
            legal = _legal(index, ds, place, at, scopes or NO_SCOPES)
    else:
        legal = NOT_PERSONAL
    if ds.consent is not None:  # held on consent: the purpose must be one it covers
        legal = _consented(index, ds, legal, purpose)
    if legal.outcome == LAW_DENY:  # no grant makes unlawful work lawful
        return Decision(_DENY, legal.rule, legal.reason, index.version, None, legal, house)
    if house.outcome == HOUSE_ALLOW and not legal.stricter_than_allow:
        shown = legal if legal.crossing else house  # the law is the telling reason abroad
        return Decision(_ALLOW, shown.rule, shown.reason, index.version, None, legal, house)
    shown = house if house.outcome == HOUSE_DENY else legal
    here = index.grants_by_region.get(ds.id)  # most datasets have no grants
    grants = here.get(place.code) if here else None  # and those that do, none for most places
    if grants:
        grant = _granted(legal, grants, purpose, at)
        if grant is not None:
            return Decision(
                _ALLOW_WITH_GRANT,
                shown.rule,
                f"{shown.reason}; {grant.note}",
                index.version,
                grant.id,
                legal,
                house,
            )
    return Decision(_DENY, shown.rule, shown.reason, index.version, None, legal, house)


def _granted(
    legal: LegalVerdict, grants: Sequence[GrantFacts], purpose: str, at: dt.datetime
) -> GrantFacts | None:
    """The grant that lifts a denial, if the grants honoured here lift it together: the first
    whose mechanism the law lists alone (for a house denial, the first honoured)."""
    honoured = [g for g in grants if g.honours_there(purpose, at)]
    if not honoured or not legal.lifted_by_grants(honoured):
        return None
    if len(honoured) == 1:
        return honoured[0]
    return next((g for g in honoured if legal.lifted_by_grants((g,))), honoured[0])


def _legal(
    index: PolicyIndex,
    ds: DatasetFacts,
    place: RegionFacts,
    at: dt.datetime,
    scopes: frozenset[str],
) -> LegalVerdict:
    """The law's verdict, memoised per group of datasets the law sees alike."""
    group = ds.legal_group
    if not group[0]:
        return NOT_PERSONAL
    day = at.date()
    key = (ds.legal_key or group, place.country, _DAYS.setdefault(day, day), scopes)
    try:
        return index.legal_memo[key]
    except KeyError:
        pass
    verdict = judge_law(index.law, index.adequacy, *group, place.country, at.date(), scopes)
    if len(index.legal_memo) >= MEMO_LIMIT:
        index.legal_memo.clear()
    index.legal_memo[key] = verdict
    return verdict


def _consented(
    index: PolicyIndex, ds: DatasetFacts, legal: LegalVerdict, purpose: str
) -> LegalVerdict:
    """The law's verdict with the dataset's consent weighed, memoised per dataset, purpose
    and transfer verdict."""
    key = (ds.id, purpose, legal)
    try:
        return index.consent_memo[key]
    except KeyError:
        pass
    assert ds.consent is not None
    verdict = judge_consent(legal, ds.consent, ds.slug, purpose)
    if len(index.consent_memo) >= MEMO_LIMIT:
        index.consent_memo.clear()
    index.consent_memo[key] = verdict
    return verdict


def _at_home(index: PolicyIndex, ds: DatasetFacts) -> HouseVerdict:
    """The house's verdict on a dataset where it is stored, no officer rule speaking: one per
    dataset, kept on the index once asked for (at most one per dataset)."""
    verdict = HouseVerdict(
        HOUSE_ALLOW, RULE_SAME_REGION, f"{ds.storage_region} is where {ds.slug} is stored"
    )
    index.home_verdicts[ds.id] = verdict
    return verdict


def _house(ds: DatasetFacts, place: RegionFacts, officer: HouseVerdict | None) -> HouseVerdict:
    """The organisation's own rules: the officer rule that speaks (`officer`) first, then the
    dataset's declared storage and processing regions (a restricted dataset stays where it is
    stored)."""
    if officer is not None and officer.outcome == HOUSE_DENY:
        return officer
    if place.code != ds.storage_region:
        if ds.sensitivity == _RESTRICTED_DATA:
            return HouseVerdict(
                HOUSE_DENY,
                RULE_RESTRICTED,
                f"{ds.slug} is restricted and stays in {ds.storage_region}",
            )
        if place.code not in ds.allowed_regions:
            return HouseVerdict(
                HOUSE_DENY,
                RULE_DATASET_REGIONS,
                f"{place.code} is not {ds.slug}'s storage region nor one of its allowed processing regions",
            )
        if officer is not None:
            return officer
        return HouseVerdict(
            HOUSE_ALLOW,
            RULE_DATASET_REGIONS,
            f"{place.code} is one of {ds.slug}'s allowed processing regions",
        )
    if officer is not None:
        return officer
    return HouseVerdict(HOUSE_ALLOW, RULE_SAME_REGION, f"{place.code} is where {ds.slug} is stored")


def _officer_rules(
    index: PolicyIndex,
    ds: DatasetFacts,
    action: str,
    place: RegionFacts,
    techniques: frozenset[str] = NO_TECHNIQUES,
) -> HouseVerdict | None:
    """The highest-priority officer rule that speaks about this place, as a verdict.

    Without rules of its own, a dataset's answer depends only on its rule group (the conditions
    it offers to rules), the action and the place; with them, on itself, the action and the
    place. Either way the answer is memoised on the index (one shared verdict per entry); with
    declared techniques, per declaration too.
    """
    own = index.rules_by_key.get(("dataset", ds.id))
    memo_key: tuple = (ds.id if own else ds.rule_group, action, place.code)
    if techniques:
        memo_key = (*memo_key, techniques)
    try:
        return index.officer_memo[memo_key]
    except KeyError:
        pass
    candidates: Sequence[RuleFacts] = _group_rules(index, ds.rule_group)
    if own:
        candidates = sorted((*own, *candidates), key=_rule_order)
    answer = _first_speaking(candidates, ds, action, place, techniques)
    if len(index.officer_memo) >= MEMO_LIMIT:
        index.officer_memo.clear()  # a bound on memory; it refills with what is asked
    index.officer_memo[memo_key] = answer
    return answer


def _rule_order(rule: RuleFacts) -> tuple[int, int]:
    return (-rule.priority, rule.id)


def _group_rules(index: PolicyIndex, group: frozenset) -> tuple[RuleFacts, ...]:
    """The rules that may match a rule group, highest priority first (built once per group)."""
    rules = index.group_rules.get(group)
    if rules is None:
        # A rule by glossary term is filed under each of its categories: count it once.
        found = {id(rule): rule for key in group for rule in index.rules_by_key.get(key, ())}
        rules = index.group_rules[group] = tuple(sorted(found.values(), key=_rule_order))
    return rules


def _first_speaking(
    candidates,
    ds: DatasetFacts,
    action: str,
    place: RegionFacts,
    techniques: frozenset[str] = NO_TECHNIQUES,
) -> HouseVerdict | None:
    for rule in candidates:
        if not rule.matches(ds, action) or (techniques and rule.exempts(techniques)):
            continue
        inside = rule.covers(place)
        if rule.effect == LocalityRule.Effect.DENY and inside:
            return HouseVerdict(
                HOUSE_DENY, f"rule:{rule.id}", f"{_named(rule)} denies {place.code}"
            )
        if rule.effect == LocalityRule.Effect.ALLOW_ONLY:
            if inside:
                return HouseVerdict(
                    HOUSE_ALLOW, f"rule:{rule.id}", f"{_named(rule)} allows {place.code}"
                )
            return HouseVerdict(
                HOUSE_DENY,
                f"rule:{rule.id}",
                f"{_named(rule)} allows only its listed places, not {place.code}",
            )
    return None


def _named(rule: RuleFacts) -> str:
    """The rule as an answer names it, with the glossary term it matched by."""
    if rule.term_note:
        return f"locality rule {rule.name!r} (by {rule.term_note})"
    return f"locality rule {rule.name!r}"
