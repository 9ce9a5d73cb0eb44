"""Policy-engine benchmark: Locus's `evaluate()` at catalog scale, over HTTP, and against two peers.

What it builds (sizes from the environment, defaults in brackets), in a fresh database:

* BENCH_DATASETS [100,000] datasets, bulk-inserted with their categories, subject jurisdictions and
  allowed processing regions: a random storage region, 60% personal data (one to three
  categories, weighted as catalogs hold them: contact details and identifiers often, special
  categories rarely; the storage jurisdiction's data subjects, and for 35% those of one or more
  of the other listed jurisdictions, any of the 31, the large markets more often), up to four
  allowed regions, mostly under the storage jurisdiction;
* BENCH_RULES [1,000] locality rules at distinct priorities (so none conflict), every `deny`
  above every `allow_only`: BENCH_DATASET_RULE_SHARE [70]% name one dataset (half deny lists,
  half "only in its storage and allowed regions and two more"); of the rest, half name a
  category, 35% a jurisdiction (30% of those "only in the jurisdiction's countries and some
  more", the others deny lists) and 15% a sensitivity (deny lists); 30% are limited to some
  actions. A deny list names one to four countries or regions (for broad rules, out of a pool
  of eight countries and eight regions, so that they keep out the same few places);
* BENCH_GRANTS [10,000] transfer grants, each for 1-3 datasets and 1-2 destination regions, 10%
  expired and 5% revoked at the benchmark's instant, under every mechanism a grant can name
  (mostly SCCs; BCRs, derogations, consent, an adequacy scope, PIPL's routes, "other").

Rules and grants name datasets of the first BENCH_DATASETS_SMALL [10,000] (the "hot" set). The
index is compiled with only the hot set in the catalog, and again after the other datasets are
added; both indexes then answer the *same* query stream over the hot set, in interleaved chunks,
so the two latencies differ only by the size of the index ("flat from 10k to 100k"). The large
index then answers a stream spread over all datasets: the headline figures.

A query is (dataset slug, action, region, purpose, declared scopes) at one fixed instant; its
region is the dataset's storage region (35%), one of its allowed regions (25%), one of its
grants' regions (15%) or any region; 10% declare one recipient scope that some adequacy decision
names (e.g. "dpf-certified"); its strings are its own, as a parsed request's are, never the index's
objects (which a lookup would match by identity). Latency is measured per call with `time.perf_counter_ns`, the clock's own
median cost (calibrated in the run) taken off each sample, after one untimed pass over the
stream (a freshly compiled index answers its first pass two to three times more slowly: it
fills its officer-rule memo, and its objects are touched for the first time); decisions/s
comes from a separate loop without per-call clocks. On a shared machine the wall-clock tail is
mostly other processes preempting this one, so each stream is also timed in thread CPU time
(`time.thread_time_ns`), and the run records a fixed pure-Python loop's speed before and after
(`python_speed_us` in the JSON) so that runs on different machines or moments can be compared.
The timed loops run pinned to one CPU (`os.sched_setaffinity`, where the OS allows it) with the
garbage collector left on, and the collections that ran during them are counted per generation
(`gc_collections_timed` in the JSON, and in the log): a check keeps nothing once its answer is
dropped, so the collector has nothing to do there.

The peers encode the same catalog, rules, grants and law, from the compiled Locus index. The
law is every jurisdiction's transfer law in the index's law book and adequacy rows, in force at
the instant (`law_rules`), for each law: a store-first or store-only duty (deny when the data is
stored, or the work runs, outside its home area), destinations its government bars for some
categories (deny) or allows only with safeguards, countries it recognises only for some
recipients (a mechanism is needed unless the check declares one of those scopes), and for a
`restricted` law every country outside its home area and the countries it recognises (a
mechanism is needed); `accountability` and `open_except_listed` laws allow. A rule that needs a
mechanism is lifted by a grant whose mechanism fits it as `LegalVerdict.lifted_by` says; a
denial by the law is lifted by none. A dataset's laws are its `legal_group` (the laws of its
data subjects and of its storage jurisdiction, with a US state's federal law), its storage
country and its categories.

* cedarpy (Cedar): one `Dataset` entity per dataset (storage region and country, sensitivity,
  allowed regions, jurisdictions, laws, categories, and the grants in force at the instant as
  "region|purpose" keys, under "any" and under each set of mechanisms a law rule accepts), each
  pre-serialized to JSON once; the policies are parsed once into a `PolicySet`: a `permit` for
  the storage region or, unless restricted, an allowed region; a `permit` for a grant; a
  `forbid` per law rule (with `unless { a fitting grant }` where a mechanism would lift it); and
  one `forbid` per locality rule (`deny`: inside its places; `allow_only`: outside them), with
  `unless { grant }`, since a grant overrides a house denial in Locus too. Cedar has no rule
  priorities (forbid always wins), so where a higher-priority `allow_only` rule lets a place in
  and a lower one would keep it out, Cedar denies while Locus allows: the printed agreement rate
  shows how often that happens.
* casbin: an ABAC model with one generic matcher over policy lines held in memory (a
  `StringAdapter`) and `priority(p.eft) || deny`, which takes the first matching line: the law's
  denials, its demands for a mechanism (deny unless a fitting grant), a grant line, then the
  locality rules in Locus's order (an `allow_only` rule is three lines: allow if inside and the
  built-in checks pass, deny if inside, deny if outside), then the built-in checks (restricted
  stays home, allowed regions), then allow. That reproduces Locus's answers exactly; casbin's
  matcher is interpreted per line.

Both peers' answers are compared with the engine's on BENCH_CEDAR_CHECKED [5,000] and
BENCH_CASBIN_CHECKED [1,000] checks (the timed ones, then as many more of the stream as of the
hot set's, where grants decide more often). Any disagreement but Cedar's missing priorities
fails the benchmark; those where several of the dataset's laws each need a mechanism are
counted apart (the peers ask each such law for a fitting grant among those honoured, as the
engine does since it checks the honoured grants together).

Both peers get the region's country, the declared scopes and the grant keys from the caller, as the request context,
and that preparation is inside their timed call. Through HTTP, a Daphne server (the production
ASGI entry point, DEBUG off) answers `POST /api/v1/locality/check` on the same database, one
check per request and then batches of BENCH_HTTP_BATCH [100]; each answer is also recorded as a
LocalityDecision row, as in production.

BENCH_PROFILE=1 prints a cProfile of `evaluate()` over the full-size query stream.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import gc
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import common

BENCHMARK = "policy"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SEED = 20260601

DATASETS = common.env_int("BENCH_DATASETS", 100_000)
SMALL = min(common.env_int("BENCH_DATASETS_SMALL", 10_000), DATASETS)
RULES = common.env_int("BENCH_RULES", 1_000)
DATASET_RULE_SHARE = common.env_int("BENCH_DATASET_RULE_SHARE", 70)  # percent of the rules
GRANTS = common.env_int("BENCH_GRANTS", 10_000)
QUERIES = common.env_int("BENCH_QUERIES", 200_000)
THROUGHPUT_QUERIES = 50_000  # also run untimed (decisions/s) and timed in CPU time
TIMING_CHUNK = 10_000
CEDAR_QUERIES = common.env_int("BENCH_CEDAR_QUERIES", 1_000)
CASBIN_QUERIES = common.env_int("BENCH_CASBIN_QUERIES", 300)
# Answers compared with the engine's (the timed ones, then more, untimed).
CEDAR_CHECKED = common.env_int("BENCH_CEDAR_CHECKED", 5_000)
CASBIN_CHECKED = common.env_int("BENCH_CASBIN_CHECKED", 1_000)
HTTP_SINGLE = common.env_int("BENCH_HTTP_SINGLE", 500)
HTTP_BATCHES = common.env_int("BENCH_HTTP_BATCHES", 100)
HTTP_BATCH = common.env_int("BENCH_HTTP_BATCH", 100)
P99_TARGET_US = 10.0
FLAT_TARGET = 0.8  # the 100k p99 within 25% of the 10k p99 (ratio 10k/100k at least 0.8)

ASGI_APP = "governance.asgi:application"
INSERT_CHUNK = 10_000
BATCH_SIZE = 2_000
SENSITIVITIES = (("public", 20), ("internal", 40), ("confidential", 30), ("restricted", 10))
# Another jurisdiction's data subjects: any of the listed jurisdictions, the large markets more
# often (a weight of 2 for the others).
EXTRA_SUBJECT_WEIGHTS = {"eu": 40, "uk": 15, "us-ca": 15, "us": 8, "cn": 6, "br": 6, "in": 6}
EXTRA_SUBJECT_WEIGHT = 2
# Personal data categories as catalogs hold them: contact details everywhere, special ones rare.
CATEGORY_WEIGHTS = {
    "contact": 30,
    "identifiers": 25,
    "online-identifiers": 15,
    "financial": 10,
    "behavioural": 10,
    "employment": 8,
    "demographic": 8,
    "location": 8,
    "health": 5,
    "government-id": 4,
    "biometric": 2,
    "childrens-data": 2,
}
CATEGORY_WEIGHT = 1  # genetic, criminal records and the other special categories
SCOPE_SHARE = 0.10  # checks that declare the recipient's scope (e.g. "dpf-certified")
GRANT_MECHANISMS_MIX = (
    ("scc", 40),
    ("bcr", 15),
    ("art49", 15),
    ("adequacy", 8),
    ("consent", 8),
    ("pipl_standard_contract", 5),
    ("pipl_security_assessment", 3),
    ("pipl_certification", 3),
    ("other", 3),
)

details: dict = {}


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- The catalog, rules and grants -----------------------------------------------------------


@dataclass(frozen=True)
class RegionRow:
    id: int
    code: str
    country: str
    jurisdiction: str


@dataclass
class World:
    """The reference data the migrations loaded, and the rows the benchmark made."""

    regions: list[RegionRow]
    countries: list[str]
    jurisdictions: list[str]
    categories: list[str]
    purposes: list[str]
    owner_id: int
    dataset_ids: list[int]
    dataset_regions: dict[int, int]  # dataset id -> storage region id
    dataset_allowed: dict[int, list[int]]  # dataset id -> allowed processing region ids
    regions_by_jurisdiction: dict[str, list[RegionRow]]
    risky_countries: list[str]  # where broad deny lists point
    risky_regions: list[RegionRow]


def load_world(rng: random.Random) -> World:
    from django.contrib.auth import get_user_model

    from catalog.models import Country, Jurisdiction, PersonalDataCategory, Region
    from governance.models import Purpose

    owner = get_user_model().objects.create_user("bench-owner", password=None)
    regions = [
        RegionRow(*row)
        for row in Region.objects.order_by("code").values_list(
            "id", "code", "country_id", "jurisdiction_id"
        )
    ]
    countries = sorted(Country.objects.values_list("code", flat=True))
    by_jurisdiction: dict[str, list[RegionRow]] = {}
    for region in regions:
        by_jurisdiction.setdefault(region.jurisdiction, []).append(region)
    return World(
        regions=regions,
        countries=countries,
        jurisdictions=sorted(Jurisdiction.objects.values_list("code", flat=True)),
        categories=sorted(PersonalDataCategory.objects.values_list("code", flat=True)),
        purposes=sorted(Purpose.objects.values_list("code", flat=True)),
        owner_id=owner.pk,
        dataset_ids=[],
        dataset_regions={},
        dataset_allowed={},
        regions_by_jurisdiction=by_jurisdiction,
        risky_countries=rng.sample(countries, 8),
        risky_regions=rng.sample(regions, 8),
    )


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def _allowed_regions(world: World, home: RegionRow, rng: random.Random) -> list[RegionRow]:
    """None to four processing regions, mostly under the storage region's own jurisdiction."""
    near = world.regions_by_jurisdiction[home.jurisdiction]
    chosen: dict[int, RegionRow] = {}
    for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
        region = rng.choice(near) if near and rng.random() < 0.7 else rng.choice(world.regions)
        if region.id != home.id:
            chosen[region.id] = region
    return list(chosen.values())


