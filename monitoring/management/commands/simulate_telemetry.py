"""Send realistic telemetry through the real HTTP API, with some violations, so dashboards move.

    manage.py simulate_telemetry --rate 200 [--seconds 60] [--url http://127.0.0.1:8000] [--token T]

Without --token it registers (or re-keys) a demo source named "simulator", acting as the first
privacy officer, which needs this process to share the server's database (the local demo).
The traffic is drawn from the catalog: most events stay where their dataset may be processed,
a few go elsewhere (violations), a few name datasets the catalog does not know (catalog gaps).
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

from catalog.models import Dataset, Region
from governance.roles import Role
from monitoring.models import Incident, TelemetrySource
from monitoring.telemetry import services
from monitoring.telemetry.ingest import telemetry_ingest

SOURCE_NAME = "simulator"
KINDS = ["read"] * 6 + ["write"] * 2 + ["transfer", "training_step", "access"]
ACTORS = [f"{team}-{job}" for team in ("etl", "ml", "bi", "ops") for job in ("a", "b", "c")]
SHADOW_DATASETS = ["s3://shadow-exports/customers.csv", "gs://scratch/tmp-join", "hdfs://old/crm"]


@dataclass(frozen=True)
class Target:
    slug: str
    home: str
    allowed: tuple[str, ...]


def _targets(limit: int = 300) -> list[Target]:
    allowed: dict[int, list[str]] = {}
    through = Dataset.allowed_processing_regions.through
    for ds_id, code in through.objects.values_list("dataset_id", "region__code"):
        allowed.setdefault(ds_id, []).append(code)
    rows = Dataset.objects.values_list("id", "slug", "storage_region__code")[:limit]
    return [Target(slug, home, tuple(allowed.get(pk, ()))) for pk, slug, home in rows]


class Traffic:
    """Draws events: mostly compliant, `violation_share` abroad, `gap_share` unknown datasets."""

    def __init__(
        self,
        targets: list[Target],
        regions: list[str],
        violation_share: float,
        gap_share: float,
        seed: int | None,
    ):
        self.rng = random.Random(seed)
        self.targets = targets
        self.regions = regions
        self.violation_share = violation_share
        self.gap_share = gap_share
        self.run = uuid.uuid4().hex[:8]
        self.numbers = itertools.count(1)

    def event(self, at: dt.datetime | None = None) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < self.gap_share or not self.targets:
            dataset, home, dest = (
                rng.choice(SHADOW_DATASETS),
                rng.choice(self.regions),
                rng.choice(self.regions),
            )
        else:
            target = rng.choice(self.targets)
            dataset, home = target.slug, target.home
            if roll < self.gap_share + self.violation_share:
                dest = rng.choice(self.regions)
            else:
                dest = rng.choice((target.home, *target.allowed))
        return {
            "id": f"sim-{self.run}-{next(self.numbers)}",
            "time": (at or dt.datetime.now(dt.UTC)).isoformat().replace("+00:00", "Z"),
            "kind": rng.choice(KINDS),
            "dataset": dataset,
            "actor": rng.choice(ACTORS),
            "source_region": home,
            "destination_region": dest,
            "bytes": int(rng.lognormvariate(13, 1.5)),
            "records": int(rng.lognormvariate(6, 1.2)),
            "run_id": f"run-{rng.randint(1, 40)}",
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
            "--violations", type=float, default=0.03, help="Share of events sent out of bounds"
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

    def handle(self, *args, rate, seconds, url, token, batch, violations, gaps, seed, **options):
        if rate < 1 or batch < 1:
            raise CommandError("--rate and --batch must be 1 or more")
        regions = list(Region.objects.values_list("code", flat=True))
        traffic = Traffic(_targets(), regions, violations, gaps, seed)
        if options["offline"]:
            self._offline(traffic, rate, options["simulated_hours"])
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

    def _offline(self, traffic: Traffic, rate: int, hours: float) -> None:
        """Simulate `hours` of traffic ending now, one ingest per simulated second (as the
        HTTP mode sends), the clock advanced per second instead of waited for."""
        if hours <= 0:
            raise CommandError("--offline needs --simulated-hours above 0")
        source = TelemetrySource.objects.filter(name=SOURCE_NAME).first()
        if source is None:
            source, _ = services.telemetry_source_register(
                actor=_demo_officer(), name=SOURCE_NAME, description="manage.py simulate_telemetry"
            )
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=hours)
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
