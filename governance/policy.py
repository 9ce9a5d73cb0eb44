"""The locality policy engine: "may this work touch this dataset in that region, and why?"

`evaluate()` is a pure function over a `PolicyIndex`: an immutable, compiled snapshot of the
catalog facts, the privacy officers' locality rules, the adequacy decisions and the transfer
grants. `compile_index()` builds one from the database; `current_index()` keeps one per process
and rebuilds it when a revision counter moves, so every web and worker process follows changes
without a restart (one small query per call to `current_index()`, none per evaluation).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from catalog.models import (
    AdequacyDecision,
    Dataset,
    Jurisdiction,
    LawfulBasis,
    Regime,
    Region,
    Sensitivity,
)
from catalog.revisions import revisions
from governance.models import Action, LocalityRule, Outcome, Purpose, TransferGrant

ACTIONS = frozenset(Action.values)
MEMO_LIMIT = 500_000  # memoised officer-rule answers kept per index
GDPR_REGIMES = frozenset({Regime.GDPR, Regime.UK_GDPR})

# Rule names as they appear in decisions ("the rule that decided").
RULE_SAME_REGION = "builtin:storage-region"
RULE_DATASET_REGIONS = "builtin:dataset-allowed-regions"
RULE_RESTRICTED = "builtin:restricted-stays-in-storage-region"
RULE_GDPR_HOME = "builtin:gdpr-home-area"
RULE_GDPR_ADEQUACY = "builtin:gdpr-adequacy"
RULE_GDPR_TRANSFER = "builtin:gdpr-chapter-v-transfer"
RULE_PIPL = "builtin:pipl-stays-in-mainland-china"


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
    gdpr_jurisdictions: tuple[str, ...]
    pipl: bool
    rule_group: frozenset  # the conditions it offers to rules (all but its own id)


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
        return (
            region in self.regions
            and (self.purpose is None or self.purpose == purpose)
            and self.valid_from <= at < self.valid_until
            and (self.revoked_at is None or at < self.revoked_at)
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer."""

    outcome: str
    rule: str
    reason: str
    policy_version: str
    grant_id: int | None = None

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
    home_countries: dict[
        str, frozenset[str]
    ]  # GDPR-family jurisdiction -> countries free of transfer rules
    adequacy: dict[tuple[str, str], tuple[AdequacyFacts, ...]]
    rules_by_key: dict[tuple[str, object], tuple[RuleFacts, ...]]
    grants: dict[int, tuple[GrantFacts, ...]]
    rules: tuple[RuleFacts, ...] = field(default=())
    # Filled as the engine answers; never shared between indexes.
    group_rules: dict[frozenset, tuple[RuleFacts, ...]] = field(default_factory=dict)
    officer_memo: dict[tuple, tuple[str, str, str] | None] = field(default_factory=dict)

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
    candidates = _group_rules(index, ds.rule_group)
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


# --- Compiling the index ------------------------------------------------------------------


def _rule_group(storage_jurisdiction: str, subjects, sensitivity: str, categories) -> frozenset:
    """The rule keys a dataset can be matched under, besides its own id."""
    keys: set[tuple[str, object]] = {("any", None), ("sensitivity", sensitivity)}
    keys.add(("jurisdiction", storage_jurisdiction))
    keys.update(("jurisdiction", j) for j in subjects)
    keys.update(("category", c) for c in categories)
    return frozenset(keys)


def _rule_key(rule: RuleFacts) -> tuple[str, object]:
    """File each rule under its most selective condition; `matches()` checks the rest."""
    if rule.dataset_id is not None:
        return ("dataset", rule.dataset_id)
    if rule.category is not None:
        return ("category", rule.category)
    if rule.jurisdiction is not None:
        return ("jurisdiction", rule.jurisdiction)
    if rule.sensitivity:
        return ("sensitivity", rule.sensitivity)
    return ("any", None)


def compile_rules(rules: list[RuleFacts]) -> dict[tuple[str, object], tuple[RuleFacts, ...]]:
    grouped: dict[tuple[str, object], list[RuleFacts]] = defaultdict(list)
    for rule in rules:
        grouped[_rule_key(rule)].append(rule)
    return {
        key: tuple(sorted(group, key=lambda r: (-r.priority, r.id)))
        for key, group in grouped.items()
    }


def rule_facts(
    rule: LocalityRule, regions: list[str] | None = None, countries: list[str] | None = None
) -> RuleFacts:
    """A rule as the engine sees it (regions/countries may be given for an unsaved proposal)."""
    return RuleFacts(
        id=rule.pk or 0,
        name=rule.name,
        priority=rule.priority,
        effect=rule.effect,
        jurisdiction=rule.jurisdiction_id,
        sensitivity=rule.sensitivity or "",
        category=rule.category_id,
        dataset_id=rule.dataset_id,
        actions=frozenset(rule.actions or ()),
        regions=frozenset(regions if regions is not None else (r.code for r in rule.regions.all())),
        countries=frozenset(
            countries if countries is not None else (c.code for c in rule.countries.all())
        ),
    )


