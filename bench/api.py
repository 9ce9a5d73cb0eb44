"""HTTP API benchmark: the locality check, a catalog list and two privacy-officer lists.

What it measures, on PostgreSQL and Redis as deployed (real Daphne processes, DEBUG off, token
auth, the PostgreSQL connection pool), in its own database (BENCH_DATABASE_URL if it names a
PostgreSQL database, else postgres://postgres@127.0.0.1:5432/locus_bench_api, dropped and
recreated) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/13):

* The catalog: BENCH_API_DATASETS [100,000] datasets, inserted with COPY by the policy
  benchmark's generator (random storage region, 60% personal data, up to four allowed regions);
  no locality rules or grants beyond the built-in ones.
* BENCH_API_EXCEPTIONS [5,000] transfer exceptions filed by a data owner (1-3 datasets, 1-2
  destination regions, a purpose, a mechanism, statuses before a decision), the privacy officer
  a reviewer (guardian object permissions, as submitting gives) of about half of them.
* BENCH_API_SUBJECT_REQUESTS [20,000] data-subject requests over 90 days (sealed identifiers,
  a pseudonymous subject key, 0-4 tasks each), 60% under the jurisdictions the privacy officer
  answers for (EU and UK).

Each figure stands beside a floor measured in the same run, by the same client, interleaved
request by request with the figure it is compared with (so a change in the machine's load hits
both alike): `GET /api/v1/purposes/` with the same user's token, the cheapest authenticated DRF
endpoint (token lookup, permission check, a one-table query, JSON).

* `POST /api/v1/locality/check`: BENCH_API_SINGLE [400] single checks (p50/p95/p99) beside the
  floor, and beside the same checks through the engine in this process (`evaluate`,
  no database) and through the service (`locality_check`: engine, decision insert,
  ledger append; no HTTP). Then BENCH_API_BATCHES [10] batches of 1,000 checks: checks/s over
  HTTP, one client on one process, beside the service in this process and the bare engine on
  the same checks; and then two clients on two web processes at once. Then the same single
  checks against a process that reads the revision counters on every check and one told of
  changes by notification, interleaved (`bench/freshness.py`).
* `GET /api/v1/datasets/` (50 a page, the first pages and pages spread over the catalog) as an
  engineer, p50/p95 beside the floor.
* `GET /api/v1/transfer-exceptions/` and `GET /api/v1/subject-requests/` (first pages, and
  filtered by status) as a privacy officer, p50/p95 beside the floor.

* The servers (bench/serving.py): the floor, one check and a page (`GET /governance/rules/`)
  served by Daphne, by granian with threads (the Procfile's `web`) and by gunicorn with threads,
  one process each, in interleaved rounds from four clients at once: requests/s and the
  server's CPU per request.
* The layouts (bench/serving.py, part `layouts`): the floor and one check served by the layout
  before the authentication cache and the index notifications (Daphne, both off) and by the
  Procfile's `web` (granian, both on; gunicorn in its place too), one process each pinned to
  one core: requests/s per process and CPU per request, after over before (target: 2.5x for
  one check).
* Round trips (bench/roundtrips.py, part `roundtrips`): one check and the floor in this
  process, cold and warm, their round trips to PostgreSQL counted on the wire (libpq's trace)
  beside the statements Django logged.

BENCH_API_LIST_ROUNDS [60] requests per list figure. BENCH_API_PARTS (comma-separated, default
all of single,batches,lists,servers,freshness,layouts,roundtrips) runs only some parts. The load average is logged at each step and
kept in the details: the machine is shared. Run it with `python -m bench api`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from bench import common, freshness, roundtrips, serving

BENCHMARK = "api"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/locus_bench_api"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
DATASETS = common.env_int("BENCH_API_DATASETS", 100_000)
EXCEPTIONS = common.env_int("BENCH_API_EXCEPTIONS", 5_000)
SUBJECT_REQUESTS = common.env_int("BENCH_API_SUBJECT_REQUESTS", 20_000)
SINGLE = common.env_int("BENCH_API_SINGLE", 400)
BATCHES = common.env_int("BENCH_API_BATCHES", 10)
BATCH = 1_000
LIST_ROUNDS = common.env_int("BENCH_API_LIST_ROUNDS", 60)
WEB_PROCESSES = 2
# Which parts run (BENCH_API_PARTS, comma-separated): all by default.
ALL_PARTS = "single,batches,lists,servers,freshness,layouts,roundtrips"
PARTS = set(os.environ.get("BENCH_API_PARTS", ALL_PARTS).split(","))
FLOOR = "/api/v1/purposes/"
CHECK = "/api/v1/locality/check"
OFFICER_JURISDICTIONS = ("eu", "uk")
SEED = 20260602

details: dict = {"loads": {}}


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load(step: str | None = None) -> float:
    """The 1-minute load average now; kept in the details under `step` when given."""
    value = round(os.getloadavg()[0], 2)
    if step:
        details["loads"][step] = value
    return value


# --- Setting up -----------------------------------------------------------------------------


class People:
    """An engineer (the pipelines' role), a data owner who files exceptions, and a privacy
    officer answering for the EU and the UK; each with an API token."""

    def __init__(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from rest_framework.authtoken.models import Token

        from governance.models import Responsibility
        from governance.roles import Role

        users = get_user_model()

        def person(username: str, role: str):
            user = users.objects.create_user(username, f"{username}@bench.invalid", None)
            user.groups.add(Group.objects.get(name=role))
            return user, Token.objects.create(user=user).key

        self.engineer, self.engineer_token = person("bench-engineer", Role.ENGINEER)
        self.owner, _ = person("bench-data-owner", Role.DATA_OWNER)
        self.officer, self.officer_token = person("bench-officer", Role.PRIVACY_OFFICER)
        for code in OFFICER_JURISDICTIONS:
            Responsibility.objects.create(user=self.officer, jurisdiction_id=code)


def create_catalog(rng: random.Random):
    """DATASETS datasets through the policy benchmark's COPY generator; its World back."""
    from bench import policy as policy_bench

    world = policy_bench.load_world(rng)
    policy_bench.create_datasets(world, 0, DATASETS, rng)
    return world


def create_exceptions(world, people: People, rng: random.Random) -> None:
    """EXCEPTIONS undecided exceptions, with their places; the officer reviews about half."""
    from django.contrib.auth.models import Permission
    from django.db import transaction
    from django.utils import timezone

    from governance.models import TransferMechanism
    from requests.models import ExceptionStatus, TransferException
    from requests.models import TransferExceptionUserObjectPermission as ObjectPermission

    S = ExceptionStatus
    statuses = (S.DRAFT, S.SUBMITTED, S.UNDER_REVIEW, S.CHANGES_REQUESTED, S.REJECTED, S.WITHDRAWN)
    perms = list(
        Permission.objects.filter(
            content_type__app_label="workflows",
            codename__in=["view_transferexception", "review_transferexception"],
        )
    )
    now = timezone.now()
    rows, places = [], []
    for number in range(EXCEPTIONS):
        starts = now - dt.timedelta(days=rng.randrange(0, 120))
        datasets = rng.sample(world.dataset_ids, rng.randint(1, 3))
        destinations = rng.sample(world.regions, rng.randint(1, 2))
        rows.append(
            TransferException(
                title=f"Bench exception {number}: to {destinations[0].code}",
                requester=people.owner,
                purpose_id=rng.choice(world.purposes),
                mechanism=rng.choice((TransferMechanism.SCC, TransferMechanism.BCR)),
                tia_risks=["Public-authority access in the destination"],
                tia_measures=["encryption"],
                starts_at=starts,
                ends_at=starts + dt.timedelta(days=30),
                justification="Model training needs the data where the accelerators are.",
                status=rng.choice(statuses),
            )
        )
        places.append((datasets, destinations))
    with transaction.atomic():
        made = TransferException.objects.bulk_create(rows, batch_size=2_000)
        through = {
            name: getattr(TransferException, name).through
            for name in ("datasets", "source_regions", "destination_regions")
        }
        links = {name: [] for name in through}
        grants = []
        for exception, (datasets, destinations) in zip(made, places, strict=True):
            sources = {world.dataset_regions[d] for d in datasets}
            links["datasets"] += [
                through["datasets"](transferexception_id=exception.pk, dataset_id=d)
                for d in datasets
            ]
            links["source_regions"] += [
                through["source_regions"](transferexception_id=exception.pk, region_id=r)
                for r in sorted(sources)
            ]
            links["destination_regions"] += [
                through["destination_regions"](transferexception_id=exception.pk, region_id=r.id)
                for r in destinations
            ]
            if exception.status != S.DRAFT and rng.random() < 0.5:
                grants += [
                    ObjectPermission(user=people.officer, permission=p, content_object=exception)
                    for p in perms
                ]
        for name, model in through.items():
            model.objects.bulk_create(links[name], batch_size=5_000)
        ObjectPermission.objects.bulk_create(grants, batch_size=5_000)
    details["exceptions_seen_by_officer"] = len(grants) // max(1, len(perms))


def create_subject_requests(world, people: People, rng: random.Random) -> None:
    """SUBJECT_REQUESTS requests over 90 days, sealed as intake seals them, with 0-4 tasks."""
    from django.db import transaction
    from django.utils import timezone

    from governance.ledger.chain import pseudonym
    from requests.models.subjects import (
        SubjectRequest,
        SubjectRequestStatus,
        SubjectRequestType,
        SubjectTask,
        TaskStatus,
        seal,
    )

    others = [j for j in world.jurisdictions if j not in OFFICER_JURISDICTIONS]
    now = timezone.now()
    rows, task_specs = [], []
    for number in range(SUBJECT_REQUESTS):
        email = f"subject{number}@bench.invalid"
        received = now - dt.timedelta(seconds=rng.randrange(0, 90 * 86400))
        jurisdiction = (
            rng.choice(OFFICER_JURISDICTIONS) if rng.random() < 0.6 else rng.choice(others)
        )
        status = rng.choice(SubjectRequestStatus.values)
        rows.append(
            SubjectRequest(
                type=rng.choice(SubjectRequestType.values),
                status=status,
                jurisdiction_id=jurisdiction,
                sealed=seal({"identifiers": {"email": email}, "details": ""}),
                subject_key=pseudonym(email),
                identifier_kinds=["email"],
                received_at=received,
                deadline=(received + dt.timedelta(days=30)).date(),
                acknowledge_by=(received + dt.timedelta(days=10)).date(),
                acknowledged_at=received,
                deadline_basis="One month from receipt (bench)",
                created_by=people.officer,
            )
        )
        task_specs.append(rng.sample(world.dataset_ids, rng.choice((0, 1, 2, 2, 3, 4))))
    slugs = dict(zip(world.dataset_ids, (f"bench-{i:06d}" for i in range(DATASETS)), strict=True))
    with transaction.atomic():
        made = SubjectRequest.objects.bulk_create(rows, batch_size=2_000)
        tasks = [
            SubjectTask(
                request_id=request.pk,
                dataset_id=dataset_id,
                dataset_slug=slugs[dataset_id],
                owner_id=world.owner_id,
                due_on=request.deadline,
                status=rng.choice(TaskStatus.values),
            )
            for request, datasets in zip(made, task_specs, strict=True)
            for dataset_id in datasets
        ]
        SubjectTask.objects.bulk_create(tasks, batch_size=5_000)
    details["subject_tasks"] = len(tasks)


def analyze() -> None:
    """Fresh planner statistics after the bulk loads, as autovacuum would give a while later."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- Measuring ----------------------------------------------------------------------------


def _summary(samples_s: list[float]) -> dict:
    ordered = sorted(samples_s)
    return {
        "n": len(ordered),
        "p50_ms": common.percentile(ordered, 50) * 1000,
        "p95_ms": common.percentile(ordered, 95) * 1000,
        "p99_ms": common.percentile(ordered, 99) * 1000,
    }


def _timed(client, method: str, url: str, **kwargs) -> tuple[float, object]:
    began = time.perf_counter()
    answer = client.request(method, url, **kwargs)
    took = time.perf_counter() - began
    if answer.status_code != 200:
        raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text[:500]}")
    return took, answer


def interleaved(client, requests: Sequence[tuple[str, str, dict]]) -> tuple[dict, dict, list]:
    """Each (method, url, kwargs) in turn, each followed by the floor endpoint; both timed.

    The answers' JSON comes back too (for the callers' sanity checks)."""
    measured, floor, bodies = [], [], []
    for method, url, kwargs in requests:
        took, answer = _timed(client, method, url, **kwargs)
        measured.append(took)
        bodies.append(answer.json())
        floor.append(_timed(client, "GET", FLOOR)[0])
    return _summary(measured), _summary(floor), bodies


def _client(base_url: str, token: str):
    import httpx

    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=120)


def _body(query) -> dict:
    dataset, action, region, purpose, scopes = query
    body = {"dataset": dataset, "action": action, "region": region, "purpose": purpose}
    return {**body, "scopes": sorted(scopes)} if scopes else body


def _check(query):
    from governance.checks.services import Check

    dataset, action, region, purpose, scopes = query
    return Check(dataset, action, region, purpose, scopes=scopes)


def engine_per_check_s(index, queries: Sequence) -> tuple[dict, float]:
    """The bare engine on these checks: per-call latencies, and checks/s in a plain loop."""
    from django.utils import timezone

    from governance.policy.engine import evaluate

    now = timezone.now()
    for query in queries:  # warm: the index's memo, first touches
        evaluate(index, *query[:4], now, query[4])
    samples = []
    for query in queries:
        began = time.perf_counter()
        evaluate(index, *query[:4], now, query[4])
        samples.append(time.perf_counter() - began)
    began = time.perf_counter()
    for query in queries:
        evaluate(index, *query[:4], now, query[4])
    return _summary(samples), len(queries) / (time.perf_counter() - began)


def measure_single(servers: common.Servers, people: People, index, queries: Sequence) -> dict:
    """Single checks over HTTP (with the floor), through the service, through the engine."""
    from governance.checks.services import locality_check

    result: dict = {}
    with _client(servers.urls[0], people.engineer_token) as client:
        for query in queries[:20]:  # warm: connections, the first requests' imports
            _timed(client, "POST", CHECK, json=_body(query))
            _timed(client, "GET", FLOOR)
        load("single_start")
        requests = [("POST", CHECK, {"json": _body(q)}) for q in queries[:SINGLE]]
        result["http"], result["floor"], bodies = interleaved(client, requests)
    assert all("outcome" in body for body in bodies), bodies[:3]
    samples = []
    for query in queries[:SINGLE]:
        began = time.perf_counter()
        locality_check(actor=people.engineer, checks=[_check(query)])
        samples.append(time.perf_counter() - began)
    result["service"] = _summary(samples)
    result["engine"], _ = engine_per_check_s(index, queries[:SINGLE])
    result["load"] = load("single_end")
    log(
        f"single check: HTTP p50 {result['http']['p50_ms']:.1f} ms p95 "
        f"{result['http']['p95_ms']:.1f} ms; floor p50 {result['floor']['p50_ms']:.1f} ms; "
        f"service p50 {result['service']['p50_ms']:.1f} ms; load {result['load']}"
    )
    return result


def _post_batches(base_url: str, token: str, batches: Sequence[dict], out: list) -> None:
    with _client(base_url, token) as client:
        for batch in batches:
            took, answer = _timed(client, "POST", CHECK, json=batch)
            out.append((took, answer.json()["count"]))


def measure_batches(servers: common.Servers, people: People, index, queries: Sequence) -> dict:
    """Batches of 1,000: one client on one process, the service in-process, then two clients
    on two processes at once."""
    from governance.checks.services import locality_check

    chunks = [queries[i * BATCH : (i + 1) * BATCH] for i in range(BATCHES)]
    bodies = [{"checks": [_body(q) for q in chunk]} for chunk in chunks]
    result: dict = {}
    for url in servers.urls:  # warm every process: its index, a large body
        _post_batches(url, people.engineer_token, bodies[:1], [])
    load("batch_start")
    answered: list = []
    began = time.perf_counter()
    _post_batches(servers.urls[0], people.engineer_token, bodies, answered)
    wall = time.perf_counter() - began
    result["http"] = {
        **_summary([took for took, _ in answered]),
        "per_s": sum(n for _, n in answered) / wall,
    }
    samples = []
    for chunk in chunks:
        checks = [_check(q) for q in chunk]
        started = time.perf_counter()
        locality_check(actor=people.engineer, checks=checks)
        samples.append(time.perf_counter() - started)
    result["service"] = {**_summary(samples), "per_s": BATCH * len(chunks) / sum(samples)}
    _, result["engine_per_s"] = engine_per_check_s(index, [q for c in chunks for q in c])

    answered = []
    threads = [
        threading.Thread(
            target=_post_batches,
            args=(url, people.engineer_token, bodies[n :: len(servers.urls)], answered),
        )
        for n, url in enumerate(servers.urls)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    result["http_parallel"] = {
        **_summary([took for took, _ in answered]),
        "per_s": sum(n for _, n in answered) / wall,
        "processes": len(servers.urls),
    }
    result["load"] = load("batch_end")
    log(
        f"batches of {BATCH:,}: HTTP {result['http']['per_s']:,.0f} checks/s "
        f"(p50 {result['http']['p50_ms']:.0f} ms); service in-process "
        f"{result['service']['per_s']:,.0f}/s; engine {result['engine_per_s']:,.0f}/s; "
        f"{len(servers.urls)} processes {result['http_parallel']['per_s']:,.0f}/s; "
        f"load {result['load']}"
    )
    return result


def _pages(path: str, count: int, spread: int, rng: random.Random, extra: str = "") -> list:
    """GETs of the first page (half of them) and of pages spread over the first `spread`."""
    pages = [1 if n % 2 == 0 else rng.randint(2, max(2, spread)) for n in range(count)]
    return [("GET", f"{path}?page={page}{extra}", {}) for page in pages]


def measure_list(
    servers: common.Servers,
    token: str,
    name: str,
    requests: Sequence,
    check: Callable[[dict], None],
) -> dict:
    """One list's requests, each followed by the floor, on the first web process."""
    with _client(servers.urls[0], token) as client:
        for method, url, kwargs in requests[:5]:  # warm
            _timed(client, method, url, **kwargs)
        load(f"{name}_start")
        measured, floor, bodies = interleaved(client, requests)
    for body in bodies[:3]:
        check(body)
    result = {
        "list": measured,
        "floor": floor,
        "count": bodies[0]["count"],
        "page_rows": len(bodies[0]["results"]),
        "load": load(f"{name}_end"),
    }
    log(
        f"{name}: p50 {measured['p50_ms']:.1f} ms p95 {measured['p95_ms']:.1f} ms over "
        f"{result['count']:,} rows; floor p95 {floor['p95_ms']:.1f} ms; load {result['load']}"
    )
    return result


