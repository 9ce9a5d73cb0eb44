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

import httpx
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Region
from governance.roles import Role
from monitoring.models import Incident, TelemetrySource
from monitoring.telemetry import services
from monitoring.telemetry.simulator import (
    SOURCE_NAME,
    Plan,
    Traffic,
    ingest_simulated,
    simulator_source,
)


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
        source = simulator_source(_demo_officer())
        start = ending.replace(microsecond=0) - dt.timedelta(hours=hours)
        last = Incident.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        totals = ingest_simulated(
            traffic=traffic,
            source=source,
            start=start,
            end=start + dt.timedelta(seconds=round(hours * 3600)),
            step=dt.timedelta(seconds=1),
            events_in_step=lambda _clock: rate,
        )
        opened = Incident.objects.filter(pk__gt=last)
        self.stdout.write(
            f"Simulated {hours:g} h at {rate}/s: {totals.sent} events, stored {totals.stored}, "
            f"violations {totals.violations} ({totals.violation_share:.1%}), "
            f"rejected {totals.rejected}; incidents opened {opened.count()}"
        )
