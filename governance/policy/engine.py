"""The locality policy engine: "may this work touch this dataset in that region, and why?"

`evaluate()` is a pure function over a `PolicyIndex` (governance.policy.facts): an immutable,
compiled snapshot of the catalog facts, the privacy officers' locality rules, the adequacy
decisions and the transfer grants (governance.policy.index builds and caches it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from catalog.models import (
    Sensitivity,
)
from governance.models import LocalityRule, Outcome
from governance.policy.facts import (
    ACTIONS,
    MEMO_LIMIT,
    RULE_DATASET_REGIONS,
    RULE_GDPR_ADEQUACY,
    RULE_GDPR_HOME,
    RULE_GDPR_TRANSFER,
    RULE_PIPL,
    RULE_RESTRICTED,
    RULE_SAME_REGION,
    DatasetFacts,
    Decision,
    PolicyIndex,
    RegionFacts,
    RuleFacts,
    UnknownInput,
)


def evaluate(
    index: PolicyIndex,
    dataset: str | int,
    action: str,
    region: str,
    purpose: str,
    at: dt.datetime,
) -> Decision:
    """May `action` on `dataset` run in `region` for `purpose` at time `at`? Allow, allow with grant, or deny."""
    ds = index.dataset(dataset)
    place = index.region(region)
    if action not in ACTIONS:
        raise UnknownInput(
            "action", f"Unknown action {action!r}; one of {', '.join(sorted(ACTIONS))}"
        )
    if purpose not in index.purposes:
        raise UnknownInput("purpose", f"Unknown purpose {purpose!r}")
    allowed, rule, reason = _judge(index, ds, action, place, at)
    if allowed:
        return Decision(Outcome.ALLOW, rule, reason, index.version)
    for grant in index.grants.get(ds.id, ()):
        if grant.honours(place.code, purpose, at):
            return Decision(
                Outcome.ALLOW_WITH_GRANT, rule, f"{reason}; {grant.note}", index.version, grant.id
            )
    return Decision(Outcome.DENY, rule, reason, index.version)


def _judge(
    index: PolicyIndex, ds: DatasetFacts, action: str, place: RegionFacts, at: dt.datetime
) -> tuple[bool, str, str]:
    """(allowed, rule, reason): the first rule that forbids the work, else the one that allows it."""
    officer = _officer_rules(index, ds, action, place)
    if officer is not None and officer[0] == LocalityRule.Effect.DENY:
        return False, officer[1], officer[2]
    at_home = place.code == ds.storage_region
    if not at_home:
        if ds.sensitivity == Sensitivity.RESTRICTED:
            return (
                False,
                RULE_RESTRICTED,
                f"{ds.slug} is restricted and stays in {ds.storage_region}",
            )
        if place.code not in ds.allowed_regions:
            return (
                False,
                RULE_DATASET_REGIONS,
                f"{place.code} is not {ds.slug}'s storage region nor one of its allowed processing regions",
            )
    if ds.pipl and place.country != "CN":
        return (
            False,
            RULE_PIPL,
            f"{ds.slug} holds PIPL personal data, which stays in mainland China",
        )
    if officer is not None:
        allowed_by = officer[1], officer[2]
    elif at_home:
        allowed_by = RULE_SAME_REGION, f"{place.code} is where {ds.slug} is stored"
    else:
        allowed_by = (
            RULE_DATASET_REGIONS,
            f"{place.code} is one of {ds.slug}'s allowed processing regions",
        )
    for jurisdiction in ds.gdpr_jurisdictions:
        ok, rule, reason = _gdpr_transfer(index, jurisdiction, ds, place, at)
        if not ok:
            return False, rule, reason
        if rule == RULE_GDPR_ADEQUACY:
            allowed_by = rule, reason  # the legal basis is the most telling reason to show
    return True, *allowed_by


def _officer_rules(
    index: PolicyIndex, ds: DatasetFacts, action: str, place: RegionFacts
) -> tuple[str, str, str] | None:
    """The highest-priority officer rule that speaks about this place: (effect, rule, reason).

    Without rules of its own, a dataset's answer depends only on its rule group (the conditions
    it offers to rules), the action and the place; with them, on itself, the action and the
    place. Either way the answer is memoised on the index.
    """
    own = index.rules_by_key.get(("dataset", ds.id))
    memo_key = (ds.id if own else ds.rule_group, action, place.code)
    try:
        return index.officer_memo[memo_key]
    except KeyError:
        pass
    candidates: Sequence[RuleFacts] = _group_rules(index, ds.rule_group)
    if own:
        candidates = sorted((*own, *candidates), key=_rule_order)
    answer = _first_speaking(candidates, ds, action, place)
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
        found = [rule for key in group for rule in index.rules_by_key.get(key, ())]
        rules = index.group_rules[group] = tuple(sorted(found, key=_rule_order))
    return rules


def _first_speaking(
    candidates, ds: DatasetFacts, action: str, place: RegionFacts
) -> tuple[str, str, str] | None:
    for rule in candidates:
        if not rule.matches(ds, action):
            continue
        inside = rule.covers(place)
        if rule.effect == LocalityRule.Effect.DENY and inside:
            return (
                rule.effect,
                f"rule:{rule.id}",
                f"locality rule {rule.name!r} denies {place.code}",
            )
        if rule.effect == LocalityRule.Effect.ALLOW_ONLY:
            if inside:
                return (
                    "allow",
                    f"rule:{rule.id}",
                    f"locality rule {rule.name!r} allows {place.code}",
                )
            return (
                LocalityRule.Effect.DENY,
                f"rule:{rule.id}",
                f"locality rule {rule.name!r} allows only its listed places, not {place.code}",
            )
    return None


def _gdpr_transfer(
    index: PolicyIndex, jurisdiction: str, ds: DatasetFacts, place: RegionFacts, at: dt.datetime
) -> tuple[bool, str, str]:
    """GDPR / UK GDPR Chapter V: home area, adequacy in force for that scope, or a grant."""
    if place.country in index.home_countries.get(jurisdiction, frozenset()):
        return True, RULE_GDPR_HOME, f"{place.country} is inside {jurisdiction}'s home area"
    day = at.date()
    certified_only = None
    for decision in index.adequacy.get((jurisdiction, place.country), ()):
        if not decision.in_force(day):
            continue
        if decision.scope == "certified":
            certified_only = decision
            continue
        return (
            True,
            RULE_GDPR_ADEQUACY,
            f"{jurisdiction} adequacy for {place.country} in force on {day}: {decision.instrument}",
        )
    if certified_only is not None:
        return (
            False,
            RULE_GDPR_TRANSFER,
            f"{jurisdiction} adequacy for {place.country} covers certified organisations only "
            f"({certified_only.instrument}); a grant must name the mechanism",
        )
    return (
        False,
        RULE_GDPR_TRANSFER,
        f"{ds.slug} holds {jurisdiction} personal data and {place.country} has no adequacy decision "
        f"in force on {day}; needs a grant naming SCCs, BCRs or an Art. 49 derogation",
    )
