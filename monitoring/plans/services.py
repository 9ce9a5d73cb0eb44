"""Infrastructure plans checked before they are applied: each planned data store is mapped to
the catalog datasets it will hold and the Locus regions it puts them in, and every pair is
judged by the policy engine and recorded like any locality check (context `plan`). A store that
holds no known dataset is a catalog gap for the officers.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor
from governance.checks.services import MAX_CHECKS_PER_REQUEST, Check, CheckResult, locality_check
from governance.models import LocalityDecision, Outcome
from governance.policy.facts import DatasetFacts, PolicyIndex
from governance.policy.index import current_index
from monitoring.plans.document import Plan, ResourceChange
from monitoring.plans.stores import (
    DATASET_TAG_KEYS,
    PURPOSE_TAG_KEYS,
    STORE_TYPES,
    Place,
    StoreType,
    places,
    region_codes,
    store_name,
    store_reference,
    tag_values,
)
from monitoring.telemetry import rollups

JUDGED, GAP, UNRESOLVED, UNCHANGED = "judged", "catalog_gap", "unresolved", "not_judged"
ALLOWED = frozenset({Outcome.ALLOW, Outcome.ALLOW_WITH_GRANT})
MAX_DECISIONS_PER_PLAN = 10_000
PLAN_ACTOR_PREFIX = "Terraform plan: "  # a gap's `last_actor`: which resource of a plan named it


@dataclass
class PlannedStore:
    """A data store the plan touches, what it holds, where, and what the engine said."""

    change: ResourceChange
    store: StoreType
    reference: str
    places: list[Place] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    matched_by: str = ""
    purpose: str = ""
    status: str = JUDGED
    reason: str = ""
    results: list[CheckResult] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [code for place in self.places for code in place.codes]

    @property
    def outcome(self) -> str:
        """The stricter answer over its decisions ('' unless judged)."""
        if self.status != JUDGED:
            return Outcome.DENY if self.status == UNRESOLVED else ""
        outcomes = {r.decision.outcome if r.decision else Outcome.DENY for r in self.results}
        if outcomes - ALLOWED:
            return Outcome.DENY
        return Outcome.ALLOW_WITH_GRANT if Outcome.ALLOW_WITH_GRANT in outcomes else Outcome.ALLOW


@dataclass
class PlanCheck:
    plan: Plan
    stores: list[PlannedStore]
    other_resources: int
    policy_version: str

    @property
    def verdict(self) -> str:
        """Deny if any store is denied or cannot be judged; gaps alone do not fail a plan."""
        outcomes = {s.outcome for s in self.stores} - {""}
        if outcomes - ALLOWED:
            return Outcome.DENY
        return Outcome.ALLOW_WITH_GRANT if Outcome.ALLOW_WITH_GRANT in outcomes else Outcome.ALLOW

    @property
    def catalog_gaps(self) -> list[str]:
        return sorted({s.reference for s in self.stores if s.status == GAP})


def plan_check(
    *,
    actor: Actor,
    plan: Plan,
    purpose: str,
    at: dt.datetime | None = None,
    scopes: frozenset[str] = frozenset(),
) -> PlanCheck:
    """Judge every planned create or update of a data store; record decisions and gaps."""
    index = current_index()
    uris = _sorted_uris(index)
    stores = []
    for change in plan.changes:
        store = STORE_TYPES.get(change.type)
        if store is not None:
            stores.append(_planned(index, uris, plan, change, store, purpose))
    judged = [s for s in stores if s.status == JUDGED]
    asked = sum(len(s.datasets) * len(s.codes) for s in judged)
    if asked > MAX_DECISIONS_PER_PLAN:
        raise ValidationError(
            {"plan": f"At most {MAX_DECISIONS_PER_PLAN} decisions per plan; this one asks {asked}."}
        )
    with transaction.atomic():
        _judge(actor, judged, at, scopes)
        _record_gaps([s for s in stores if s.status == GAP])
    return PlanCheck(plan, stores, len(plan.changes) - len(stores), current_index().version)


_uris_memo: list[tuple[PolicyIndex, list[str]]] = []


def _sorted_uris(index: PolicyIndex) -> list[str]:
    """The catalog's URIs in order, for prefix search; once per compiled index."""
    if not _uris_memo or _uris_memo[0][0] is not index:
        _uris_memo[:] = [(index, sorted(index.datasets_by_uri))]
    return _uris_memo[0][1]