def load_rules() -> list[RuleFacts]:
    rules = LocalityRule.objects.filter(enabled=True).prefetch_related("regions", "countries")
    return [rule_facts(rule) for rule in rules]


def _load_datasets(
    gdpr_jurisdictions: set[str], pipl_jurisdictions: set[str]
) -> list[DatasetFacts]:
    through = Dataset.personal_data_categories.through
    categories: dict[int, set[str]] = defaultdict(set)
    for ds_id, code in through.objects.values_list(
        "dataset_id", "personaldatacategory_id"
    ).iterator(chunk_size=20000):
        categories[ds_id].add(code)
    subjects: dict[int, set[str]] = defaultdict(set)
    through = Dataset.subject_jurisdictions.through
    for ds_id, code in through.objects.values_list("dataset_id", "jurisdiction_id").iterator(
        chunk_size=20000
    ):
        subjects[ds_id].add(code)
    allowed: dict[int, set[str]] = defaultdict(set)
    through = Dataset.allowed_processing_regions.through
    for ds_id, code in through.objects.values_list("dataset_id", "region__code").iterator(
        chunk_size=20000
    ):
        allowed[ds_id].add(code)
    rows = Dataset.objects.values_list(
        "id",
        "slug",
        "uri",
        "storage_region__code",
        "jurisdiction_id",
        "sensitivity",
        "lawful_basis",
    )
    facts = []
    groups: dict[frozenset, frozenset] = {}  # one shared object per distinct group
    for ds_id, slug, uri, region, storage_jurisdiction, sensitivity, basis in rows.iterator(
        chunk_size=20000
    ):
        personal = basis != LawfulBasis.NOT_PERSONAL or bool(categories.get(ds_id))
        subj = frozenset(subjects.get(ds_id, ()))
        cats = frozenset(categories.get(ds_id, ()))
        # Personal data is protected by the law of its subjects and by the law it is held under.
        laws = subj | {storage_jurisdiction}
        group = _rule_group(storage_jurisdiction, subj, sensitivity, cats)
        facts.append(
            DatasetFacts(
                id=ds_id,
                slug=slug,
                uri=uri,
                storage_region=region,
                storage_jurisdiction=storage_jurisdiction,
                sensitivity=sensitivity,
                personal=personal,
                categories=cats,
                subject_jurisdictions=subj,
                allowed_regions=frozenset(allowed.get(ds_id, ())),
                gdpr_jurisdictions=tuple(sorted(laws & gdpr_jurisdictions)) if personal else (),
                pipl=personal and bool(laws & pipl_jurisdictions),
                rule_group=groups.setdefault(group, group),
            )
        )
    return facts


def _grant_note(grant: dict) -> str:
    detail = f" ({grant['mechanism_detail']})" if grant["mechanism_detail"] else ""
    return (
        f"allowed by transfer grant #{grant['id']}: {grant['mechanism']}{detail}, "
        f"valid until {grant['valid_until']:%Y-%m-%d %H:%M} UTC"
    )


def _load_grants() -> dict[int, tuple[GrantFacts, ...]]:
    regions: dict[int, set[str]] = defaultdict(set)
    through = TransferGrant.destination_regions.through
    for grant_id, code in through.objects.values_list("transfergrant_id", "region__code"):
        regions[grant_id].add(code)
    grants = {
        g["id"]: GrantFacts(
            id=g["id"],
            regions=frozenset(regions.get(g["id"], ())),
            purpose=g["purpose_id"],
            mechanism=g["mechanism"],
            mechanism_detail=g["mechanism_detail"],
            valid_from=g["valid_from"],
            valid_until=g["valid_until"],
            revoked_at=g["revoked_at"],
            note=_grant_note(g),
        )
        for g in TransferGrant.objects.values(
            "id",
            "purpose_id",
            "mechanism",
            "mechanism_detail",
            "valid_from",
            "valid_until",
            "revoked_at",
        )
    }
    by_dataset: dict[int, list[GrantFacts]] = defaultdict(list)
    through = TransferGrant.datasets.through
    for grant_id, ds_id in through.objects.values_list("transfergrant_id", "dataset_id"):
        by_dataset[ds_id].append(grants[grant_id])
    return {ds_id: tuple(sorted(g, key=lambda x: x.id)) for ds_id, g in by_dataset.items()}


