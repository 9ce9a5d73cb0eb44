"""Writes of the policy's house rules: privacy officers' locality rules (each change a new
version, on the ledger, refused if it contradicts another rule at the same priority) and the
set of purposes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from catalog.actors import Actor, may
from catalog.models import Country, Region
from catalog.revisions import revision_bump
from catalog.techniques import validate_technique_names
from governance.ledger.chain import actor_name, ledger_append
from governance.models import (
    LocalityRule,
    LocalityRuleVersion,
    Term,
    TermStatus,
)
from governance.policy.facts import ACTIONS, RuleFacts
from governance.policy.index import GOVERNANCE, load_rules, rule_facts

# A rule's fields as people write them, in the order forms and the API show them: the one list
# the form, the API serializer and the version snapshots derive theirs from.
RULE_FIELDS = (
    "name",
    "description",
    "jurisdiction",
    "sensitivity",
    "category",
    "term",
    "dataset",
    "actions",
    "unless_techniques",
    "effect",
    "regions",
    "countries",
    "priority",
    "enabled",
)
RULE_PLACES = ("regions", "countries")  # many-to-many: set after the rule is saved


def rule_snapshot(
    rule: LocalityRule, regions: Iterable[str], countries: Iterable[str]
) -> dict[str, Any]:
    """The rule as its versions and the ledger keep it: references by code or slug."""
    places = {"regions": sorted(regions), "countries": sorted(countries)}
    return {name: places.get(name, _snapshot_value(rule, name)) for name in RULE_FIELDS}


def _snapshot_value(rule: LocalityRule, name: str) -> object:
    if name == "dataset":
        return rule.dataset.slug if rule.dataset is not None else None
    if name == "term":
        return rule.term.slug if rule.term is not None else None
    if name in ("actions", "unless_techniques"):
        return sorted(getattr(rule, name) or [])
    if name in ("jurisdiction", "category"):
        return getattr(rule, f"{name}_id")
    return getattr(rule, name)


def _places_overlap(a: RuleFacts, b: RuleFacts, region_country: dict[str, str]) -> bool:
    a_countries = a.countries | {region_country[r] for r in a.regions}
    b_countries = b.countries | {region_country[r] for r in b.regions}
    return bool(a.regions & b.regions or a.countries & b_countries or b.countries & a_countries)


def _conditions_overlap(a: RuleFacts, b: RuleFacts) -> bool:
    """Could one dataset and action match both rules?

    A dataset has one id and one sensitivity, so rules naming different ones never meet; it can
    be under several jurisdictions and hold several categories, so those never keep rules apart.
    """
    for x, y in ((a.dataset_id, b.dataset_id), (a.sensitivity, b.sensitivity)):
        if x and y and x != y:
            return False
    return not a.actions or not b.actions or bool(a.actions & b.actions)


def rule_conflicts(candidate: RuleFacts, others: Sequence[RuleFacts]) -> list[RuleFacts]:
    """Enabled rules at the same priority that would answer the same question the other way."""
    region_country = dict(Region.objects.values_list("code", "country_id"))
    found = []
    for other in others:
        if other.id == candidate.id or other.priority != candidate.priority:
            continue
        if not _conditions_overlap(candidate, other):
            continue
        effects = {candidate.effect, other.effect}
        if effects == {LocalityRule.Effect.DENY}:
            continue
        if effects == {LocalityRule.Effect.ALLOW_ONLY}:
            same_places = (
                candidate.regions == other.regions and candidate.countries == other.countries
            )
            if not same_places:
                found.append(other)
        elif _places_overlap(candidate, other, region_country):
            found.append(other)
    return found


def _check_rule_editor(actor: Actor) -> User:
    if not may(actor, "governance.change_localityrule"):
        raise PermissionDenied("Only privacy officers may write locality rules")
    return actor


def _validate_rule(rule: LocalityRule, regions: list[Region], countries: list[Country]) -> None:
    if not regions and not countries:
        raise ValidationError({"regions": "Name at least one region or country"})
    unknown_actions = set(rule.actions or []) - ACTIONS
    if unknown_actions:
        raise ValidationError({"actions": f"Unknown actions: {', '.join(sorted(unknown_actions))}"})
    rule.unless_techniques = validate_technique_names(
        rule.unless_techniques or [], "unless_techniques"
    )
    rule.full_clean(exclude=["regions", "countries"])
    if rule.term_id is not None:
        rule.term = _usable_term(rule.term_id)
    if not rule.enabled:
        return
    facts = rule_facts(rule, [r.code for r in regions], [c.code for c in countries])
    conflicts = rule_conflicts(facts, load_rules())
    if conflicts:
        names = "; ".join(f"#{c.id} {c.name!r}" for c in conflicts)
        raise ValidationError(
            {
                "priority": f"Contradicts rule {names} at the same priority {rule.priority}: change the priority or the places"
            }
        )


def _usable_term(term_id: int) -> Term:
    """The glossary term a rule names, locked until the rule is saved (so that it cannot be
    deprecated meanwhile): approved, with a machine-readable definition."""
    term = Term.objects.select_for_update().get(pk=term_id)
    if term.status != TermStatus.APPROVED:
        raise ValidationError(
            {
                "term": f"{term.name!r} is {term.get_status_display().lower()}: rules name approved terms only"
            }
        )
    if not term.categories.exists():
        raise ValidationError(
            {"term": f"{term.name!r} names no personal-data category: propose its categories first"}
        )
    return term


def _record_rule_version(
    *,
    actor: User,
    rule: LocalityRule,
    action: str,
    regions: Iterable[Region],
    countries: Iterable[Country],
) -> None:
    """Keep the version, and put it on the ledger."""
    snapshot = rule_snapshot(rule, [r.code for r in regions], [c.code for c in countries])
    LocalityRuleVersion.objects.create(
        rule=rule if action != "deleted" else None,
        rule_ref=rule.pk,
        version=rule.version,
        action=action,
        snapshot=snapshot,
        actor=actor,
        actor_name=actor_name(actor),
    )
    subjects = [f"rule:{rule.pk}"] + (
        [f"dataset:{snapshot['dataset']}"] if snapshot["dataset"] else []
    )
    ledger_append(
        actor=actor,
        kind=f"rule.{action}",
        subjects=subjects,
        data={"rule": rule.pk, "version": rule.version, "rule_snapshot": snapshot},
    )


@transaction.atomic
def rule_create(
    *, actor: Actor, regions: list[Region], countries: list[Country], **fields: Any
) -> LocalityRule:
    """Write a new locality rule; refused if it contradicts another at the same priority."""
    editor = _check_rule_editor(actor)
    rule = LocalityRule(created_by=editor, version=1, **fields)
    _validate_rule(rule, regions, countries)
    rule.save()
    rule.regions.set(regions)
    rule.countries.set(countries)
    _record_rule_version(
        actor=editor, rule=rule, action="created", regions=regions, countries=countries
    )
    revision_bump(GOVERNANCE)
    return rule


@transaction.atomic
def rule_update(
    *,
    actor: Actor,
    rule: LocalityRule,
    regions: list[Region] | None = None,
    countries: list[Country] | None = None,
    **fields: Any,
) -> LocalityRule:
    """Change a rule; the previous version stays in its history."""
    editor = _check_rule_editor(actor)
    rule = LocalityRule.objects.select_for_update().get(pk=rule.pk)
    regions = list(rule.regions.all()) if regions is None else regions
    countries = list(rule.countries.all()) if countries is None else countries
    for name, value in fields.items():
        setattr(rule, name, value)
    _validate_rule(rule, regions, countries)
    rule.version += 1
    rule.save()
    rule.regions.set(regions)
    rule.countries.set(countries)
    _record_rule_version(
        actor=editor, rule=rule, action="updated", regions=regions, countries=countries
    )
    revision_bump(GOVERNANCE)
    return rule


@transaction.atomic
def rule_delete(*, actor: Actor, rule: LocalityRule) -> None:
    """Remove a rule; its history stays."""
    editor = _check_rule_editor(actor)
    rule = LocalityRule.objects.select_for_update().get(pk=rule.pk)
    regions, countries = list(rule.regions.all()), list(rule.countries.all())
    rule.version += 1
    _record_rule_version(
        actor=editor, rule=rule, action="deleted", regions=regions, countries=countries
    )
    rule.delete()
    revision_bump(GOVERNANCE)


def purposes_changed() -> None:
    """The set of purposes changed (admin): every process must learn the new list."""
    revision_bump(GOVERNANCE)
