"""Compiling the engine's `PolicyIndex` from the database, and one index per process.

`compile_index()` builds one; `current_index()` keeps one per process and rebuilds it when a
revision counter moves, so every web and worker process follows changes without a restart. On
PostgreSQL the change is notified (catalog.revision_notices), and a check reads nothing to know
its index is current; otherwise, or while notifications are down, one small query per call.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from catalog import revision_notices
from catalog.models import (
    AdequacyDecision,
    ConsentLaw,
    Dataset,
    LawfulBasis,
    Region,
)
from catalog.revisions import revisions
from governance.models import ConsentNotice, LocalityRule, Purpose, Term, TransferGrant
from governance.policy.facts import (
    AdequacyFacts,
    ConsentFacts,
    DatasetFacts,
    GrantFacts,
    PolicyIndex,
    RegionFacts,
    RuleFacts,
)
from governance.policy.law import LawBook
from governance.policy.law_index import compile_law_book, law_jurisdictions

# --- Compiling the index ------------------------------------------------------------------

GOVERNANCE = "governance"  # the revision counter every change the engine sees bumps


def _rule_group(storage_jurisdiction: str, subjects, sensitivity: str, categories) -> frozenset:
    """The rule keys a dataset can be matched under, besides its own id."""
    keys: set[tuple[str, object]] = {("any", None), ("sensitivity", sensitivity)}
    keys.add(("jurisdiction", storage_jurisdiction))
    keys.update(("jurisdiction", j) for j in subjects)
    keys.update(("category", c) for c in categories)
    return frozenset(keys)


def _rule_keys(rule: RuleFacts) -> list[tuple[str, object]]:
    """File each rule under its most selective condition; `matches()` checks the rest. A rule by
    glossary term is filed under each category of the term's definition (none: it matches
    nothing)."""
    if rule.dataset_id is not None:
        return [("dataset", rule.dataset_id)]
    if rule.category is not None:
        return [("category", rule.category)]
    if rule.term is not None:
        return [("category", code) for code in sorted(rule.term_categories)]
    if rule.jurisdiction is not None:
        return [("jurisdiction", rule.jurisdiction)]
    if rule.sensitivity:
        return [("sensitivity", rule.sensitivity)]
    return [("any", None)]


def compile_rules(rules: list[RuleFacts]) -> dict[tuple[str, object], tuple[RuleFacts, ...]]:
    grouped: dict[tuple[str, object], list[RuleFacts]] = defaultdict(list)
    for rule in rules:
        for key in _rule_keys(rule):
            grouped[key].append(rule)
    return {
        key: tuple(sorted(group, key=lambda r: (-r.priority, r.id)))
        for key, group in grouped.items()
    }


def rule_facts(
    rule: LocalityRule, regions: list[str] | None = None, countries: list[str] | None = None
) -> RuleFacts:
    """A rule as the engine sees it (regions/countries may be given for an unsaved proposal);
    a rule by glossary term gets the categories of the term's approved definition."""
    term = rule.term if rule.term_id is not None else None
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
        term=term.slug if term is not None else None,
        term_categories=_term_categories(term),
        term_note=term_note(term.name, term.version) if term is not None else "",
        unless_techniques=frozenset(rule.unless_techniques or ()),
    )


def _term_categories(term: Term | None) -> frozenset[str]:
    if term is None:
        return frozenset()
    return frozenset(category.pk for category in term.categories.all())


def term_note(name: str, version: int) -> str:
    """How an answer names the glossary term a rule matched by."""
    return f"glossary term {name!r} v{version}"


def load_rules() -> list[RuleFacts]:
    """The enabled rules as the engine sees them, terms resolved: a fixed number of queries."""
    rules = (
        LocalityRule.objects.filter(enabled=True)
        .select_related("term")
        .prefetch_related("regions", "countries", "term__categories")
    )
    return [rule_facts(rule) for rule in rules]