def _home_countries(jurisdictions: list[Jurisdiction]) -> dict[str, frozenset[str]]:
    """Where GDPR-family personal data moves freely: its own countries (for UK GDPR, plus the EEA).

    UK law treats the EEA states as adequate (DPA 2018 Sch. 21 paras 4-5).
    """
    covered = {j.code: frozenset(c.code for c in j.countries.all()) for j in jurisdictions}
    eea = frozenset().union(*(covered[j.code] for j in jurisdictions if j.regime == Regime.GDPR))
    home = {}
    for j in jurisdictions:
        if j.regime == Regime.GDPR:
            home[j.code] = covered[j.code]
        elif j.regime == Regime.UK_GDPR:
            home[j.code] = covered[j.code] | eea
    return home


def compile_index(version: str = "", rules: list[RuleFacts] | None = None) -> PolicyIndex:
    """Build the engine's snapshot from the database (optionally with a proposed rule set)."""
    jurisdictions = list(Jurisdiction.objects.prefetch_related("countries"))
    gdpr = {j.code for j in jurisdictions if j.regime in GDPR_REGIMES}
    pipl = {j.code for j in jurisdictions if j.regime == Regime.PIPL}
    datasets = _load_datasets(gdpr, pipl)
    by_uri: dict[str, DatasetFacts] = {}
    for ds in datasets:
        if ds.uri:
            by_uri.setdefault(ds.uri, ds)
    adequacy: dict[tuple[str, str], list[AdequacyFacts]] = defaultdict(list)
    for a in AdequacyDecision.objects.all():
        adequacy[(a.decided_by_id, a.country_id)].append(
            AdequacyFacts(
                a.pk, a.country_id, a.scope, a.instrument, a.effective_from, a.effective_until
            )
        )
    rules = load_rules() if rules is None else rules
    return PolicyIndex(
        version=version,
        datasets={ds.id: ds for ds in datasets},
        datasets_by_slug={ds.slug: ds for ds in datasets},
        datasets_by_uri=by_uri,
        regions={
            code: RegionFacts(code, country, jurisdiction)
            for code, country, jurisdiction in Region.objects.values_list(
                "code", "country_id", "jurisdiction_id"
            )
        },
        purposes=frozenset(Purpose.objects.values_list("code", flat=True)),
        home_countries=_home_countries(jurisdictions),
        adequacy={key: tuple(value) for key, value in adequacy.items()},
        rules_by_key=compile_rules(rules),
        grants=_load_grants(),
        rules=tuple(rules),
    )


def with_rules(index: PolicyIndex, rules: list[RuleFacts], version: str) -> PolicyIndex:
    """The same facts under another rule set (for what-if replays): no database access."""
    return PolicyIndex(
        version=version,
        datasets=index.datasets,
        datasets_by_slug=index.datasets_by_slug,
        datasets_by_uri=index.datasets_by_uri,
        regions=index.regions,
        purposes=index.purposes,
        home_countries=index.home_countries,
        adequacy=index.adequacy,
        rules_by_key=compile_rules(rules),
        grants=index.grants,
        rules=tuple(rules),
    )


def with_adequacy(index: PolicyIndex, adequacy: dict, version: str) -> PolicyIndex:
    """The same facts under other adequacy decisions (for the adequacy what-if)."""
    return PolicyIndex(
        version=version,
        datasets=index.datasets,
        datasets_by_slug=index.datasets_by_slug,
        datasets_by_uri=index.datasets_by_uri,
        regions=index.regions,
        purposes=index.purposes,
        home_countries=index.home_countries,
        adequacy=adequacy,
        rules_by_key=index.rules_by_key,
        grants=index.grants,
        rules=index.rules,
    )


# --- One index per process ------------------------------------------------------------------

_lock = threading.Lock()
_cached: PolicyIndex | None = None
_cached_key = ""


def policy_version() -> tuple[str, str]:
    """(version, cache key): "c12.g4" counts catalog and governance changes; the key adds stamps
    that never repeat, so an index built inside a rolled-back transaction is never reused."""
    counters = revisions()
    catalog, catalog_stamp = counters.get("catalog", (0, ""))
    governance, governance_stamp = counters.get("governance", (0, ""))
    return f"c{catalog}.g{governance}", f"{catalog_stamp}.{governance_stamp}"


def current_index() -> PolicyIndex:
    """This process's index, rebuilt if any policy input changed since it was compiled."""
    global _cached, _cached_key
    version, stamps = policy_version()
    key = f"{version}/{stamps}"
    if _cached is not None and _cached_key == key:
        return _cached
    with _lock:
        if _cached is None or _cached_key != key:
            _cached, _cached_key = compile_index(version), key
        return _cached


def forget_index() -> None:
    """Drop this process's index (tests whose data change without a revision bump use it)."""
    global _cached, _cached_key
    with _lock:
        _cached, _cached_key = None, ""
