"""Telemetry benchmark: ingest through the HTTP API, push latency to WebSockets, dashboard time.

What it measures, on PostgreSQL and Redis as deployed (two Daphne web processes, the Redis
channel layer), in its own database (BENCH_DATABASE_URL if it names a PostgreSQL database, else
postgres://postgres@127.0.0.1:5432/locus_bench_telemetry, dropped and recreated) and Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/14):

* Ingest. BENCH_TELEMETRY_BATCHES [100] batches of 1,000 events (about 80% compliant, the rest
  spread over grants, violations and unknown datasets, as the engine judges them) are POSTed by
  two client threads, one per web process, each request judged and stored with its rollups,
  violations, incidents, alerts and stream messages. Baseline in the same run: a raw COPY of the
  same stored rows (read back from the events table) into a copy of that table with the same
  indexes and no trigger: the cost of just putting the rows on disk.
* Push latency. BENCH_TELEMETRY_CLIENTS [200] WebSocket clients (an executive's session, half on
  each web process) follow /ws/risk/; BENCH_TELEMETRY_PROBES [40] small batches, each with one
  violation named by its actor, are POSTed in turn to either process. Latency is from just
  before the POST to the client's receipt of that violation, for every client and probe. The
  clients run in this process (one asyncio loop), on the same two cores as everything else.
* Dashboard. The store is filled to BENCH_TELEMETRY_STORED [1,000,000] events through the same
  ingest service (in this process, batches of 10,000 spread over 29 days, so the rollups are
  built exactly as ingest builds them), then the executive dashboard page and its JSON twin are
  fetched BENCH_TELEMETRY_PAGE_ROUNDS [20] times each through a web process, with the shared
  numbers dropped from the cache before each request (every figure computed), and the page
  once more as the viewers after the first get it (numbers from the cache).

* Ingest CPU. BENCH_TELEMETRY_CPU_BATCHES [20] more batches of 1,000 through the ingest
  service in this process (no HTTP): the CPU seconds this process spends per 1,000 events
  (time.process_time; the database's own time is not in it), which a busy machine disturbs
  far less than wall-clock rates.

The load average is logged at each step: the machine is shared. Run it with
`python -m bench telemetry`; BENCH_TELEMETRY_ONLY=ingest measures ingest alone (no sockets, no
million-event store, no dashboard); BENCH_TELEMETRY_ONLY=scale measures the partitioned store
alone, ingest into an empty store and into 10 million stored events, and ingest against a raw
COPY of the same rows (bench/telemetry_scale.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench import common

BENCHMARK = "telemetry"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/locus_bench_telemetry"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
BATCH = 1_000
BATCHES = common.env_int("BENCH_TELEMETRY_BATCHES", 100)
CLIENTS = common.env_int("BENCH_TELEMETRY_CLIENTS", 200)
PROBES = common.env_int("BENCH_TELEMETRY_PROBES", 40)
PROBE_GAP_S = 0.25
STORED = common.env_int("BENCH_TELEMETRY_STORED", 1_000_000)
LOAD_BATCH = 20_000
PAGE_ROUNDS = common.env_int("BENCH_TELEMETRY_PAGE_ROUNDS", 20)
CPU_BATCHES = common.env_int("BENCH_TELEMETRY_CPU_BATCHES", 20)
ONLY = os.environ.get("BENCH_TELEMETRY_ONLY", "")  # "ingest": skip push, store and dashboard
DATASETS = 40
INGEST_TARGET = 20_000  # events/s
PUSH_TARGET_MS = 250.0
PAGE_TARGET_MS = 300.0
PLAIN_TABLE = "bench_telemetry_plain"
STATIC_ROOT = Path(tempfile.gettempdir()) / "locus-bench-telemetry-static"

details: dict = {}


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


# --- Setting up -----------------------------------------------------------------------------


class World:
    """Datasets, the regions events go to, a source and its token, an executive's cookie."""

    def __init__(self, rng: random.Random):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.test import Client

        from catalog.models import Dataset, Region
        from catalog.services import dataset_create
        from governance.policy.engine import evaluate
        from governance.policy.index import current_index
        from governance.roles import Role
        from monitoring.telemetry.services import telemetry_source_register

        users = get_user_model()
        admin = users.objects.create_superuser("bench-admin", "admin@bench.invalid", "x")
        regions = list(Region.objects.order_by("code"))
        homes = [r for r in regions if r.code.startswith(("aws:", "azure:"))]
        self.slugs = []
        for number in range(DATASETS):
            home = homes[(number * 7) % len(homes)]
            dataset_create(
                actor=admin,
                name=f"Bench dataset {number}",
                slug=f"bench-{number:03d}",
                storage_region=home,
                sensitivity=("internal", "confidential", "restricted")[number % 3],
                retention_days=365,
                allowed_processing_regions=rng.sample(homes, 3),
            )
            self.slugs.append(f"bench-{number:03d}")
        self.regions = [r.code for r in regions]
        self.allowed = {s: [] for s in self.slugs}
        through = Dataset.allowed_processing_regions.through.objects.filter(
            dataset__slug__in=self.slugs
        )
        for slug, code in through.values_list("dataset__slug", "region__code"):
            self.allowed[slug].append(code)
        index = current_index()
        self.home = {s: index.datasets_by_slug[s].storage_region for s in self.slugs}
        now = dt.datetime.now(dt.UTC)
        self.denied = {  # a (dataset, region) the engine refuses for a read: the probes' target
            s: next(
                r
                for r in self.regions
                if evaluate(index, s, "process", r, "analytics", now).outcome == "deny"
            )
            for s in self.slugs[:5]
        }
        self.source, self.token = telemetry_source_register(actor=admin, name="bench-pipeline")
        executive = users.objects.create_user("bench-exec", "exec@bench.invalid", "x")
        executive.groups.add(Group.objects.get(name=Role.EXECUTIVE))
        client = Client()
        client.force_login(executive)
        from django.conf import settings

        self.cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )


def events(world: World, rng: random.Random, count: int, prefix: str, spread_days: float = 0):
    """`count` events as a pipeline sends them: at home or where allowed, about 2% elsewhere
    (mostly violations, of a few datasets), 1% naming datasets the catalog does not know."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    items = []
    for i in range(count):
        slug = rng.choice(world.slugs)
        roll = rng.random()
        if roll < 0.01:
            slug, region = f"s3://unregistered/{rng.randrange(50)}", rng.choice(world.regions)
        elif roll < 0.03:
            slug, region = rng.choice(world.slugs[:8]), rng.choice(world.regions[::7])
        elif roll < 0.60 or not world.allowed[slug]:
            region = world.home[slug]
        else:
            region = rng.choice(world.allowed[slug])
        at = now - dt.timedelta(seconds=rng.random() * spread_days * 86400)
        kind = rng.choice(("read", "read", "read", "training_step", "write"))
        if kind == "write" and roll >= 0.03:
            region = world.home.get(slug, region)  # data is stored where it lives
        items.append(
            {
                "id": f"{prefix}-{i}",
                "time": at.isoformat(),
                "kind": kind,
                "dataset": slug,
                "actor": f"job-{rng.randrange(60)}",
                "destination_region": region,
                "bytes": rng.randrange(1_000, 50_000_000),
                "records": rng.randrange(1, 100_000),
            }
        )
    return items


# --- Ingest through the API, and the raw COPY baseline ----------------------------------------


def measure_ingest(world: World, servers: common.Servers, rng: random.Random) -> dict:
    import httpx

    bodies = [json.dumps(events(world, rng, BATCH, f"api-{b}")).encode() for b in range(BATCHES)]
    headers = {"Authorization": f"Bearer {world.token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    stored: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def poster(number: int) -> None:
        url = f"{servers.urls[number % len(servers.urls)]}/api/v1/telemetry/events"
        with httpx.Client(timeout=120) as http:
            for body in bodies[number::2]:
                began = time.perf_counter()
                answer = http.post(url, content=body, headers=headers)
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    if answer.status_code == 200:
                        stored.append(answer.json()["stored"])
                    else:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

    # Warm up each process (policy index, connections) outside the timing.
    warm = json.dumps(events(world, rng, 100, "warm")).encode()
    for url in servers.urls:
        httpx.post(f"{url}/api/v1/telemetry/events", content=warm, headers=headers, timeout=60)
    log(f"ingest: {BATCHES} batches of {BATCH:,} on 2 threads; load {load()}")
    threads = [threading.Thread(target=poster, args=(n,)) for n in range(2)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} ingest requests failed, e.g. {failures[0]}")
    latencies.sort()
    result = {
        "events": sum(stored),
        "seconds": wall,
        "per_s": sum(stored) / wall,
        "p50_ms": common.percentile(latencies, 50) * 1000,
        "p95_ms": common.percentile(latencies, 95) * 1000,
        "load": load(),
    }
    result["outcomes"] = outcome_mix()
    result["copy"] = measure_copy()
    log(
        f"ingest: {result['per_s']:,.0f} events/s; raw COPY {result['copy']['per_s']:,.0f} "
        f"rows/s; load {result['load']}"
    )
    result["cpu"] = measure_ingest_cpu(world, rng)
    return result


def measure_ingest_cpu(world: World, rng: random.Random) -> dict:
    """CPU seconds of the ingest service per 1,000 events, in this process (no HTTP)."""
    from monitoring.telemetry import ingest

    batches = [events(world, rng, BATCH, f"cpu-{b}") for b in range(CPU_BATCHES)]
    cpu = wall = 0.0
    for items in batches:
        began_cpu, began = time.process_time(), time.perf_counter()
        ingest.telemetry_ingest(source=world.source, items=items)
        cpu += time.process_time() - began_cpu
        wall += time.perf_counter() - began
    per = BATCH * len(batches)
    result = {
        "batches": len(batches),
        "cpu_ms_per_1000": cpu / per * BATCH * 1000,
        "wall_ms_per_1000": wall / per * BATCH * 1000,
        "load": load(),
    }
    log(
        f"ingest in-process: {result['cpu_ms_per_1000']:.0f} ms CPU, "
        f"{result['wall_ms_per_1000']:.0f} ms wall per 1,000 events; load {result['load']}"
    )
    return result


def outcome_mix() -> dict[str, int]:
    from django.db.models import Count

    from monitoring.models import TelemetryEvent

    rows = TelemetryEvent.objects.values("outcome").annotate(n=Count("id")).order_by()
    return {row["outcome"]: row["n"] for row in rows}


def measure_copy() -> dict:
    """COPY the stored events, as they are, into a same-shaped table without the trigger."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        conn.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE monitoring_telemetryevent INCLUDING ALL)")
        conn.commit()
        data = bytearray()
        with conn.cursor().copy(
            "COPY (SELECT * FROM monitoring_telemetryevent ORDER BY id) TO STDOUT"
        ) as copy:
            for chunk in copy:
                data += chunk
        rows = data.count(b"\n")
        began = time.perf_counter()
        with conn.cursor().copy(f"COPY {PLAIN_TABLE} FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(bytes(data[start : start + (1 << 20)]))
        conn.commit()
        wall = time.perf_counter() - began
        conn.execute(f"DROP TABLE {PLAIN_TABLE}")
        conn.commit()
    return {"rows": rows, "seconds": wall, "per_s": rows / wall}


# --- Push latency to 200 sockets --------------------------------------------------------------


async def _push_latency(world: World, servers: common.Servers, rng: random.Random) -> dict:
    import httpx

    from tests import wsclient

    sent: dict[str, float] = {}
    answered: list[float] = []  # how long each probe's POST took (judged, stored, committed)
    arrivals: list[tuple[int, float]] = []  # (seq, wall clock at receipt)
    samples: list[float] = []
    received = [0]

    async def follow(number: int, ready: asyncio.Event, connected: list) -> None:
        base = servers.urls[number % len(servers.urls)]
        socket = await wsclient.connect(
            base.replace("http://", "ws://") + "/ws/risk/", origin=base, cookie=world.cookie
        )
        hello = await socket.receive_json(timeout=30)
        await socket.send_json({"after": hello["head"]})
        connected.append(socket)
        if len(connected) == CLIENTS:
            ready.set()
        try:
            while True:
                frame = await socket.receive_json()
                for message in frame.get("messages", ()):
                    if message["kind"] != "violation.created":
                        continue
                    actor = message["payload"]["actor"]
                    if actor in sent:
                        samples.append(time.perf_counter() - sent[actor])
                        arrivals.append((message["seq"], time.time()))
                        received[0] += 1
        except (wsclient.Closed, asyncio.CancelledError):
            pass

    ready = asyncio.Event()
    connected: list = []
    tasks = [asyncio.ensure_future(follow(n, ready, connected)) for n in range(CLIENTS)]
    await asyncio.wait_for(ready.wait(), 120)
    log(f"push: {CLIENTS} sockets open on {len(servers.urls)} processes; load {load()}")
    headers = {"Authorization": f"Bearer {world.token}"}
    denied = list(world.denied.items())
    async with httpx.AsyncClient(timeout=60) as http:
        for probe in range(PROBES):
            slug, region = denied[probe % len(denied)]
            batch = events(world, rng, 9, f"probe-{probe}-ok")
            actor = f"probe-{probe}"
            batch.append(
                {
                    "id": f"probe-{probe}",
                    "time": dt.datetime.now(dt.UTC).isoformat(),
                    "kind": "read",
                    "dataset": slug,
                    "actor": actor,
                    "destination_region": region,
                    "bytes": 1000,
                }
            )
            url = f"{servers.urls[probe % len(servers.urls)]}/api/v1/telemetry/events"
            sent[actor] = time.perf_counter()
            answer = await http.post(url, json=batch, headers=headers)
            answered.append(time.perf_counter() - sent[actor])
            assert answer.json()["violations"] >= 1, answer.text
            await asyncio.sleep(PROBE_GAP_S)
    deadline = time.monotonic() + 10
    while received[0] < CLIENTS * PROBES and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for socket in connected:
        await socket.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    samples.sort()
    answered.sort()
    fanout = await _outbox_to_socket(arrivals)
    return {
        "fanout_p50_ms": common.percentile(fanout, 50) * 1000,
        "fanout_p95_ms": common.percentile(fanout, 95) * 1000,
        "post_p50_ms": common.percentile(answered, 50) * 1000,
        "post_p95_ms": common.percentile(answered, 95) * 1000,
        "clients": CLIENTS,
        "probes": PROBES,
        "expected": CLIENTS * PROBES,
        "received": received[0],
        "p50_ms": common.percentile(samples, 50) * 1000,
        "p95_ms": common.percentile(samples, 95) * 1000,
        "p99_ms": common.percentile(samples, 99) * 1000,
        "load": load(),
    }


async def _outbox_to_socket(arrivals: list[tuple[int, float]]) -> list[float]:
    """Seconds from each message's outbox row (written just before the commit) to a socket."""
    from channels.db import database_sync_to_async

    from monitoring.models import StreamMessage

    def written() -> dict[int, float]:
        rows = StreamMessage.objects.filter(seq__in={seq for seq, _ in arrivals})
        return {seq: at.timestamp() for seq, at in rows.values_list("seq", "created_at")}

    at = await database_sync_to_async(written)()
    return sorted(received - at[seq] for seq, received in arrivals if seq in at)


def measure_push(world: World, servers: common.Servers, rng: random.Random) -> dict:
    result = asyncio.run(_push_latency(world, servers, rng))
    log(
        f"push: p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
        f"{result['received']:,}/{result['expected']:,} received; load {result['load']}"
    )
    return result


# --- The dashboard over a million events ----------------------------------------------------


def fill_store(world: World, rng: random.Random) -> dict:
    """Store events until there are STORED, judged and rolled up by ingest's own code.

    Each chunk goes through `ingest.telemetry_backfill`: ingest's validation, judgement, insert
    and daily flow rollup; violations, incidents and alerts are not made for these (the
    dashboard counts them from the rollup; incidents come from the API phase)."""
    from monitoring.models import FlowDaily, TelemetryEvent
    from monitoring.telemetry import ingest

    have = start = TelemetryEvent.objects.count()
    log(f"store: {have:,} events, filling to {STORED:,}; load {load()}")
    began = time.perf_counter()
    chunk = 0
    while have < STORED:
        items = events(world, rng, min(LOAD_BATCH, STORED - have), f"fill-{chunk}", 29)
        result = ingest.telemetry_backfill(source=world.source, items=items)
        assert not result.errors, result.errors[:3]
        have += result.stored
        chunk += 1
        if chunk % 10 == 0:
            rate = (have - start) / (time.perf_counter() - began)
            log(f"store: {have:,} events ({rate:,.0f}/s); load {load()}")
    wall = time.perf_counter() - began
    filled = have - start
    return {
        "events": have,
        "filled": filled,
        "seconds": wall,
        "rollup_rows": FlowDaily.objects.count(),
    }


def measure_dashboard(world: World, servers: common.Servers) -> dict:
    import httpx
    from django.core.cache import cache

    from monitoring.dashboards.selectors import Filters
    from monitoring.telemetry.stream import stream_head

    def forget_numbers() -> None:
        """Drop the shared executive numbers, so that the request computes them (cold)."""
        f = Filters.last_days(30)
        cache.delete(f"monitoring:executive:{f.since}:{f.until}:{f.jurisdiction}:{stream_head()}")

    result = {}
    headers = {"Cookie": world.cookie}
    with httpx.Client(timeout=60, headers=headers) as http:
        for name, path, cold in (
            ("page", "/monitoring/executive/", True),
            ("data", "/monitoring/executive/data", True),
            ("page_cached", "/monitoring/executive/", False),
        ):
            url = servers.urls[0] + path
            for _ in range(3):  # warm up
                answer = http.get(url)
                assert answer.status_code == 200, (answer.status_code, answer.text[:300])
            samples = []
            for _ in range(PAGE_ROUNDS):
                if cold:
                    forget_numbers()
                began = time.perf_counter()
                answer = http.get(url)
                samples.append(time.perf_counter() - began)
                assert answer.status_code == 200
            samples.sort()
            result[name] = {
                "p50_ms": common.percentile(samples, 50) * 1000,
                "p95_ms": common.percentile(samples, 95) * 1000,
                "bytes": len(answer.content),
            }
    result["load"] = load()
    log(
        f"dashboard: page p50 {result['page']['p50_ms']:.0f} ms p95 "
        f"{result['page']['p95_ms']:.0f} ms; load {result['load']}"
    )
    return result


# --- The run ------------------------------------------------------------------------------


def measure() -> list[dict]:
    url = common.served_database_url(DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    env = common.server_env("telemetry", url, redis_url, STATIC_ROOT=str(STATIC_ROOT))
    if not common._postgres_reachable(url):
        log(f"PostgreSQL at {url} does not answer: the telemetry benchmark needs it; skipped")
        details["skipped"] = "no PostgreSQL"
        return []
    common.setup_served_django(env, collectstatic=True)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    rng = random.Random(7)
    world = World(rng)
    details["load_start"] = load()
    log(f"database {urlsplit(url).path.lstrip('/')}, redis {redis_url}; load {load()}")
    push = stored = dashboard = None
    if ONLY == "scale":
        from bench import telemetry_scale

        details["scale"] = telemetry_scale.measure(world, rng, events, log)
        details["load_end"] = load()

        def row(metric, value, unit, **kwargs):
            return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

        return telemetry_scale.figures(details["scale"], row)
    with common.Servers(env, 2, "telemetry") as servers:
        ingest = measure_ingest(world, servers, rng)
        if ONLY != "ingest":
            push = measure_push(world, servers, rng)
            stored = fill_store(world, rng)
            dashboard = measure_dashboard(world, servers)
    details.update(
        {
            "sizes": {
                "batches": BATCHES,
                "batch": BATCH,
                "clients": CLIENTS,
                "probes": PROBES,
                "stored": STORED,
            },
            "ingest": ingest,
            "push": push,
            "store": stored,
            "dashboard": dashboard,
            "load_end": load(),
        }
    )
    return figures(ingest, push, stored, dashboard)


def figures(ingest: dict, push: dict | None, stored: dict | None, dashboard: dict | None):
    def row(metric, value, unit, **kwargs):
        return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

    rows = [
        row(
            "ingest events/s, HTTP API, batches of 1,000, 2 web processes",
            ingest["per_s"],
            "1/s",
            peer="raw COPY rows/s, same rows",
            peer_value=ingest["copy"]["per_s"],
            better="higher",
            target=f">={INGEST_TARGET:,}/s",
            met=ingest["per_s"] >= INGEST_TARGET,
            note=f"load {ingest['load']}",
        ),
        row("ingest request p50 (1,000 events)", ingest["p50_ms"], "ms"),
        row("ingest request p95 (1,000 events)", ingest["p95_ms"], "ms"),
        row(
            "ingest CPU per 1,000 events, service in-process (no HTTP)",
            ingest["cpu"]["cpu_ms_per_1000"],
            "ms",
            better="lower",
            note=f"time.process_time; wall {ingest['cpu']['wall_ms_per_1000']:.0f} ms; "
            f"load {ingest['cpu']['load']}",
        ),
    ]
    if push is None or stored is None or dashboard is None:
        return rows
    n = f"{stored['events'] / 1e6:g}M" if stored["events"] >= 1e6 else f"{stored['events']:,}"
    rows += [
        row(f"push POST->socket p50, {push['clients']} sockets", push["p50_ms"], "ms"),
        row(
            f"push POST->socket p95, {push['clients']} sockets",
            push["p95_ms"],
            "ms",
            target=f"<{PUSH_TARGET_MS:.0f} ms",
            met=push["p95_ms"] < PUSH_TARGET_MS,
            note=f"load {push['load']}",
        ),
        row(f"push POST->socket p99, {push['clients']} sockets", push["p99_ms"], "ms"),
        row(
            "push probe POST answered p50 (10 events, 1 violation)",
            push["post_p50_ms"],
            "ms",
            note="part of the latency above: judging, storing, committing",
        ),
        row("push probe POST answered p95", push["post_p95_ms"], "ms"),
        row(
            "push outbox row->socket p50",
            push["fanout_p50_ms"],
            "ms",
            note="from the row written at the end of the ingest transaction; same clock",
        ),
        row("push outbox row->socket p95", push["fanout_p95_ms"], "ms"),
        row(
            "push messages received",
            push["received"],
            "msgs",
            target=f"{push['expected']:,}",
            met=push["received"] == push["expected"],
        ),
        row(
            f"executive dashboard page p50, {n} events",
            dashboard["page"]["p50_ms"],
            "ms",
        ),
        row(
            f"executive dashboard page p95, {n} events",
            dashboard["page"]["p95_ms"],
            "ms",
            target=f"<{PAGE_TARGET_MS:.0f} ms",
            met=dashboard["page"]["p95_ms"] < PAGE_TARGET_MS,
            note=f"load {dashboard['load']}; {stored['rollup_rows']:,} rollup rows",
        ),
        row(f"executive dashboard JSON p95, {n} events", dashboard["data"]["p95_ms"], "ms"),
        row(
            "executive dashboard page p95, numbers shared (cached by stream head)",
            dashboard["page_cached"]["p95_ms"],
            "ms",
            note="what every viewer but the first gets after a change",
        ),
        row(
            "store fill (ingest's judging, rows and rollups, no HTTP)",
            stored["filled"] / stored["seconds"] if stored["seconds"] else 0,
            "1/s",
            better="higher",
        ),
    ]
    return rows


def run() -> list[dict]:
    """The telemetry figures; in a child process when Django already serves another database."""
    return common.run_apart("telemetry", measure, details)


if __name__ == "__main__":
    common.main(measure, details)