def _notice_coverage() -> dict[int, tuple[frozenset[str], str]]:
    """dataset id -> (the purposes its consent notices cover, the notices named): of each
    notice, its latest version only."""
    latest: dict[str, tuple[int, str]] = {}
    for notice_id, code, version in ConsentNotice.objects.order_by(
        "code", "-published_at", "-id"
    ).values_list("id", "code", "version"):
        latest.setdefault(code, (notice_id, f"{code} v{version}"))
    names = dict(latest.values())
    purposes: dict[int, set[str]] = defaultdict(set)
    for notice_id, code in ConsentNotice.purposes.through.objects.filter(
        consentnotice_id__in=names
    ).values_list("consentnotice_id", "purpose_id"):
        purposes[notice_id].add(code)
    covered: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for notice_id, ds_id in ConsentNotice.datasets.through.objects.filter(
        consentnotice_id__in=names
    ).values_list("consentnotice_id", "dataset_id"):
        covered[ds_id][0].update(purposes[notice_id])
        covered[ds_id][1].add(names[notice_id])
    return {ds_id: (frozenset(p), ", ".join(sorted(n))) for ds_id, (p, n) in covered.items()}


def _consent_facts(
    laws: tuple[str, ...],
    storage_jurisdiction: str,
    coverage: tuple[frozenset[str], str],
    consent_laws: dict[str, tuple[str, bool]],
    book: LawBook,
) -> ConsentFacts:
    """A consent-based dataset's consent, judged by the first of its laws that encodes consent
    as a lawful basis."""
    regime = next((code for code in laws if code in consent_laws), "")
    citation, verified = consent_laws.get(regime, ("", False))
    return ConsentFacts(
        purposes=coverage[0],
        notices=coverage[1],
        law=book.name(regime) if regime else "",
        regime=regime or storage_jurisdiction,
        citation=citation,
        verified=verified,
    )


def _load_datasets(book: LawBook, parents: dict[str, str]) -> list[DatasetFacts]:
    categories_of = Dataset.personal_data_categories.through
    categories: dict[int, set[str]] = defaultdict(set)
    for ds_id, code in categories_of.objects.values_list(
        "dataset_id", "personaldatacategory_id"
    ).iterator(chunk_size=20000):
        categories[ds_id].add(code)
    subjects: dict[int, set[str]] = defaultdict(set)
    subjects_of = Dataset.subject_jurisdictions.through
    for ds_id, code in subjects_of.objects.values_list("dataset_id", "jurisdiction_id").iterator(
        chunk_size=20000
    ):
        subjects[ds_id].add(code)
    allowed: dict[int, set[str]] = defaultdict(set)
    regions_of = Dataset.allowed_processing_regions.through
    for ds_id, code in regions_of.objects.values_list("dataset_id", "region__code").iterator(
        chunk_size=20000
    ):
        allowed[ds_id].add(code)
    rows = Dataset.objects.values_list(
        "id",
        "slug",
        "uri",
        "storage_region__code",
        "storage_region__country_id",
        "jurisdiction_id",
        "sensitivity",
        "lawful_basis",
    )
    coverage = _notice_coverage()
    consent_laws = {
        code: (citation, verified)
        for code, citation, verified in ConsentLaw.objects.values_list(
            "jurisdiction_id", "citation", "verified"
        )
    }
    facts = []
    groups: dict[frozenset, frozenset] = {}  # one shared object per distinct group
    legal_groups: dict[tuple, tuple] = {}
    legal_keys: dict[tuple, int] = {}  # (laws, country, categories the laws tell apart) -> key
    telling: dict[tuple[str, ...], frozenset[str]] = {}
    for (
        ds_id,
        slug,
        uri,
        region,
        stored_in,
        storage_jurisdiction,
        sensitivity,
        basis,
    ) in rows.iterator(chunk_size=20000):
        personal = basis != LawfulBasis.NOT_PERSONAL or bool(categories.get(ds_id))
        subj = frozenset(subjects.get(ds_id, ()))
        cats = frozenset(categories.get(ds_id, ()))
        laws = law_jurisdictions(subj | {storage_jurisdiction}, parents) if personal else ()
        legal = (laws, stored_in, cats)
        if laws not in telling:
            telling[laws] = book.telling_categories(laws)
        seen_alike = (laws, stored_in, cats & telling[laws])
        legal_key = legal_keys.setdefault(seen_alike, len(legal_keys) + 1)
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
                rule_group=groups.setdefault(group, group),
                legal_group=legal_groups.setdefault(legal, legal),
                legal_key=legal_key,
                consent=_consent_facts(
                    laws, storage_jurisdiction, coverage[ds_id], consent_laws, book
                )
                if basis == LawfulBasis.CONSENT and ds_id in coverage
                else None,
            )
        )
    return facts


