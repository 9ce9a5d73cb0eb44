"""Realistic telemetry for the demo and the simulator command: routes judged once by the policy
engine, mostly compliant traffic, a few problems that persist, occasional slips and anomalies
(see monitoring/management/commands/simulate_telemetry.py for the story), and the offline loop
that ingests it on a simulated clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from monitoring.models import TelemetrySource
from monitoring.telemetry import services
from monitoring.telemetry.ingest import telemetry_ingest
from monitoring.telemetry.judge import KIND_ACTION

SOURCE_NAME = "simulator"
KINDS = ["read"] * 6 + ["write"] * 2 + ["transfer", "training_step", "access"]
ACTORS = [f"{team}-{job}" for team in ("etl", "ml", "bi", "ops") for job in ("a", "b", "c")]
SHADOW_DATASETS = ["s3://shadow-exports/customers.csv", "gs://scratch/tmp-join", "hdfs://old/crm"]
DENIED = (Outcome.DENY,)
# How the violation budget is spent: most on a few problems that persist until someone fixes
# them, the rest on a small pool of occasional slips, a little on one-offs anywhere.
PERSISTENT_SHARE = 0.6
OCCASIONAL_SHARE = 0.35
OCCASIONAL_POOL = 8
ANOMALIES_PER_HOUR = 4  # volume spikes and first visits to a region, now and then


@dataclass(frozen=True)
class Route:
    """Where one dataset's events go: the dataset, where they start and end, and the kinds of
    event the policy answers the same way for there."""

    slug: str
    home: str
    destination: str
    kinds: tuple[str, ...]
    actor: str = ""
    run_id: str = ""
    label: str = ""


def _judged(index, ds, region: str, at: dt.datetime) -> dict[str, bool]:
    """For each event kind: does the policy deny it on this dataset in this region?"""
    purpose = "analytics" if "analytics" in index.purposes else next(iter(index.purposes))
    return {
        kind: evaluate(index, ds.id, KIND_ACTION[kind], region, purpose, at).outcome in DENIED
        for kind in set(KINDS)
    }


def _route(ds, region: str, denied: dict[str, bool], violating: bool, **extra) -> Route | None:
    kinds = tuple(k for k in KINDS if denied[k] == violating)
    return Route(ds.slug, ds.storage_region, region, kinds, **extra) if kinds else None


@dataclass
class Plan:
    """The routes traffic is drawn from, judged once by the policy engine when the run starts."""

    compliant: list[Route]
    problems: list[Route]
    occasional: list[Route]
    one_off: list[Route]
    new_places: list[Route]

    @classmethod
    def build(cls, rng: random.Random, regions: list[str], limit: int = 300) -> Plan:
        index = current_index()
        now = dt.datetime.now(dt.UTC)
        datasets = sorted(index.datasets.values(), key=lambda d: d.id)[:limit]
        compliant: list[Route] = []
        violating: list[Route] = []
        for ds in datasets:
            for region in sorted({ds.storage_region, *ds.allowed_regions}):
                route = _route(ds, region, _judged(index, ds, region, now), violating=False)
                if route:
                    compliant.append(route)
            region = rng.choice(regions)
            route = _route(ds, region, _judged(index, ds, region, now), violating=True)
            if route:
                violating.append(route)
        rng.shuffle(compliant)
        rng.shuffle(violating)
        new_places = compliant[-3:] if len(compliant) > 6 else []
        compliant = compliant[: len(compliant) - len(new_places)]
        return cls(
            compliant,
            _problems(index, datasets, regions, violating, rng, now),
            violating[:OCCASIONAL_POOL],
            violating[OCCASIONAL_POOL:-1],
            new_places,
        )


def _problems(index, datasets, regions, violating, rng, now) -> list[Route]:
    """A handful of problems that persist: a misconfigured pipeline sending one dataset of
    personal data to a wrong region, a training job running in a region its grant does not
    cover, and a reporting job reading from a region outside the dataset's own."""
    found: list[Route] = []
    personal = [ds for ds in datasets if ds.personal]
    for ds in rng.sample(personal, len(personal)):  # a different pipeline for each seed
        dest = _denied_region(index, ds, regions, rng, now, "transfer")
        if dest:
            found.append(
                Route(
                    ds.slug,
                    ds.storage_region,
                    dest,
                    ("transfer",),
                    "etl-nightly-export",
                    "run-nightly-export",
                    "misconfigured pipeline",
                )
            )
            break
    for ds in rng.sample(datasets, len(datasets)):
        grants = index.grants.get(ds.id) or ()
        granted = {r for g in grants for r in g.regions}
        nearby = [
            r
            for r in regions
            if r not in granted
            and granted
            and r.split(":")[0] in {g.split(":")[0] for g in granted}
        ]
        dest = _denied_region(index, ds, nearby, rng, now, "training_step") if nearby else ""
        if dest:
            found.append(
                Route(
                    ds.slug,
                    ds.storage_region,
                    dest,
                    ("training_step",),
                    "ml-finetune",
                    "run-finetune-7",
                    "region outside its grant",
                )
            )
            break
    found += [
        Route(
            r.slug,
            r.home,
            r.destination,
            r.kinds,
            "bi-weekly-report",
            "run-weekly-report",
            "report from a region outside the dataset's own",
        )
        for r in violating[-1:]
    ]
    return found