def _planned(
    index: PolicyIndex,
    uris: list[str],
    plan: Plan,
    change: ResourceChange,
    store: StoreType,
    purpose: str,
) -> PlannedStore:
    planned = PlannedStore(change, store, store_reference(store, change, plan))
    if not change.writes:
        planned.status, planned.reason = UNCHANGED, f"planned {'/'.join(change.actions)}"
        return planned
    planned.purpose = (tag_values(change.after, PURPOSE_TAG_KEYS) or [purpose])[0]
    planned.places = [
        Place(p.given, p.source, region_codes(store.cloud, p.given, index.regions))
        for p in places(store, change, plan)
    ]
    found, missing = _datasets(index, uris, store, change, planned)
    planned.datasets = [ds.slug for ds in found]
    if missing:
        planned.status = UNRESOLVED
        planned.reason = f"Its tag names datasets the catalog does not know: {', '.join(missing)}"
    elif not found:
        planned.status = GAP
        planned.reason = f"No catalog dataset is stored at {planned.reference}"
    elif not planned.places or any(not p.codes for p in planned.places):
        planned.status = UNRESOLVED
        planned.reason = _unplaced(store, planned.places)
    return planned


def _unplaced(store: StoreType, found: list[Place]) -> str:
    unknown = [p.given for p in found if not p.codes]
    if unknown:
        return f"Locus knows no {store.cloud} region {', '.join(map(repr, unknown))}"
    return "The plan does not say where it is (no region, location or provider region)"


def _datasets(
    index: PolicyIndex,
    uris: list[str],
    store: StoreType,
    change: ResourceChange,
    planned: PlannedStore,
) -> tuple[list[DatasetFacts], list[str]]:
    """The datasets it holds: by its tag, else by URI (the store's and any under it), else by
    a dataset whose slug is its name. Also the tagged names the catalog does not know."""
    tagged = tag_values(change.after, DATASET_TAG_KEYS)
    if tagged:
        planned.matched_by = "tag"
        found = [index.named(name) for name in tagged]
        return [ds for ds in found if ds], [
            n for n, ds in zip(tagged, found, strict=True) if not ds
        ]
    by_uri = [index.datasets_by_uri[uri] for uri in _contained(uris, planned.reference, store)]
    if by_uri:
        planned.matched_by = "uri"
        return _unique(by_uri), []
    named = index.datasets_by_slug.get(store_name(store, change))
    planned.matched_by = "name" if named else ""
    return ([named] if named else []), []


def _contained(uris: list[str], reference: str, store: StoreType) -> list[str]:
    """The catalog URIs that are the reference or lie under it (`s3://b` holds `s3://b/x`)."""
    found = [reference] if reference in uris else []
    for separator in store.separators:
        prefix = reference + separator
        start = bisect.bisect_left(uris, prefix)
        for uri in uris[start:]:
            if not uri.startswith(prefix):
                break
            found.append(uri)
    if reference.endswith(".blob.core.windows.net"):  # the account's Data Lake names too
        account = reference.removeprefix("https://").split(".", 1)[0]
        start = bisect.bisect_left(uris, "abfss://")
        for uri in uris[start:]:
            if not uri.startswith("abfss://"):
                break
            if f"@{account}.dfs.core.windows.net" in uri:
                found.append(uri)
    return found


def _unique(found: list[DatasetFacts]) -> list[DatasetFacts]:
    return list({ds.slug: ds for ds in found}.values())


def _judge(
    actor: Actor, stores: list[PlannedStore], at: dt.datetime | None, scopes: frozenset[str]
) -> None:
    """Ask the engine for every dataset in every place, in batches it accepts."""
    asked = [
        (store, Check(slug, store.store.action, code, store.purpose, at, scopes))
        for store in stores
        for slug in store.datasets
        for code in store.codes
    ]
    for start in range(0, len(asked), MAX_CHECKS_PER_REQUEST):
        batch = asked[start : start + MAX_CHECKS_PER_REQUEST]
        results = locality_check(
            actor=actor, checks=[check for _, check in batch], context=LocalityDecision.Context.PLAN
        )
        for (store, _), result in zip(batch, results, strict=True):
            store.results.append(result)
            if result.errors:  # e.g. a purpose tag the registry does not know
                store.status = UNRESOLVED
                store.reason = "; ".join(
                    f"{name}: {' '.join(messages)}" for name, messages in result.errors.items()
                )


def _record_gaps(stores: list[PlannedStore]) -> None:
    """Each unknown store is a catalog gap, as OpenLineage's unknown datasets are."""
    now = timezone.now()
    gaps: dict[str, dict[str, Any]] = {}
    for store in stores:
        reference = store.reference[:500]  # the column's length: one row per stored key
        found = gaps.setdefault(
            reference,
            {
                "dataset_ref": reference,
                "first_seen_at": now,
                "last_seen_at": now,
                "events": 0,
                "bytes": 0,
                "last_source_id": None,
                "last_actor": f"{PLAN_ACTOR_PREFIX}{store.change.address}"[:200],
                "last_region": (store.codes or [""])[0][:60],
            },
        )
        found["events"] += 1
    if gaps:
        rollups.gaps_add(gaps)