def _grant_note(grant: Mapping[str, object]) -> str:
    detail = f" ({grant['mechanism_detail']})" if grant["mechanism_detail"] else ""
    return (
        f"allowed by transfer grant #{grant['id']}: {grant['mechanism']}{detail}, "
        f"valid until {grant['valid_until']:%Y-%m-%d %H:%M} UTC"
    )


def _load_grants() -> dict[int, tuple[GrantFacts, ...]]:
    regions: dict[int, set[str]] = defaultdict(set)
    destinations_of = TransferGrant.destination_regions.through
    for grant_id, code in destinations_of.objects.values_list("transfergrant_id", "region__code"):
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
    datasets_of = TransferGrant.datasets.through
    for grant_id, ds_id in datasets_of.objects.values_list("transfergrant_id", "dataset_id"):
        by_dataset[ds_id].append(grants[grant_id])
    return {ds_id: tuple(sorted(g, key=lambda x: x.id)) for ds_id, g in by_dataset.items()}


def compile_index(version: str = "", rules: list[RuleFacts] | None = None) -> PolicyIndex:
    """Build the engine's snapshot from the database (optionally with a proposed rule set)."""
    book, parents = compile_law_book()
    datasets = _load_datasets(book, parents)
    by_uri: dict[str, DatasetFacts] = {}
    for ds in datasets:
        if ds.uri:
            by_uri.setdefault(ds.uri, ds)
    adequacy: dict[tuple[str, str], list[AdequacyFacts]] = defaultdict(list)
    for a in AdequacyDecision.objects.all():
        adequacy[(a.decided_by_id, a.country_id)].append(
            AdequacyFacts(
                a.pk,
                a.country_id,
                a.scope,
                a.instrument,
                a.effective_from,
                a.effective_until,
                a.scope_code,
                a.scope_description,
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
        law=book,
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
        law=index.law,
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
        law=index.law,
        adequacy=adequacy,
        rules_by_key=index.rules_by_key,
        grants=index.grants,
        rules=index.rules,
    )


# --- One index per process ------------------------------------------------------------------


@dataclass
class _Cached:
    index: PolicyIndex
    key: str  # the counters' values and stamps it was compiled at
    generation: int | None = None  # the notification generation it is known current for


_lock = threading.Lock()
_cached: _Cached | None = None


def policy_version() -> tuple[str, str]:
    """(version, cache key): "c12.g4" counts catalog and governance changes; the key adds stamps
    that never repeat, so an index built inside a rolled-back transaction is never reused."""
    counters = revisions()
    catalog, catalog_stamp = counters.get("catalog", (0, ""))
    governance, governance_stamp = counters.get(GOVERNANCE, (0, ""))
    return f"c{catalog}.g{governance}", f"{catalog_stamp}.{governance_stamp}"


def current_index(*, verify: bool = False) -> PolicyIndex:
    """This process's index, rebuilt if any policy input changed since it was compiled. While
    no change has been notified since it was last known current, no query at all (unless asked
    to `verify`); otherwise the counters are read (one query) and the index rebuilt only if
    they moved."""
    global _cached
    generation = revision_notices.generation()  # before the read: a later change moves it
    cached = _cached
    if (
        not verify
        and cached is not None
        and generation is not None
        and cached.generation == generation
    ):
        return cached.index
    version, stamps = policy_version()
    key = f"{version}/{stamps}"
    with _lock:
        if _cached is None or _cached.key != key:
            _cached = _Cached(compile_index(version), key)
        if generation is not None:
            _cached.generation = generation
        return _cached.index


def forget_index() -> None:
    """Drop this process's index (tests whose data change without a revision bump use it)."""
    global _cached
    with _lock:
        _cached = None