DATASET_COLUMNS = (
    "id",
    "name",
    "slug",
    "description",
    "uri",
    "owner",
    "storage_region",
    "jurisdiction",
    "sensitivity",
    "lawful_basis",
    "retention_days",
    "created_at",
    "updated_at",
)


def insert_rows(model, field_names: Sequence[str], rows: list[tuple]) -> None:
    """Insert plain tuples into a model's table: COPY on PostgreSQL, executemany elsewhere.

    Much cheaper per row than `bulk_create`, which builds a model instance and SQL per row;
    the tables have no triggers or signals the benchmark would skip.
    """
    from django.db import connection

    fields = [model._meta.get_field(name) for name in field_names]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _reset_sequence(model) -> None:
    """After inserting explicit ids, move the id sequence past them (PostgreSQL)."""
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


def _categories(world: World, rng: random.Random) -> list[str]:
    """One to three distinct personal data categories, weighted as catalogs hold them."""
    weights = [CATEGORY_WEIGHTS.get(code, CATEGORY_WEIGHT) for code in world.categories]
    chosen: set[str] = set()
    wanted = rng.randint(1, 3)
    while len(chosen) < wanted:
        chosen.add(rng.choices(world.categories, weights=weights)[0])
    return sorted(chosen)


def create_datasets(world: World, start: int, stop: int, rng: random.Random) -> None:
    """Insert datasets start..stop-1 and their three many-to-many tables, in chunks."""
    from django.db import connection, transaction
    from django.db.models import Max

    from catalog.models import Dataset, LawfulBasis

    through_categories = Dataset.personal_data_categories.through
    through_subjects = Dataset.subject_jurisdictions.through
    through_allowed = Dataset.allowed_processing_regions.through
    known_jurisdictions = set(world.jurisdictions)
    stamp = connection.ops.adapt_datetimefield_value(NOW)
    next_id = (Dataset.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    extra_subjects = [
        (code, EXTRA_SUBJECT_WEIGHTS.get(code, EXTRA_SUBJECT_WEIGHT))
        for code in world.jurisdictions
    ]
    for chunk in range(start, stop, INSERT_CHUNK):
        rows, cats, subs, alls = [], [], [], []
        for i in range(chunk, min(stop, chunk + INSERT_CHUNK)):
            dataset_id, next_id = next_id, next_id + 1
            region = rng.choice(world.regions)
            personal = rng.random() < 0.6
            categories = _categories(world, rng) if personal else []
            subjects = {region.jurisdiction} if personal else set()
            while personal and rng.random() < 0.35:  # 35% one more, 12% two more...
                subjects.add(_weighted(rng, extra_subjects))
            allowed = _allowed_regions(world, region, rng)
            basis = LawfulBasis.CONTRACT if personal else LawfulBasis.NOT_PERSONAL
            rows.append(
                (
                    dataset_id,
                    f"Bench dataset {i}",
                    f"bench-{i:06d}",
                    "",
                    f"s3://bench/ds/{i:06d}",
                    world.owner_id,
                    region.id,
                    region.jurisdiction,
                    _weighted(rng, SENSITIVITIES),
                    str(basis),
                    365,
                    stamp,
                    stamp,
                )
            )
            world.dataset_ids.append(dataset_id)
            world.dataset_regions[dataset_id] = region.id
            world.dataset_allowed[dataset_id] = [r.id for r in allowed]
            cats += [(dataset_id, c) for c in categories]
            subs += [(dataset_id, j) for j in sorted(subjects & known_jurisdictions)]
            alls += [(dataset_id, r.id) for r in allowed]
        with transaction.atomic():
            insert_rows(Dataset, DATASET_COLUMNS, rows)
            insert_rows(through_categories, ("dataset", "personaldatacategory"), cats)
            insert_rows(through_subjects, ("dataset", "jurisdiction"), subs)
            insert_rows(through_allowed, ("dataset", "region"), alls)
    _reset_sequence(Dataset)


def _deny_places(
    countries: Sequence[str], regions: Sequence[RegionRow], rng: random.Random
) -> tuple[list[str], list[RegionRow]]:
    """A short deny list: one to four countries or regions out of those given."""
    chosen_countries = rng.sample(countries, rng.randint(0, 2))
    chosen_regions = rng.sample(regions, rng.randint(0, 2))
    if not chosen_countries and not chosen_regions:
        chosen_countries = [rng.choice(countries)]
    return chosen_countries, chosen_regions


def _rule_spec(world: World, rng: random.Random, number: int, hot: list[int], kind: str) -> dict:
    """One rule's conditions, effect and places (not saved yet).

    Dataset rules are half deny lists (anywhere), half "only in its storage and allowed regions
    (and two more)"; a jurisdiction rule is a deny list or, for 30%, "only in the countries of
    its regions and a few more"; category and sensitivity rules are deny lists. The deny lists
    of broad rules draw on a pool of eight countries and eight regions.
    """
    spec: dict = {"name": f"bench rule {number} ({kind})", "effect": "deny"}
    if kind == "dataset":
        countries, regions = _deny_places(world.countries, world.regions, rng)
    else:  # broad deny lists keep out the same few places, as real ones do
        countries, regions = _deny_places(world.risky_countries, world.risky_regions, rng)
    if kind == "dataset":
        dataset_id = spec["dataset_id"] = hot[number]
        if rng.random() < 0.5:
            spec["effect"] = "allow_only"
            own = {world.dataset_regions[dataset_id], *world.dataset_allowed[dataset_id]}
            regions = [r for r in world.regions if r.id in own] + rng.sample(world.regions, 2)
            countries = []
    elif kind == "jurisdiction":
        weights = {"eu": 5, "uk": 2, "us": 2, "cn": 2}
        jurisdiction = _weighted(rng, [(j, weights.get(j, 1)) for j in world.jurisdictions])
        spec["jurisdiction_id"] = jurisdiction
        if rng.random() < 0.3:
            spec["effect"] = "allow_only"
            home = {r.country for r in world.regions if r.jurisdiction == jurisdiction}
            countries = sorted(home | set(rng.sample(world.countries, rng.randint(5, 15))))
            regions = []
    elif kind == "category":
        spec["category_id"] = rng.choice(world.categories)
    else:
        spec["sensitivity"] = _weighted(rng, SENSITIVITIES)
    spec["countries"] = sorted(set(countries))
    spec["regions"] = sorted({r.id for r in regions})
    actions = ("store", "process", "train", "transfer", "access")
    spec["actions"] = sorted(rng.sample(actions, rng.randint(1, 3))) if rng.random() < 0.3 else []
    return spec


def create_rules(world: World, hot: list[int], rng: random.Random) -> None:
    """Bulk-insert the locality rules at distinct priorities: every deny above every allow_only."""
    from governance.models import LocalityRule

    per_dataset = min(RULES * DATASET_RULE_SHARE // 100, len(hot))
    broad = RULES - per_dataset
    kinds = ["dataset"] * per_dataset
    kinds += ["category"] * (broad * 50 // 100) + ["jurisdiction"] * (broad * 35 // 100)
    kinds += ["sensitivity"] * (RULES - len(kinds))
    shuffled_hot = rng.sample(hot, len(hot))
    specs = [_rule_spec(world, rng, n, shuffled_hot, kind) for n, kind in enumerate(kinds)]
    rng.shuffle(specs)
    specs.sort(key=lambda s: s["effect"] != "deny")  # stable: denies first, shuffled within
    rows = [
        LocalityRule(
            name=spec["name"],
            dataset_id=spec.get("dataset_id"),
            category_id=spec.get("category_id"),
            jurisdiction_id=spec.get("jurisdiction_id"),
            sensitivity=spec.get("sensitivity", ""),
            actions=spec["actions"],
            effect=spec["effect"],
            priority=len(specs) - position,
            enabled=True,
            version=1,
        )
        for position, spec in enumerate(specs)
    ]
    created = LocalityRule.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    through_regions = LocalityRule.regions.through
    through_countries = LocalityRule.countries.through
    regions, countries = [], []
    for rule, spec in zip(created, specs, strict=True):
        regions += [through_regions(localityrule_id=rule.pk, region_id=r) for r in spec["regions"]]
        countries += [
            through_countries(localityrule_id=rule.pk, country_id=c) for c in spec["countries"]
        ]
    through_regions.objects.bulk_create(regions, batch_size=BATCH_SIZE)
    through_countries.objects.bulk_create(countries, batch_size=BATCH_SIZE)
    details["rules"] = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}


def create_grants(world: World, hot: list[int], rng: random.Random) -> None:
    """Bulk-insert transfer grants over hot datasets: some expired, some revoked at NOW."""
    from governance.models import TransferGrant

    rows, links = [], []
    for number in range(GRANTS):
        start = NOW - dt.timedelta(days=rng.randint(1, 400))
        expired = rng.random() < 0.10
        until = NOW - dt.timedelta(days=rng.randint(1, 30)) if expired else None
        until = until if until and until > start else NOW + dt.timedelta(days=rng.randint(1, 365))
        revoked = NOW - dt.timedelta(hours=1) if rng.random() < 0.05 else None
        rows.append(
            TransferGrant(
                purpose_id=rng.choice(world.purposes) if rng.random() < 0.5 else None,
                mechanism=_weighted(rng, GRANT_MECHANISMS_MIX),
                mechanism_detail="module 2" if number % 3 == 0 else "",
                valid_from=start,
                valid_until=until,
                approved_by_name="bench",
                reference=f"bench-exception-{number}",
                revoked_at=revoked,
            )
        )
        links.append(
            (rng.sample(hot, rng.randint(1, 3)), rng.sample(world.regions, rng.randint(1, 2)))
        )
    created = TransferGrant.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    through_datasets = TransferGrant.datasets.through
    through_regions = TransferGrant.destination_regions.through
    datasets, regions = [], []
    for grant, (dataset_ids, destinations) in zip(created, links, strict=True):
        datasets += [through_datasets(transfergrant_id=grant.pk, dataset_id=d) for d in dataset_ids]
        regions += [
            through_regions(transfergrant_id=grant.pk, region_id=r.id) for r in destinations
        ]
    through_datasets.objects.bulk_create(datasets, batch_size=BATCH_SIZE)
    through_regions.objects.bulk_create(regions, batch_size=BATCH_SIZE)


# --- The engine in process ---------------------------------------------------------------


# dataset slug, action, region, purpose, and the scopes the caller declares for the recipient
Query = tuple[str, str, str, str, frozenset[str]]


def compile_measured(label: str) -> tuple[object, float, int]:
    """Compile the index from the database: (index, seconds, resident memory it added)."""
    from governance.policy.index import compile_index

    gc.collect()
    before = common.rss_bytes()
    started = time.perf_counter()
    index = compile_index(version=f"bench-{label}")
    seconds = time.perf_counter() - started
    gc.collect()
    return index, seconds, max(0, common.rss_bytes() - before)


def make_queries(index, slugs: Sequence[str], count: int, rng: random.Random) -> list[Query]:
    """Random checks: home region, an allowed region, a grant's region, or anywhere."""
    from governance.models import Action

    regions = sorted(index.regions)
    # The actions on a dataset, as the recorded runs drew them (a model's deploy and infer are
    # the same evaluate() per training dataset): the same seed gives the same stream.
    actions = [a for a in Action.values if a not in (Action.DEPLOY, Action.INFER)]
    purposes = sorted(index.purposes)
    scope_codes = sorted(
        {
            decision.scope_code
            for decisions in index.adequacy.values()
            for decision in decisions
            if decision.scope_code and decision.in_force(NOW.date())
        }
    )
    allowed_cache: dict[int, tuple[str, ...]] = {}
    granted_cache: dict[int, tuple[str, ...]] = {}
    queries = []
    for _ in range(count):
        ds = index.datasets_by_slug[rng.choice(slugs)]
        roll = rng.random()
        region = None
        if roll < 0.35:
            region = ds.storage_region
        elif roll < 0.60:
            allowed = allowed_cache.get(ds.id)
            if allowed is None:
                allowed = allowed_cache[ds.id] = tuple(sorted(ds.allowed_regions))
            region = rng.choice(allowed) if allowed else None
        elif roll < 0.75:
            granted = granted_cache.get(ds.id)
            if granted is None:
                granted = granted_cache[ds.id] = tuple(
                    sorted({r for g in index.grants.get(ds.id, ()) for r in g.regions})
                )
            region = rng.choice(granted) if granted else None
        query = (ds.slug, rng.choice(actions), region or rng.choice(regions), rng.choice(purposes))
        declared = [rng.choice(scope_codes)] if rng.random() < SCOPE_SHARE else []
        queries.append((*map(_own_copy, query), frozenset(map(_own_copy, declared))))
    return queries


def _own_copy(text: str) -> str:
    """A new string equal to `text`, as a parsed request carries: not the index's own object,
    which a dictionary lookup would match by identity without comparing (and only in the
    index the query was drawn from)."""
    return text.encode().decode()


def _wall_samples(index, queries: Sequence[Query]) -> list[int]:
    from governance.policy.engine import evaluate

    clock, at = time.perf_counter_ns, NOW
    samples = [0] * len(queries)
    for position, (dataset, action, region, purpose, scopes) in enumerate(queries):
        started = clock()
        evaluate(index, dataset, action, region, purpose, at, scopes)
        samples[position] = clock() - started
    return samples


def _cpu_samples(index, queries: Sequence[Query]) -> list[int]:
    from governance.policy.engine import evaluate

    clock, at = time.thread_time_ns, NOW
    samples = [0] * len(queries)
    for position, (dataset, action, region, purpose, scopes) in enumerate(queries):
        started = clock()
        evaluate(index, dataset, action, region, purpose, at, scopes)
        samples[position] = clock() - started
    return samples


def _loop_ns(index, queries: Sequence[Query]) -> int:
    from governance.policy.engine import evaluate

    at = NOW
    started = time.perf_counter_ns()
    for dataset, action, region, purpose, scopes in queries:
        evaluate(index, dataset, action, region, purpose, at, scopes)
    return time.perf_counter_ns() - started


def _sweep(indexes: dict[str, object], queries: Sequence[Query], measure: Callable) -> dict:
    """`measure(index, chunk)` for each chunk of queries and each index, the order alternating.

    Interleaving chunks keeps a machine that speeds up or slows down during the run from
    favouring one index; each sweep goes over the stream once, so a chunk is never timed just
    after the same checks warmed the caches.
    """
    labels = list(indexes)
    results: dict[str, list] = {label: [] for label in labels}
    for number, first in enumerate(range(0, len(queries), TIMING_CHUNK)):
        part = queries[first : first + TIMING_CHUNK]
        for label in labels if number % 2 == 0 else labels[::-1]:
            results[label].append(measure(indexes[label], part))
    return results


class Collections:
    """Counts the garbage collections, per generation, that run while it is entered: the timed
    loops leave the collector on, and this says whether it ran in them."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.counts[info["generation"]] += 1

    def __enter__(self) -> Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


class OneCpu:
    """Pins this thread to one CPU while entered (the last one, where the OS allows it), so the
    timed loops are not moved between cores; the affinity is restored on exit."""

    def __enter__(self) -> OneCpu:
        self.before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        if self.before and len(self.before) > 1:
            os.sched_setaffinity(0, {max(self.before)})
        return self

    def __exit__(self, *exc) -> None:
        if self.before and len(self.before) > 1:
            os.sched_setaffinity(0, self.before)


def time_engines(indexes: dict[str, object], queries: Sequence[Query], overhead_ns: int) -> dict:
    """Each index's per-call latency (wall clock and thread CPU time, µs) and decisions/s."""
    cpu_overhead_ns = common.timer_overhead_ns(clock=time.thread_time_ns)
    for index in indexes.values():
        # A freshly compiled index answers its first pass more slowly (memo filling, first touch
        # of its objects); a serving process is past that, so one untimed pass comes first.
        _loop_ns(index, queries)
    with OneCpu(), Collections() as collections:
        wall = _sweep(indexes, queries, _wall_samples)
        subset = queries[:THROUGHPUT_QUERIES]
        loops = _sweep(indexes, subset, _loop_ns)
        cpu = _sweep(indexes, subset, _cpu_samples)
    details.setdefault("gc_collections_timed", {})["+".join(indexes)] = collections.counts
    return {
        label: {
            **common.summarize_ns([s for chunk in wall[label] for s in chunk], overhead_ns),
            "per_s": len(subset) / (sum(loops[label]) / 1e9),
            "cpu": common.summarize_ns([s for chunk in cpu[label] for s in chunk], cpu_overhead_ns),
        }
        for label in indexes
    }


def outcome_mix(index, queries: Sequence[Query]) -> dict[str, float]:
    """Share of each outcome, of the law's verdicts, and of decisions a built-in rule or the law
    made (gave the telling reason for), over the queries."""
    from governance.policy.engine import evaluate

    counts: dict[str, int] = {}
    builtin = law = 0
    for dataset, action, region, purpose, scopes in queries:
        decision = evaluate(index, dataset, action, region, purpose, NOW, scopes)
        counts[decision.outcome] = counts.get(decision.outcome, 0) + 1
        builtin += decision.rule.startswith("builtin:")
        law += decision.rule.startswith("law:")
        legal = f"legal_{decision.legal.outcome if decision.legal else 'none'}"
        counts[legal] = counts.get(legal, 0) + 1
    shares = {k: round(v / len(queries), 4) for k, v in sorted(counts.items())}
    shares["decided_by_builtin"] = round(builtin / len(queries), 4)
    shares["decided_by_law"] = round(law / len(queries), 4)
    return shares


def profile_engine(index, queries: Sequence[Query]) -> None:
    """Where `evaluate()` spends its time (BENCH_PROFILE=1)."""
    from governance.policy.engine import evaluate

    profiler = cProfile.Profile()
    profiler.enable()
    for dataset, action, region, purpose, scopes in queries:
        evaluate(index, dataset, action, region, purpose, NOW, scopes)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)


# --- The peers -------------------------------------------------------------------------------


def grant_keys(index, ds, fit_sets: dict[str, frozenset[str]], sep: str) -> dict[str, set[str]]:
    """The grant keys a peer sees for a dataset, honoured at NOW: "region|purpose" or "region|*",
    under "any" for every grant and under each `fits` id whose mechanisms include the grant's."""
    keys: dict[str, set[str]] = {"any": set(), **{fid: set() for fid in fit_sets}}
    for grant in index.grants.get(ds.id, ()):
        if grant.valid_from <= NOW < grant.valid_until and (
            grant.revoked_at is None or grant.revoked_at > NOW
        ):
            found = {f"{region}{sep}{grant.purpose or '*'}" for region in grant.regions}
            keys["any"].update(found)
            for fid, mechanisms in fit_sets.items():
                if grant.mechanism in mechanisms:
                    keys[fid].update(found)
    return keys


@dataclass(frozen=True)
class LawRule:
    """One rule of a jurisdiction's transfer law as the peers encode it, in force at NOW.

    `kind`: `stored_abroad` (deny: a store-first duty, and the data is stored outside `places`),
    `stays_home` (deny: a store-only duty, and the work is outside `places`), `barred` (deny:
    `places` are destinations its government bars for these categories), `needs_at` (a
    mechanism is needed in `places`: a destination restriction with safeguards), `scoped` (a
    mechanism is needed in `places` unless the check declares one of `scopes`), `needs_outside`
    (a restricted law: a mechanism is needed outside `places`, its home area and the countries
    it recognises). A rule with `fits` is lifted by a grant whose mechanism is in that set.
    """

    kind: str
    law: str
    places: frozenset[str]
    categories: frozenset[str] = frozenset()  # data of any of these (none: any personal data)
    scopes: frozenset[str] = frozenset()
    fits: str = ""


LAW_DENY_KINDS = frozenset({"stored_abroad", "stays_home", "barred"})


def law_rules(index) -> tuple[list[LawRule], dict[str, frozenset[str]]]:
    """Every jurisdiction's transfer law, from the index's law book and adequacy rows as of NOW:
    the rules, and per `fits` id the grant mechanisms that lift a rule carrying it."""
    from governance.models import TransferMechanism
    from governance.policy.law import (
        GRANT_MECHANISMS,
        LAW_DENY,
        RESTRICTED,
        SCOPE_QUESTION,
        STORE_FIRST,
        STORE_ONLY,
    )

    day = NOW.date()
    fit_ids: dict[frozenset[str], str] = {}

    def fits(codes: frozenset[str]) -> str:
        # As `LegalVerdict.lifted_by`: a grant mechanism the law module does not map lifts any.
        lifting = frozenset(
            m
            for m in TransferMechanism.values
            if GRANT_MECHANISMS.get(m) is None or GRANT_MECHANISMS[m] & codes
        )
        return fit_ids.setdefault(lifting, f"f{len(fit_ids)}")

    recognised: dict[str, dict[str, list]] = {}
    for (decider, country), decisions in index.adequacy.items():
        live = [d for d in decisions if d.in_force(day)]
        if live:
            recognised.setdefault(decider, {})[country] = live
    rules: list[LawRule] = []
    for code, law in sorted(index.law.laws.items()):
        home, mechanisms = law.home, frozenset(m.code for m in law.mechanisms)
        ours = recognised.get(code, {})
        for duty in index.law.duties.get(code, ()):
            if duty.duty in (STORE_FIRST, STORE_ONLY) and duty.binds(duty.categories, day):
                rules.append(LawRule("stored_abroad", code, home, duty.categories))
                if duty.duty == STORE_ONLY:
                    rules.append(LawRule("stays_home", code, home, duty.categories))
        restrictions = [
            r
            for r in index.law.restrictions.get(code, ())
            if r.effective_from is None or r.effective_from <= day
        ]
        _check_encodable(law, restrictions, ours)
        for r in restrictions:
            places = r.countries - home  # the law's own area is allowed before any restriction
            if r.effect == LAW_DENY:
                rules.append(LawRule("barred", code, places, r.categories))
            else:
                codes = frozenset(m.code for m in r.mechanisms)
                rules.append(LawRule("needs_at", code, places, r.categories, fits=fits(codes)))
        scoped: dict[frozenset[str], set[str]] = {}
        for country, live in ours.items():
            if country not in home and not any(d.scope == "full" for d in live):
                answers = frozenset(d.scope_code for d in live if d.scope_code)
                scoped.setdefault(answers, set()).add(country)
        for answers, places in sorted(scoped.items(), key=lambda item: sorted(item[1])):
            fid = fits(mechanisms | {SCOPE_QUESTION})
            rules.append(LawRule("scoped", code, frozenset(places), scopes=answers, fits=fid))
        if law.model == RESTRICTED:
            rules.append(LawRule("needs_outside", code, home | set(ours), fits=fits(mechanisms)))
    return rules, {fid: lifting for lifting, fid in fit_ids.items()}


def _check_encodable(law, restrictions: list, recognised: dict) -> None:
    """The peers' rules are independent (any forbid wins) where the engine takes a law's first
    matching step; they agree on the law book as it is, and this says so if that changes."""
    from governance.policy.law import LAW_DENY, RESTRICTED

    if not restrictions:
        return
    effects = [r.effect for r in restrictions]
    barred = set().union(*(r.countries for r in restrictions))
    if (
        law.model == RESTRICTED
        or barred & set(recognised)
        or effects != sorted(effects, key=lambda e: e != LAW_DENY)
        or sum(e != LAW_DENY for e in effects) > 1
    ):
        raise NotImplementedError(
            f"the peers' encoding of {law.jurisdiction}'s destination restrictions assumes an "
            "accountability law, no recognised barred country, and at most one restriction "
            "with safeguards after the prohibitions"
        )


def _cedar_set(values) -> str:
    return "[" + ", ".join(json.dumps(v) for v in sorted(values)) + "]"


def _cedar_covers(rule) -> str:
    parts = []
    if rule.regions:
        parts.append(f"{_cedar_set(rule.regions)}.contains(context.region)")
    if rule.countries:
        parts.append(f"{_cedar_set(rule.countries)}.contains(context.country)")
    return "(" + " || ".join(parts) + ")"


def _cedar_grant(fid: str) -> str:
    return f"resource.grants.{fid}.containsAny([context.grant_key, context.grant_any])"


CEDAR_GRANT = _cedar_grant("any")


def cedar_law_policy(rule: LawRule) -> str:
    """One rule of a jurisdiction's law as a Cedar `forbid`."""
    conditions = [f"resource.laws.contains({json.dumps(rule.law)})"]
    if rule.categories:
        conditions.append(f"resource.categories.containsAny({_cedar_set(rule.categories)})")
    places = _cedar_set(rule.places)
    conditions.append(
        {
            "stored_abroad": f"!{places}.contains(resource.stored_country)",
            "stays_home": f"!{places}.contains(context.country)",
            "barred": f"{places}.contains(context.country)",
            "needs_at": f"{places}.contains(context.country)",
            "scoped": f"{places}.contains(context.country)"
            f" && !context.scopes.containsAny({_cedar_set(rule.scopes)})",
            "needs_outside": f"!{places}.contains(context.country)",
        }[rule.kind]
    )
    unless = f" unless {{ {_cedar_grant(rule.fits)} }}" if rule.fits else ""
    return f"forbid(principal, action, resource) when {{ {' && '.join(conditions)} }}{unless};"


def cedar_policies(index, rules: Sequence[LawRule]) -> str:
    """The Locus rule set in Cedar (see the module docstring)."""
    policies = [
        "permit(principal, action, resource) when { context.region == resource.storage_region"
        ' || (resource.sensitivity != "restricted"'
        " && resource.allowed_regions.contains(context.region)) };",
        f"permit(principal, action, resource) when {{ {CEDAR_GRANT} }};",
    ]
    policies += [cedar_law_policy(rule) for rule in rules]
    for rule in index.rules:
        action = "action"
        if rule.actions:
            action = "action in [" + ", ".join(f'Action::"{a}"' for a in sorted(rule.actions)) + "]"
        resource = "resource"
        if rule.dataset_id is not None:
            resource = f'resource == Dataset::"{index.datasets[rule.dataset_id].slug}"'
        conditions = []
        if rule.jurisdiction:
            conditions.append(f"resource.jurisdictions.contains({json.dumps(rule.jurisdiction)})")
        if rule.sensitivity:
            conditions.append(f"resource.sensitivity == {json.dumps(rule.sensitivity)}")
        if rule.category:
            conditions.append(f"resource.categories.contains({json.dumps(rule.category)})")
        covers = _cedar_covers(rule)
        conditions.append(covers if rule.effect == "deny" else f"!{covers}")
        policies.append(
            f"forbid(principal, {action}, {resource}) when {{ {' && '.join(conditions)} }}"
            f" unless {{ {CEDAR_GRANT} }};"
        )
    return "\n".join(policies)


def cedar_entity_json(index, ds, fit_sets: dict[str, frozenset[str]]) -> str:
    """One dataset as a Cedar entity list, serialized once."""
    laws, stored_in, _ = ds.legal_group
    attrs = {
        "storage_region": ds.storage_region,
        "sensitivity": ds.sensitivity,
        "allowed_regions": sorted(ds.allowed_regions),
        "jurisdictions": sorted({ds.storage_jurisdiction, *ds.subject_jurisdictions}),
        "categories": sorted(ds.categories),
        "laws": list(laws),
        "stored_country": stored_in,
        "grants": {k: sorted(v) for k, v in grant_keys(index, ds, fit_sets, "|").items()},
    }
    return json.dumps([{"uid": {"type": "Dataset", "id": ds.slug}, "attrs": attrs, "parents": []}])


def run_cedar(
    index, queries: Sequence[Query], overhead_ns: int, checked: Sequence[Query] = ()
) -> dict:
    """cedarpy: per-decision latency (with request building), engine-internal time, answers."""
    import cedarpy

    started = time.perf_counter()
    rules, fit_sets = law_rules(index)
    policy_text = cedar_policies(index, rules)
    policy_set = cedarpy.PolicySet.from_str(policy_text)
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    entities = {ds.slug: cedar_entity_json(index, ds, fit_sets) for ds in index.datasets.values()}
    serialize_seconds = time.perf_counter() - started
    country = {code: r.country for code, r in index.regions.items()}

    def request(query: Query) -> dict:
        dataset, action, region, purpose, scopes = query
        return {
            "principal": 'Engineer::"bench"',
            "action": f'Action::"{action}"',
            "resource": f'Dataset::"{dataset}"',
            "context": {
                "region": region,
                "country": country[region],
                "grant_key": f"{region}|{purpose}",
                "grant_any": f"{region}|*",
                "scopes": sorted(scopes),
            },
        }

    clock = time.perf_counter_ns
    for query in queries[:20]:
        cedarpy.is_authorized(request(query), policy_set, entities[query[0]])
    samples, engine_us, answers = [], [], []
    for query in queries:
        started_ns = clock()
        result = cedarpy.is_authorized(request(query), policy_set, entities[query[0]])
        samples.append(clock() - started_ns)
        answers.append(result.allowed)
        engine_us.append(result.metrics.get("authz_duration_micros", 0) * 1000)
        if result.diagnostics.errors:
            raise RuntimeError(f"Cedar could not evaluate {query}: {result.diagnostics.errors}")
    summary = common.summarize_ns(samples, overhead_ns)
    summary["per_s"] = len(samples) / (sum(samples) / 1e9)
    summary["engine"] = common.summarize_ns(engine_us)
    for query in checked:  # more answers to compare, untimed
        answers.append(
            cedarpy.is_authorized(request(query), policy_set, entities[query[0]]).allowed
        )
    summary["answers"] = answers
    summary["policies"] = policy_text.count("\n") + 1
    summary["law_policies"] = len(rules)
    summary["parse_policies_s"] = parse_seconds
    summary["serialize_entities_s"] = serialize_seconds
    summary["batch_per_s"] = _cedar_batch_rate(
        cedarpy, [request(q) for q in queries], policy_set, queries, entities
    )
    return summary


def _cedar_batch_rate(cedarpy, requests, policy_set, queries, entities) -> float:
    """Decisions/s with `is_authorized_batch` over HTTP_BATCH requests that share one entity list."""
    started = time.perf_counter()
    done = 0
    for first in range(0, len(requests), HTTP_BATCH):
        chunk = requests[first : first + HTTP_BATCH]
        slugs = {q[0] for q in queries[first : first + HTTP_BATCH]}
        batch_entities = "[" + ",".join(entities[s][1:-1] for s in sorted(slugs)) + "]"
        done += len(cedarpy.is_authorized_batch(chunk, policy_set, batch_entities))
    return done / (time.perf_counter() - started)


CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = priority, kind, dataset, jurisdiction, law, sensitivity, category, actions, places, scopes, fits, eft

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = {matcher}
"""

_INSIDE = "(r.sub.region_key in p.places || r.sub.country_key in p.places)"
_BUILTINS_PASS = (
    "(r.sub.region == r.obj.storage_region"
    ' || (r.obj.sensitivity != "restricted" && r.sub.region in r.obj.allowed))'
)
_FITS = "(r.sub.grant_key + p.fits in r.obj.grants || r.sub.grant_any + p.fits in r.obj.grants)"
CASBIN_MATCHER = " && ".join(
    [
        '(p.dataset == "*" || p.dataset == r.obj.slug)',
        '(p.jurisdiction == "*" || p.jurisdiction in r.obj.jurisdictions)',
        '(p.law == "*" || p.law in r.obj.laws)',
        '(p.sensitivity == "*" || p.sensitivity == r.obj.sensitivity)',
        '(p.category == "*" || p.category in r.obj.categories)',
        '(p.actions == "*" || r.act in p.actions)',
        "("
        + " || ".join(
            [
                '(p.kind == "stored_abroad" && !(r.obj.stored_key in p.places))',
                '(p.kind == "stays_home" && !(r.sub.country_key in p.places))',
                '(p.kind == "barred" && r.sub.country_key in p.places)',
                f'(p.kind == "needs_at" && r.sub.country_key in p.places && !{_FITS})',
                '(p.kind == "scoped" && r.sub.country_key in p.places'
                f" && !(r.sub.scope_key in p.scopes) && !{_FITS})",
                f'(p.kind == "needs_outside" && !(r.sub.country_key in p.places) && !{_FITS})',
                '(p.kind == "grant" && (r.sub.grant_key in r.obj.grants || r.sub.grant_any in r.obj.grants))',
                f'(p.kind == "inside" && {_INSIDE})',
                f'(p.kind == "outside" && !{_INSIDE})',
                f'(p.kind == "inside_ok" && {_INSIDE} && {_BUILTINS_PASS})',
                '(p.kind == "restricted" && r.obj.sensitivity == "restricted" && r.sub.region != r.obj.storage_region)',
                '(p.kind == "elsewhere" && r.sub.region != r.obj.storage_region && !(r.sub.region in r.obj.allowed))',
                'p.kind == "default"',
            ]
        )
        + ")",
    ]
)


@dataclass(frozen=True, slots=True)
class CasbinDataset:
    slug: str
    storage_region: str
    sensitivity: str
    allowed: frozenset[str]
    jurisdictions: frozenset[str]
    categories: frozenset[str]
    laws: frozenset[str]
    stored_key: str
    grants: frozenset[str]


@dataclass(frozen=True, slots=True)
class CasbinRequest:
    region: str
    country: str
    region_key: str
    country_key: str
    grant_key: str
    grant_any: str
    scope_key: str


def _keys(values) -> str:
    return "|" + "|".join(sorted(values)) + "|"


def casbin_lines(index, rules: Sequence[LawRule]) -> list[str]:
    """Policy lines in first-match order: the law's denials (which no grant lifts), its demands
    for a mechanism, a grant, the locality rules by priority, the built-ins, allow."""
    lines: list[str] = []

    def add(kind: str, eft: str = "deny", **fields: str) -> None:
        values = [
            fields.get(name, "*")
            for name in (
                "dataset",
                "jurisdiction",
                "law",
                "sensitivity",
                "category",
                "actions",
                "places",
                "scopes",
                "fits",
            )
        ]
        lines.append(f"p, {len(lines)}, {kind}, {', '.join(values)}, {eft}")

    for rule in sorted(rules, key=lambda r: r.kind not in LAW_DENY_KINDS):
        for category in sorted(rule.categories) or ["*"]:  # a line per category: any of them
            add(
                rule.kind,
                law=rule.law,
                category=category,
                places=_keys(rule.places),
                scopes=_keys(rule.scopes),
                fits=f"@{rule.fits}" if rule.fits else "*",
            )
    add("grant", "allow")
    for rule in sorted(index.rules, key=lambda r: (-r.priority, r.id)):
        head = {
            "dataset": index.datasets[rule.dataset_id].slug if rule.dataset_id is not None else "*",
            "jurisdiction": rule.jurisdiction or "*",
            "sensitivity": rule.sensitivity or "*",
            "category": rule.category or "*",
            "actions": _keys(rule.actions) if rule.actions else "*",
            "places": _keys(rule.regions | rule.countries),
        }
        if rule.effect == "deny":
            add("inside", **head)
        else:
            add("inside_ok", "allow", **head)
            add("inside", **head)
            add("outside", **head)
    add("restricted")
    add("elsewhere")
    add("default", "allow")
    return lines


def casbin_dataset(index, ds, fit_sets: dict[str, frozenset[str]]) -> CasbinDataset:
    laws, stored_in, _ = ds.legal_group
    grants = grant_keys(index, ds, fit_sets, "@")
    return CasbinDataset(
        slug=ds.slug,
        storage_region=ds.storage_region,
        sensitivity=ds.sensitivity,
        allowed=ds.allowed_regions,
        jurisdictions=frozenset({ds.storage_jurisdiction, *ds.subject_jurisdictions}),
        categories=ds.categories,
        laws=frozenset(laws),
        stored_key=f"|{stored_in}|",
        grants=frozenset(
            grants["any"] | {f"{key}@{fid}" for fid in fit_sets for key in grants[fid]}
        ),
    )


def run_casbin(
    index, queries: Sequence[Query], overhead_ns: int, checked: Sequence[Query] = ()
) -> dict:
    """casbin: per-decision latency (with request building) and answers."""
    import casbin
    from casbin.persist.adapters.string_adapter import StringAdapter

    started = time.perf_counter()
    rules, fit_sets = law_rules(index)
    model = casbin.model.Model()
    model.load_model_from_text(CASBIN_MODEL.format(matcher=CASBIN_MATCHER))
    lines = casbin_lines(index, rules)
    enforcer = casbin.Enforcer(model, StringAdapter("\n".join(lines)))
    setup_seconds = time.perf_counter() - started
    objects = {ds.slug: casbin_dataset(index, ds, fit_sets) for ds in index.datasets.values()}
    country = {code: r.country for code, r in index.regions.items()}

    def enforce(query: Query) -> bool:
        dataset, action, region, purpose, scopes = query
        place = country[region]
        (scope,) = scopes or ("~",)  # the stream declares one scope at most
        subject = CasbinRequest(
            region,
            place,
            f"|{region}|",
            f"|{place}|",
            f"{region}@{purpose}",
            f"{region}@*",
            f"|{scope}|",
        )
        return enforcer.enforce(subject, objects[dataset], f"|{action}|")

    clock = time.perf_counter_ns
    for query in queries[:5]:
        enforce(query)
    samples, answers = [], []
    for query in queries:
        started_ns = clock()
        answers.append(enforce(query))
        samples.append(clock() - started_ns)
    summary = common.summarize_ns(samples, overhead_ns)
    summary["per_s"] = len(samples) / (sum(samples) / 1e9)
    answers += [enforce(query) for query in checked]  # more answers to compare, untimed
    summary["answers"] = answers
    summary["policy_lines"] = len(lines)
    summary["setup_s"] = setup_seconds
    return summary


def _allow_only_lets_in(index, query: Query) -> bool:
    """Does an `allow_only` rule that applies to this check list its place (Locus lets it speak)?"""
    dataset, action, region, _, _ = query
    ds, place = index.dataset(dataset), index.region(region)
    return any(
        rule.effect == "allow_only" and rule.matches(ds, action) and rule.covers(place)
        for key in (*ds.rule_group, ("dataset", ds.id))
        for rule in index.rules_by_key.get(key, ())
    )


def _laws_needing_mechanism(index, query: Query) -> list[str]:
    """The dataset's laws that each, alone, answer "needs a mechanism" for this check."""
    from governance.policy.law import LAW_NEEDS_MECHANISM, judge_law

    dataset, _, region, _, scopes = query
    ds, country = index.dataset(dataset), index.region(region).country
    laws, stored_in, categories = ds.legal_group
    return [
        law
        for law in laws
        if judge_law(
            index.law, index.adequacy, (law,), stored_in, categories, country, NOW.date(), scopes
        ).outcome
        == LAW_NEEDS_MECHANISM
    ]


def agreement(index, queries: Sequence[Query], answers: Sequence[bool], priorities: bool) -> dict:
    """How often a peer's allow/deny matches Locus's: overall, where a built-in house rule decided
    and where the law did.

    With `priorities` False (Cedar), a disagreement where Locus allowed while an `allow_only`
    rule lists the place is the priority difference the module docstring describes. Any other
    is a mismatch; those where several of the dataset's laws each need a mechanism are listed
    apart (where a grant must answer each law).
    """
    from governance.policy.engine import evaluate

    same = same_builtin = builtin = same_law = by_law = by_priority = 0
    several_laws, others = [], []
    for query, peer_allowed in zip(queries, answers, strict=True):
        dataset, action, region, purpose, scopes = query
        decision = evaluate(index, dataset, action, region, purpose, NOW, scopes)
        agree = decision.allowed == bool(peer_allowed)
        same += agree
        if decision.rule.startswith("builtin:"):
            builtin += 1
            same_builtin += agree
        elif decision.rule.startswith("law:"):
            by_law += 1
            same_law += agree
        if agree:
            continue
        if not priorities and decision.allowed and _allow_only_lets_in(index, query):
            by_priority += 1
            continue
        found = {
            "query": [dataset, action, region, purpose, sorted(scopes)],
            "locus": decision.outcome,
            "rule": decision.rule,
            "legal": decision.legal.outcome if decision.legal else "",
            "grant": decision.grant_id,
        }
        needing = _laws_needing_mechanism(index, query)
        if len(needing) > 1:
            several_laws.append({**found, "laws_needing_mechanism": needing})
        else:
            others.append(found)
    return {
        "all": 100 * same / len(queries),
        "builtin": 100 * same_builtin / builtin if builtin else float("nan"),
        "law": 100 * same_law / by_law if by_law else float("nan"),
        "n": len(queries),
        "n_builtin": builtin,
        "n_law": by_law,
        "disagree_allow_only_priority": by_priority,
        "n_several_laws": len(several_laws),
        "disagree_several_laws": several_laws[:20],
        "disagree_other": others,
    }


# --- Through HTTP ----------------------------------------------------------------------------


def api_token() -> str:
    """An engineer (the role pipelines use) and their DRF token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from governance.roles import Role

    engineer = get_user_model().objects.create_user("bench-engineer", password=None)
    engineer.groups.add(Group.objects.get(name=Role.ENGINEER))
    return Token.objects.create(user=engineer).key


class Server:
    """A Daphne process serving Locus on a loopback port, against the benchmark database."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.log = Path(tempfile.mkstemp(prefix="locus-bench-daphne-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> Server:
        import httpx

        port = common.free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APP],
                cwd=common.ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Daphne exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.__exit__(TimeoutError, None, None)
        raise RuntimeError(f"Daphne did not answer in 60 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, exc_type, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if exc_type is None:
            self.log.unlink(missing_ok=True)
        else:
            print(f"  Daphne's log is kept at {self.log}")


def _check_body(query: Query) -> dict:
    dataset, action, region, purpose, scopes = query
    body = {"dataset": dataset, "action": action, "region": region, "purpose": purpose}
    if scopes:
        body["scopes"] = sorted(scopes)
    return body


def _timed_posts(
    client, bodies: Sequence[dict], expect: Callable[[dict], int]
) -> tuple[list[int], int]:
    """POST each body; per-request latency (ns) and the number of decisions answered."""
    clock = time.perf_counter_ns
    samples, decisions = [], 0
    for body in bodies:
        started = clock()
        response = client.post("/api/v1/locality/check", json=body)
        samples.append(clock() - started)
        if response.status_code != 200:
            raise RuntimeError(f"check failed: {response.status_code} {response.text[:500]}")
        decisions += expect(response.json())
    return samples, decisions


def run_http(database_url: str, queries: Sequence[Query], overhead_ns: int) -> dict:
    """Single checks and batches through a real Daphne server."""
    import httpx

    token = api_token()
    singles = [_check_body(q) for q in queries[:HTTP_SINGLE]]
    rest = queries[HTTP_SINGLE:]
    batches = [
        {"checks": [_check_body(q) for q in rest[i * HTTP_BATCH : (i + 1) * HTTP_BATCH]]}
        for i in range(HTTP_BATCHES)
    ]
    with Server(database_url) as server:
        headers = {"Authorization": f"Token {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=300) as client:
            started = time.perf_counter()
            _timed_posts(client, singles[:1], lambda body: 1)  # the server compiles its index
            warmup_s = time.perf_counter() - started
            _timed_posts(client, singles[1:21] + [batches[0]] * 2, lambda body: 1)
            single, _ = _timed_posts(client, singles, lambda body: 1)
            batch, decided = _timed_posts(client, batches, lambda body: body["count"])
    result = {
        "single": common.summarize_ns(single, overhead_ns),
        "batch": common.summarize_ns(batch, overhead_ns),
        "first_request_s": warmup_s,
    }
    result["single"]["per_s"] = len(single) / (sum(single) / 1e9)
    result["batch"]["per_s"] = decided / (sum(batch) / 1e9)
    return result


# --- The run ---------------------------------------------------------------------------------


def build_small(world: World, rng: random.Random) -> list[int]:
    """The hot datasets, then every rule and grant (they name hot datasets only)."""
    started = time.perf_counter()
    create_datasets(world, 0, SMALL, rng)
    hot = list(world.dataset_ids)
    create_rules(world, hot, rng)
    create_grants(world, hot, rng)
    log(
        f"{SMALL:,} datasets, {RULES:,} rules, {GRANTS:,} grants in {time.perf_counter() - started:.1f} s"
    )
    return hot


def measure_engine(world: World, rng: random.Random, overhead_ns: int) -> tuple[object, dict]:
    """The engine over the hot set at both sizes (same queries, interleaved), then spread queries."""
    results: dict = {}
    small_index, results["compile_small_s"], results["rss_small"] = compile_measured("small")
    log(f"@{SMALL:,}: compiled in {results['compile_small_s']:.2f} s")
    started = time.perf_counter()
    create_datasets(world, SMALL, DATASETS, rng)
    log(f"{DATASETS - SMALL:,} more datasets in {time.perf_counter() - started:.1f} s")
    index, results["compile_full_s"], results["rss_full"] = compile_measured("full")
    log(f"@{DATASETS:,}: compiled in {results['compile_full_s']:.2f} s")

    hot_slugs = [f"bench-{i:06d}" for i in range(SMALL)]
    hot_queries = make_queries(small_index, hot_slugs, QUERIES, random.Random(SEED + 1))
    both = time_engines({"small": small_index, "same": index}, hot_queries, overhead_ns)
    results.update(both)
    del small_index, both
    gc.collect()
    log(f"@{SMALL:,}: {_brief(results['small'])}")
    log(f"@{DATASETS:,}, the same queries: {_brief(results['same'])}")

    all_slugs = [f"bench-{i:06d}" for i in range(DATASETS)]
    queries = make_queries(index, all_slugs, QUERIES, random.Random(SEED + 2))
    results["full"] = time_engines({"full": index}, queries, overhead_ns)["full"]
    log(f"@{DATASETS:,}, queries over all datasets: {_brief(results['full'])}")
    log(f"garbage collections (gen 0, 1, 2) in the timed loops: {details['gc_collections_timed']}")
    results["queries"] = queries
    results["hot_queries"] = hot_queries  # where the grants are: more checks a grant decides
    # Entries the engine memoised (a memo is cleared when it reaches MEMO_LIMIT).
    details["memo_entries"] = {"legal": len(index.legal_memo), "officer": len(index.officer_memo)}
    details["outcomes_hot"] = outcome_mix(index, hot_queries[:20_000])
    details["outcomes_full"] = outcome_mix(index, queries[:20_000])
    if os.environ.get("BENCH_PROFILE"):
        profile_engine(index, queries[:THROUGHPUT_QUERIES])
    return index, results


def _brief(summary: dict) -> str:
    return (
        f"p50 {summary['p50']:.1f} µs, p99 {summary['p99']:.1f} µs, "
        f"p99.9 {summary['p99.9']:.1f} µs, {summary['per_s']:,.0f} decisions/s"
    )


def run() -> list[dict]:
    """Build the catalog, measure the engine, its peers and the API; the figures of the report."""
    database_url = common.setup_django()
    speed_before = common.python_speed_us()
    log(
        f"database: {common.database_kind(database_url)}; {DATASETS:,} datasets; "
        f"python speed {speed_before:.1f} µs; load {os.getloadavg()[0]:.2f}"
    )
    rng = random.Random(SEED)
    world = load_world(rng)
    build_small(world, rng)
    overhead_ns = common.timer_overhead_ns()
    index, engine = measure_engine(world, rng, overhead_ns)
    queries, hot_queries = engine.pop("queries"), engine.pop("hot_queries")

    peers = {}
    for name, runner, count, checked in (
        ("cedarpy", run_cedar, CEDAR_QUERIES, CEDAR_CHECKED),
        ("casbin", run_casbin, CASBIN_QUERIES, CASBIN_CHECKED),
    ):
        # Untimed, half more of the stream, half over the hot set (where grants decide more).
        more = max(0, checked - count)
        extra = [*queries[count : count + more // 2], *hot_queries[: more - more // 2]]
        peer = runner(index, queries[:count], overhead_ns, extra)
        peer["agreement"] = agreement(
            index, [*queries[:count], *extra], peer.pop("answers"), priorities=name == "casbin"
        )
        peers[name] = peer
        agreed = peer["agreement"]
        log(
            f"{name}: p50 {peer['p50']:.0f} µs, p99 {peer['p99']:.0f} µs; agrees on "
            f"{agreed['all']:.1f}% (law {agreed['law']:.1f}% of {agreed['n_law']}; "
            f"{agreed['disagree_allow_only_priority']} differ by rule priority, "
            f"{agreed['n_several_laws']} where several laws need a mechanism, "
            f"{len(agreed['disagree_other'])} otherwise)"
        )
        for kind in ("disagree_several_laws", "disagree_other"):
            for mismatch in agreed[kind]:
                log(f"  {name} {kind}: {mismatch}")
    mismatches = {
        name: len(peer["agreement"]["disagree_other"]) + peer["agreement"]["n_several_laws"]
        for name, peer in peers.items()
    }
    assert not any(mismatches.values()), f"peers disagree with the engine: {mismatches}"

    http = run_http(database_url, queries, overhead_ns)
    log(
        f"HTTP: single p50 {http['single']['p50'] / 1000:.1f} ms, batch p50 {http['batch']['p50'] / 1000:.1f} ms"
    )
    details.update(
        {
            "sizes": {
                "datasets": DATASETS,
                "datasets_small": SMALL,
                "rules": RULES,
                "dataset_rule_share_percent": DATASET_RULE_SHARE,
                "grants": GRANTS,
                "queries": QUERIES,
                "cedar_queries": CEDAR_QUERIES,
                "casbin_queries": CASBIN_QUERIES,
                "cedar_checked": CEDAR_CHECKED,
                "casbin_checked": CASBIN_CHECKED,
                "http_single": HTTP_SINGLE,
                "http_batches": HTTP_BATCHES,
                "http_batch": HTTP_BATCH,
            },
            "database": common.database_kind(database_url),
            "timer_overhead_ns": overhead_ns,
            "python_speed_us": {"start": speed_before, "end": common.python_speed_us()},
            "engine": engine,
            "peers": peers,
            "http": http,
        }
    )
    return figures(engine, peers, http)


def figures(engine: dict, peers: dict, http: dict) -> list[dict]:
    """The report's rows for this benchmark."""
    b, full, small, same = BENCHMARK, engine["full"], engine["small"], engine["same"]
    cedar, casbin = peers["cedarpy"], peers["casbin"]
    big, little = f"@{DATASETS // 1000}k", f"@{SMALL // 1000}k"
    p99_target = f"<{P99_TARGET_US:.0f} µs"

    def row(metric, value, unit, **kwargs):
        return common.figure(b, metric, round(value, 2), unit, **kwargs)

    rows = [
        row(
            f"in-process p50 {big}", full["p50"], "µs", peer="cedarpy p50", peer_value=cedar["p50"]
        ),
        row(
            f"in-process p99 {big}",
            full["p99"],
            "µs",
            peer="cedarpy p99",
            peer_value=cedar["p99"],
            target=f"{p99_target}, faster",
            met=full["p99"] < P99_TARGET_US and full["p99"] < cedar["p99"],
        ),
        row(
            f"in-process p99 {big}",
            full["p99"],
            "µs",
            peer="cedarpy p99, engine only",
            peer_value=cedar["engine"]["p99"],
            note="Cedar's own authz_duration metric: no binding or JSON cost",
        ),
        row(
            f"in-process p50 {big}", full["p50"], "µs", peer="casbin p50", peer_value=casbin["p50"]
        ),
        row(
            f"in-process p99 {big}",
            full["p99"],
            "µs",
            peer="casbin p99",
            peer_value=casbin["p99"],
            target="faster",
            met=casbin["p99"] > full["p99"],
        ),
        row(f"in-process p99.9 {big}", full["p99.9"], "µs"),
        row(f"in-process p50 {big}, CPU time", engine["full"]["cpu"]["p50"], "µs"),
        row(
            f"in-process p99 {big}, CPU time",
            engine["full"]["cpu"]["p99"],
            "µs",
            target=p99_target,
            met=engine["full"]["cpu"]["p99"] < P99_TARGET_US,
            note="thread CPU time: preemption by other processes left out",
        ),
    ]
    for peer_name, key in (("cedarpy", "per_s"), ("cedarpy batch-of-100", "batch_per_s")):
        rows.append(
            row(
                f"in-process decisions/s {big}",
                full["per_s"],
                "1/s",
                peer=f"{peer_name} decisions/s",
                peer_value=cedar[key],
                better="higher",
            )
        )
    rows.append(
        row(
            f"in-process decisions/s {big}",
            full["per_s"],
            "1/s",
            peer="casbin decisions/s",
            peer_value=casbin["per_s"],
            better="higher",
        )
    )
    rows += [
        row(f"in-process p50 {little}", small["p50"], "µs"),
        row(
            f"in-process p99 {little}",
            small["p99"],
            "µs",
            target=p99_target,
            met=small["p99"] < P99_TARGET_US,
        ),
        row(f"in-process p99.9 {little}", small["p99.9"], "µs"),
        row(f"in-process decisions/s {little}", small["per_s"], "1/s"),
        row(
            f"in-process p50 {big}, {little} queries",
            same["p50"],
            "µs",
            peer=f"p50 {little}",
            peer_value=small["p50"],
        ),
        row(
            f"in-process p99 {big}, {little} queries",
            same["p99"],
            "µs",
            peer=f"p99 {little}",
            peer_value=small["p99"],
            target=f"flat (ratio ≥ {FLAT_TARGET})",
            met=small["p99"] / same["p99"] >= FLAT_TARGET,
        ),
        row(
            f"in-process p99 {big}, {little} queries, CPU time",
            engine["same"]["cpu"]["p99"],
            "µs",
            peer=f"p99 {little}, CPU time",
            peer_value=engine["small"]["cpu"]["p99"],
            target=f"flat (ratio ≥ {FLAT_TARGET})",
            met=engine["small"]["cpu"]["p99"] / engine["same"]["cpu"]["p99"] >= FLAT_TARGET,
        ),
        row(
            f"in-process decisions/s {big}, {little} queries",
            same["per_s"],
            "1/s",
            peer=f"decisions/s {little}",
            peer_value=small["per_s"],
            better="higher",
        ),
    ]
    rows += http_figures(http, full, row)
    rows += [
        row(f"compile index {little}", engine["compile_small_s"] * 1000, "ms"),
        row(
            f"compile index {big}",
            engine["compile_full_s"] * 1000,
            "ms",
            peer=f"{little} scaled linearly",
            peer_value=engine["compile_small_s"] * 1000 * DATASETS / SMALL,
        ),
        row(f"index memory {little}", engine["rss_small"] / 2**20, "MiB"),
        row(
            f"index memory {big}",
            engine["rss_full"] / 2**20,
            "MiB",
            peer=f"{little} scaled linearly",
            peer_value=engine["rss_small"] / 2**20 * DATASETS / SMALL,
        ),
    ]
    for name, peer in peers.items():
        agreed = peer["agreement"]
        rows.append(row(f"{name} agrees with Locus, all answers", agreed["all"], "%"))
        rows.append(row(f"{name} agrees with Locus, built-in answers", agreed["builtin"], "%"))
        rows.append(row(f"{name} agrees with Locus, legal answers", agreed["law"], "%"))
        rows.append(
            row(
                f"{name} differs where several laws need a mechanism",
                100 * agreed["n_several_laws"] / agreed["n"],
                "%",
                note="each such law must find one of its routes among the honoured grants",
            )
        )
    return rows


def http_figures(http: dict, full: dict, row) -> list[dict]:
    """Rows for the API (in ms): single checks against the engine, batches against single checks."""
    big = f"@{DATASETS // 1000}k"
    single, batch = http["single"], http["batch"]
    return [
        row(
            f"HTTP single check p50 {big}",
            single["p50"] / 1000,
            "ms",
            peer="in-process p50",
            peer_value=full["p50"] / 1000,
        ),
        row(
            f"HTTP single check p99 {big}",
            single["p99"] / 1000,
            "ms",
            peer="in-process p99",
            peer_value=full["p99"] / 1000,
        ),
        row(f"HTTP single check decisions/s {big}", single["per_s"], "1/s"),
        row(f"HTTP batch of {HTTP_BATCH} p50 {big}", batch["p50"] / 1000, "ms"),
        row(f"HTTP batch of {HTTP_BATCH} p99 {big}", batch["p99"] / 1000, "ms"),
        row(
            f"HTTP batch of {HTTP_BATCH} decisions/s {big}",
            batch["per_s"],
            "1/s",
            peer="HTTP single decisions/s",
            peer_value=single["per_s"],
            better="higher",
        ),
    ]
