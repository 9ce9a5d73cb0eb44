"""Send realistic telemetry through the real HTTP API, with some violations, so dashboards move.

    manage.py simulate_telemetry --rate 200 [--seconds 60] [--url http://127.0.0.1:8000] [--token T]
    manage.py simulate_telemetry --rate 5 --offline --simulated-hours 1   (no server; fast)

Without --token it registers (or re-keys) a demo source named "simulator", acting as the first
privacy officer, which needs this process to share the server's database (the local demo).

The traffic looks like a governed organisation's day: routes are judged once by the policy
engine when the run starts, so ordinary events are compliant; about --violation-share of them
(default 2%) violate, most from a handful of problems that persist (a misconfigured pipeline
sending one dataset of personal data to a wrong region, a training job in a region its grant
does not cover, a report reading from outside the dataset's regions), the rest from a few
occasional slips; a few name datasets the catalog does not know (catalog gaps); and now and
then an actor moves far more data than usual or works in a region it never used (anomalies).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import random
import time
import uuid
from dataclasses import dataclass

import httpx
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Region
from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from governance.roles import Role
from monitoring.models import Incident, TelemetrySource
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
    for ds in personal:
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
    for ds in datasets:
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


def _demo_officer():
    officer = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=Role.PRIVACY_OFFICER)
        .order_by("pk")
        .first()
    )
    if officer is None:
        raise CommandError(
            "No privacy officer to register the demo source: run seed_demo, or give --token"
        )
    return officer


def _demo_token() -> str:
    officer = _demo_officer()
    source = TelemetrySource.objects.filter(name=SOURCE_NAME).first()
    if source is None:
        _, token = services.telemetry_source_register(
            actor=officer, name=SOURCE_NAME, description="manage.py simulate_telemetry"
        )
        return token
    if not source.is_active:
        raise CommandError(f"The {SOURCE_NAME!r} source is revoked; give --token")
    _, token = services.telemetry_source_rotate(actor=officer, source=source)
    return token


class Command(BaseCommand):
    help = "Send realistic telemetry (with some violations) to the ingest API at a steady rate."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=int, required=True, help="Events per second")
        parser.add_argument(
            "--seconds",
            type=int,
            default=0,
            help="Send this many seconds of traffic (0: until Ctrl-C)",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Locus's base URL")
        parser.add_argument("--token", default="", help="A source token (default: a demo source)")
        parser.add_argument(
            "--batch", type=int, default=1000, help="At most this many events a request"
        )
        parser.add_argument(
            "--violation-share",
            "--violations",
            dest="violations",
            type=float,
            default=0.02,
            help="Share of events that violate the policy (default 0.02)",
        )
        parser.add_argument(
            "--gaps", type=float, default=0.01, help="Share naming unknown datasets"
        )
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--offline",
            action="store_true",
            help="Ingest in this process (no server), on a simulated clock; needs --simulated-hours",
        )
        parser.add_argument(
            "--simulated-hours",
            type=float,
            default=0,
            help="With --offline: simulate this many hours, ending now, as fast as ingest goes",
        )
        parser.add_argument(
            "--ending-days-ago",
            type=float,
            default=0,
            help="With --offline: the simulated hours end this many days ago (history for "
            "the Risk page's previous period)",
        )

    def handle(self, *args, rate, seconds, url, token, batch, violations, gaps, seed, **options):
        if rate < 1 or batch < 1:
            raise CommandError("--rate and --batch must be 1 or more")
        if not 0 <= violations <= 1 or not 0 <= gaps <= 1 or violations + gaps > 1:
            raise CommandError("--violation-share and --gaps are shares between 0 and 1")
        regions = sorted(Region.objects.values_list("code", flat=True))
        plan = Plan.build(random.Random(seed), regions)
        traffic = Traffic(plan, regions, violations, gaps, seed, rate)
        for problem in plan.problems:
            self.stdout.write(
                f"Persistent problem ({problem.label}): {problem.actor} sends "
                f"{problem.slug} to {problem.destination}"
            )
        if options["offline"]:
            ending = dt.datetime.now(dt.UTC) - dt.timedelta(days=options["ending_days_ago"])
            self._offline(traffic, rate, options["simulated_hours"], ending)
            return
        token = token or _demo_token()
        endpoint = f"{url.rstrip('/')}/api/v1/telemetry/events"
        totals = {"sent": 0, "stored": 0, "violations": 0, "rejected": 0, "failed_requests": 0}
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(headers=headers, timeout=30) as client,
            contextlib.suppress(KeyboardInterrupt),
        ):
            self._loop(client, endpoint, traffic, rate, seconds, batch, totals, started)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Sent {totals['sent']} events in {elapsed:.1f}s: stored {totals['stored']}, "
            f"violations {totals['violations']}, rejected {totals['rejected']}, "
            f"failed requests {totals['failed_requests']}"
        )

    def _loop(self, client, endpoint, traffic, rate, seconds, batch, totals, started):
        # One second's events per tick: --seconds S sends rate x S events even if the server is
        # slower than the rate (the simulator then falls behind rather than dropping events).
        ticks = itertools.count(1) if not seconds else range(1, max(1, round(seconds)) + 1)
        for tick in ticks:
            due = started + tick  # one second's events per tick, in batches
            remaining = rate
            while remaining > 0:
                size = min(batch, remaining)
                remaining -= size
                self._send(client, endpoint, [traffic.event() for _ in range(size)], totals)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if tick % 10 == 0:
                self.stdout.write(f"{totals['sent']} sent, {totals['violations']} violations")

    def _send(self, client, endpoint, events, totals):
        totals["sent"] += len(events)
        try:
            response = client.post(endpoint, json=events)
        except httpx.HTTPError as exc:
            totals["failed_requests"] += 1
            self.stderr.write(f"{endpoint}: {exc}")
            return
        if response.status_code != 200:
            totals["failed_requests"] += 1
            self.stderr.write(f"{endpoint}: HTTP {response.status_code} {response.text[:200]}")
            if response.status_code == 401:
                raise CommandError("The token was refused (unknown or revoked)")
            return
        data = response.json()
        totals["stored"] += data["stored"]
        totals["violations"] += data["violations"]
        totals["rejected"] += data["rejected"]

    def _offline(self, traffic: Traffic, rate: int, hours: float, ending: dt.datetime) -> None:
        """Simulate `hours` of traffic up to `ending`, one ingest per simulated second (as the
        HTTP mode sends), the clock advanced per second instead of waited for."""
        if hours <= 0:
            raise CommandError("--offline needs --simulated-hours above 0")
        source = TelemetrySource.objects.filter(name=SOURCE_NAME).first()
        if source is None:
            source, _ = services.telemetry_source_register(
                actor=_demo_officer(), name=SOURCE_NAME, description="manage.py simulate_telemetry"
            )
        start = ending.replace(microsecond=0) - dt.timedelta(hours=hours)
        last = Incident.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        totals = {"sent": 0, "stored": 0, "violations": 0, "rejected": 0}
        for second in range(round(hours * 3600)):
            clock = start + dt.timedelta(seconds=second)
            step = dt.timedelta(seconds=1) / rate
            events = [traffic.event(clock + i * step) for i in range(rate)]
            result = telemetry_ingest(
                source=source, items=events, now=clock + dt.timedelta(seconds=1)
            )
            totals["sent"] += len(events)
            totals["stored"] += result.stored
            totals["violations"] += result.violations
            totals["rejected"] += result.rejected
        opened = Incident.objects.filter(pk__gt=last)
        share = totals["violations"] / totals["stored"] if totals["stored"] else 0.0
        self.stdout.write(
            f"Simulated {hours:g} h at {rate}/s: {totals['sent']} events, stored {totals['stored']}, "
            f"violations {totals['violations']} ({share:.1%}), rejected {totals['rejected']}; "
            f"incidents opened {opened.count()}"
        )