def _full_page(body: dict) -> None:
    assert body["results"], body


def measure_lists(servers: common.Servers, people: People, rng: random.Random) -> dict:
    pages = max(1, DATASETS // 50)
    seen = details.get("exceptions_seen_by_officer", EXCEPTIONS)
    return {
        "datasets": measure_list(
            servers,
            people.engineer_token,
            "datasets",
            _pages("/api/v1/datasets/", LIST_ROUNDS, min(pages, 200), rng, "&page_size=50"),
            _full_page,
        ),
        "exceptions": measure_list(
            servers,
            people.officer_token,
            "transfer exceptions",
            _pages("/api/v1/transfer-exceptions/", LIST_ROUNDS, max(1, seen // 50), rng),
            _full_page,
        ),
        "exceptions_status": measure_list(
            servers,
            people.officer_token,
            "transfer exceptions, under review",
            [("GET", "/api/v1/transfer-exceptions/?status=under_review", {})] * LIST_ROUNDS,
            _full_page,
        ),
        "subject_requests": measure_list(
            servers,
            people.officer_token,
            "subject requests",
            _pages("/api/v1/subject-requests/", LIST_ROUNDS, max(1, SUBJECT_REQUESTS // 100), rng),
            _full_page,
        ),
        "subject_requests_status": measure_list(
            servers,
            people.officer_token,
            "subject requests, in progress",
            [("GET", "/api/v1/subject-requests/?status=in_progress", {})] * LIST_ROUNDS,
            _full_page,
        ),
    }


# --- The run ------------------------------------------------------------------------------


def measure() -> list[dict]:
    url = common.served_database_url(DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    env = common.server_env("api", url, redis_url)
    if not common._postgres_reachable(url):
        log(f"PostgreSQL at {url} does not answer: the API benchmark needs it; skipped")
        details["skipped"] = "no PostgreSQL"
        return []
    began = time.perf_counter()
    common.setup_served_django(env, collectstatic="servers" in PARTS)
    import redis

    from bench import policy as policy_bench
    from governance.policy.index import current_index

    redis.Redis.from_url(redis_url).flushdb()
    rng = random.Random(SEED)
    load("start")
    log(f"database {urlsplit(url).path.lstrip('/')}, redis {redis_url}; load {load()}")
    people = People()
    world = create_catalog(rng)
    create_exceptions(world, people, rng)
    create_subject_requests(world, people, rng)
    analyze()
    seeded = time.perf_counter() - began
    log(
        f"seeded {DATASETS:,} datasets, {EXCEPTIONS:,} exceptions, {SUBJECT_REQUESTS:,} "
        f"subject requests in {seeded:.0f} s; load {load('seeded')}"
    )
    index = current_index()
    slugs = [f"bench-{i:06d}" for i in range(DATASETS)]
    queries = policy_bench.make_queries(index, slugs, SINGLE + BATCHES * BATCH, rng)
    rows: list[dict] = []
    if PARTS & {"single", "batches", "lists"}:
        with common.Servers(env, WEB_PROCESSES, "api") as servers:
            if "single" in PARTS:
                details["single"] = measure_single(servers, people, index, queries[:SINGLE])
                rows += single_figures(details["single"])
            if "batches" in PARTS:
                details["batches"] = measure_batches(servers, people, index, queries[SINGLE:])
                rows += batch_figures(details["batches"])
            if "lists" in PARTS:
                details["lists"] = measure_lists(servers, people, rng)
                rows += list_figures(details["lists"])
    if "servers" in PARTS:
        load("servers_start")
        details["servers"] = serving.measure(env, server_workloads(people, queries), log)
        details["servers"]["load"] = load("servers_end")
        rows += serving.figures(BENCHMARK, details["servers"])
    if "freshness" in PARTS:
        details["freshness"] = freshness.measure(
            env, people.engineer_token, [_body(q) for q in queries[:SINGLE]]
        )
        log(f"index freshness: {details['freshness']}; load {load('freshness')}")
        rows += freshness.figures(details["freshness"])
    if "layouts" in PARTS:
        rows += measure_layouts(env, people, queries)
    if "roundtrips" in PARTS:
        details["roundtrips"] = roundtrips.measure(people.engineer_token, _body(queries[0]))
        log(f"round trips: {_trips(details['roundtrips'])}; load {load('roundtrips')}")
        rows += roundtrips.figures(details["roundtrips"])
    details.update(
        {
            "sizes": {
                "datasets": DATASETS,
                "exceptions": EXCEPTIONS,
                "subject_requests": SUBJECT_REQUESTS,
                "single": SINGLE,
                "batches": BATCHES,
                "batch": BATCH,
                "list_rounds": LIST_ROUNDS,
                "web_processes": WEB_PROCESSES,
                "parts": sorted(PARTS),
            },
            "seed_seconds": round(seeded, 1),
            "load_end": load("end"),
        }
    )
    return rows


def measure_layouts(env: dict[str, str], people: People, queries: Sequence) -> list[dict]:
    """The floor and one check on the layout before and on today's, one pinned process each."""
    cpu = serving.server_cpu()
    clients = set(os.sched_getaffinity(0)) - {cpu} if cpu is not None else None
    workloads = server_workloads(people, queries)
    del workloads[f"GET {serving.PAGE} (page, session)"]
    load("layouts_start")
    found = serving.measure(env, workloads, log, serving.layouts(env, cpu), clients)
    details["layouts"] = {**found, "server_cpu": cpu, "load": load("layouts_end")}
    return serving.layout_figures(BENCHMARK, details["layouts"])


def _trips(found: dict) -> str:
    return "; ".join(
        f"{name} {state} {found[name][state]['round_trips']} "
        f"({found[name][state]['pool_checks']} pool check)"
        for name in ("check", "floor")
        for state in ("cold", "warm")
    )


def server_workloads(people: People, queries: Sequence) -> dict:
    """The server comparison's workloads: the floor, one check, a page (bench/serving.py)."""
    token = {"Authorization": f"Token {people.engineer_token}", "Accept": "application/json"}
    session = {"Cookie": serving.session_cookie(people.engineer)}
    bodies = [_body(q) for q in queries[:SINGLE]]
    return {
        f"GET {FLOOR}": (token, lambda n: [("GET", FLOOR, {})] * n),
        f"POST {CHECK}, one check": (
            token,
            lambda n: [("POST", CHECK, {"json": bodies[i % len(bodies)]}) for i in range(n)],
        ),
        f"GET {serving.PAGE} (page, session)": (session, lambda n: [("GET", serving.PAGE, {})] * n),
    }


def _row(metric, value, unit, **kwargs):
    return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)


def single_figures(single: dict) -> list[dict]:
    row = _row
    floor = f"floor GET {FLOOR}"
    http, rows = single["http"], []
    for q in ("p50", "p95", "p99"):
        rows.append(
            row(
                f"POST {CHECK}, one check, {q}",
                http[f"{q}_ms"],
                "ms",
                peer=f"{floor} {q}",
                peer_value=single["floor"][f"{q}_ms"],
                note=f"load {single['load']}" if q == "p95" else "",
            )
        )
    return [
        *rows,
        row(
            "one check p50, service in-process (no HTTP)",
            single["service"]["p50_ms"],
            "ms",
            peer="engine in-process p50 (no database)",
            peer_value=single["engine"]["p50_ms"],
        ),
    ]


def batch_figures(batches: dict) -> list[dict]:
    row = _row
    return [
        row(
            f"POST {CHECK}, batch of {BATCH:,}, checks/s, 1 process",
            batches["http"]["per_s"],
            "1/s",
            peer="service in-process checks/s (same batches)",
            peer_value=batches["service"]["per_s"],
            better="higher",
            note=f"load {batches['load']}",
        ),
        row(
            f"POST {CHECK}, batch of {BATCH:,}, checks/s, 1 process",
            batches["http"]["per_s"],
            "1/s",
            peer="engine in-process checks/s (same checks)",
            peer_value=batches["engine_per_s"],
            better="higher",
        ),
        row(
            f"POST {CHECK}, batch of {BATCH:,}, request p50",
            batches["http"]["p50_ms"],
            "ms",
            peer="service in-process p50",
            peer_value=batches["service"]["p50_ms"],
        ),
        row(
            f"POST {CHECK}, batch of {BATCH:,}, checks/s, "
            f"{batches['http_parallel']['processes']} processes, 2 clients",
            batches["http_parallel"]["per_s"],
            "1/s",
            peer="1 process, 1 client",
            peer_value=batches["http"]["per_s"],
            better="higher",
        ),
    ]


def list_figures(lists: dict) -> list[dict]:
    row, rows = _row, []
    floor = f"floor GET {FLOOR}"
    labels = (
        ("datasets", f"GET /api/v1/datasets/ (50 a page, {DATASETS:,} rows), engineer"),
        ("exceptions", "GET /api/v1/transfer-exceptions/, privacy officer"),
        ("exceptions_status", "GET /api/v1/transfer-exceptions/?status=, privacy officer"),
        ("subject_requests", "GET /api/v1/subject-requests/, privacy officer"),
        ("subject_requests_status", "GET /api/v1/subject-requests/?status=, privacy officer"),
    )
    for key, label in labels:
        found = lists[key]
        for q in ("p50", "p95"):
            if q == "p50" and key.endswith("_status"):
                continue
            rows.append(
                row(
                    f"{label}, {q}",
                    found["list"][f"{q}_ms"],
                    "ms",
                    peer=f"{floor} {q}",
                    peer_value=found["floor"][f"{q}_ms"],
                    note=f"{found['count']:,} visible; load {found['load']}" if q == "p95" else "",
                )
            )
    return rows


def run() -> list[dict]:
    """The API figures; in a child process when Django already serves another database."""
    return common.run_apart("api", measure, details)


if __name__ == "__main__":
    common.main(measure, details)