def _denied_region(index, ds, regions, rng, now, kind: str, tries: int = 40) -> str:
    for region in rng.sample(regions, min(tries, len(regions))):
        if region != ds.storage_region and _judged(index, ds, region, now)[kind]:
            return region
    return ""


class Traffic:
    """Draws events: mostly compliant, about `violation_share` violating (most of them from a
    few persistent problems), `gap_share` on datasets the catalog does not know, and now and
    then an anomaly (a volume spike, a first visit to a region)."""

    def __init__(
        self,
        plan: Plan,
        regions: list[str],
        violation_share: float,
        gap_share: float,
        seed: int | None,
        rate: int = 5,
    ):
        self.rng = random.Random(seed)
        self.plan = plan
        self.regions = regions
        self.violation_share = violation_share
        self.gap_share = gap_share
        self.anomaly_chance = ANOMALIES_PER_HOUR / (3600 * max(rate, 1))
        self.run = uuid.uuid4().hex[:8]
        self.numbers = itertools.count(1)

    def _violating(self) -> Route:
        rng, plan = self.rng, self.plan
        roll = rng.random()
        if plan.problems and roll < PERSISTENT_SHARE:
            weights = [2**-i for i in range(len(plan.problems))]
            return rng.choices(plan.problems, weights)[0]
        if plan.occasional and (roll < PERSISTENT_SHARE + OCCASIONAL_SHARE or not plan.one_off):
            return rng.choice(plan.occasional)
        return rng.choice(plan.one_off or plan.problems or plan.occasional)

    def _pick(self) -> tuple[str, str, str, str, str, str, int]:
        """(dataset, source region, destination, kind, actor, run id, bytes) of the next event."""
        rng, plan = self.rng, self.plan
        roll = rng.random()
        size = int(rng.lognormvariate(13, 1.5))
        if roll < self.gap_share or not plan.compliant:
            dataset = rng.choice(SHADOW_DATASETS)
            return (
                dataset,
                rng.choice(self.regions),
                rng.choice(self.regions),
                rng.choice(KINDS),
                rng.choice(ACTORS),
                f"run-{rng.randint(1, 40)}",
                size,
            )
        violating = roll < self.gap_share + self.violation_share
        route = self._violating() if violating and (plan.problems or plan.occasional) else None
        anomaly = rng.random() < self.anomaly_chance
        if route is None and anomaly and plan.new_places and rng.random() < 0.5:
            route = rng.choice(plan.new_places)
        elif anomaly:
            size *= 200  # a volume spike
        if route is None:
            route = rng.choice(plan.compliant)
        actor = route.actor or rng.choice(ACTORS)
        run_id = route.run_id or f"run-{rng.randint(1, 40)}"
        return (
            route.slug,
            route.home,
            route.destination,
            rng.choice(route.kinds),
            actor,
            run_id,
            size,
        )

    def event(self, at: dt.datetime | None = None) -> dict:
        dataset, home, dest, kind, actor, run_id, size = self._pick()
        return {
            "id": f"sim-{self.run}-{next(self.numbers)}",
            "time": (at or dt.datetime.now(dt.UTC)).isoformat().replace("+00:00", "Z"),
            "kind": kind,
            "dataset": dataset,
            "actor": actor,
            "source_region": home,
            "destination_region": dest,
            "bytes": size,
            "records": int(self.rng.lognormvariate(6, 1.2)),
            "run_id": run_id,
        }


def simulator_source(officer) -> TelemetrySource:
    """The simulator's telemetry source, registered by `officer` the first time."""
    source = TelemetrySource.objects.filter(name=SOURCE_NAME).first()
    if source is None:
        source, _token = services.telemetry_source_register(
            actor=officer, name=SOURCE_NAME, description="manage.py simulate_telemetry"
        )
    return source


@dataclass
class Totals:
    """What an offline run sent and what ingest made of it."""

    sent: int = 0
    stored: int = 0
    violations: int = 0
    rejected: int = 0
    steps: int = field(default=0, repr=False)

    @property
    def violation_share(self) -> float:
        return self.violations / self.stored if self.stored else 0.0


def ingest_simulated(
    *,
    traffic: Traffic,
    source: TelemetrySource,
    start: dt.datetime,
    end: dt.datetime,
    step: dt.timedelta,
    events_in_step: Callable[[dt.datetime], int],
    totals: Totals | None = None,
) -> Totals:
    """Ingest traffic from `start` to `end` on a simulated clock: one batch per `step`, its
    events spread over the step, each batch ingested as of the step's end (so incidents open,
    group and reopen at the simulated times)."""
    totals = totals or Totals()
    clock = start
    while clock < end:
        count = events_in_step(clock)
        spacing = step / max(count, 1)
        events = [traffic.event(clock + i * spacing) for i in range(count)]
        clock += step
        if not events:
            continue
        result = telemetry_ingest(source=source, items=events, now=min(clock, end))
        totals.sent += len(events)
        totals.stored += result.stored
        totals.violations += result.violations
        totals.rejected += result.rejected
        totals.steps += 1
    return totals


def working_rhythm(at: dt.datetime) -> float:
    """How busy an hour is against the average: pipelines run around the clock, people's
    jobs mostly on working days and hours (UTC, an organisation centred on Europe)."""
    weekday = at.weekday() < 5
    day = 8 <= at.hour < 19
    if weekday:
        return 1.6 if day else 0.7
    return 0.6 if day else 0.4
