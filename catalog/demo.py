"""A realistic demo catalog: datasets across many regions and laws, with lineage."""

import random
from dataclasses import dataclass

from django.db import transaction

from catalog import services
from catalog.models import (
    Dataset,
    LawfulBasis,
    LineageEdge,
    PersonalDataCategory,
    Region,
    Sensitivity,
)

DEMO_SEED = 20261129


@dataclass(frozen=True)
class Theme:
    """A kind of dataset the demo company keeps, repeated in several places."""

    slug: str
    name: str
    sensitivity: str
    categories: tuple[str, ...]
    lawful_basis: str
    retention_days: int
    tags: tuple[str, ...]


THEMES = [
    Theme(
        "customer-profiles",
        "Customer profiles",
        Sensitivity.CONFIDENTIAL,
        ("contact", "identifiers"),
        LawfulBasis.CONTRACT,
        1095,
        ("crm", "pii"),
    ),
    Theme(
        "clickstream",
        "Clickstream events",
        Sensitivity.INTERNAL,
        ("online-identifiers", "behavioural"),
        LawfulBasis.LEGITIMATE_INTERESTS,
        395,
        ("events", "analytics"),
    ),
    Theme(
        "payments",
        "Payment transactions",
        Sensitivity.RESTRICTED,
        ("financial", "identifiers"),
        LawfulBasis.CONTRACT,
        2555,
        ("finance", "pci"),
    ),
    Theme(
        "support-tickets",
        "Support tickets",
        Sensitivity.CONFIDENTIAL,
        ("contact",),
        LawfulBasis.CONTRACT,
        730,
        ("support",),
    ),
    Theme(
        "health-claims",
        "Health insurance claims",
        Sensitivity.RESTRICTED,
        ("health", "identifiers"),
        LawfulBasis.LEGAL_OBLIGATION,
        3650,
        ("health",),
    ),
    Theme(
        "voice-samples",
        "Voice assistant samples",
        Sensitivity.RESTRICTED,
        ("biometric",),
        LawfulBasis.CONSENT,
        180,
        ("audio", "ml-training"),
    ),
    Theme(
        "geo-pings",
        "Mobile location pings",
        Sensitivity.CONFIDENTIAL,
        ("location", "online-identifiers"),
        LawfulBasis.CONSENT,
        90,
        ("mobile", "ml-training"),
    ),
    Theme(
        "product-catalog",
        "Product catalog",
        Sensitivity.PUBLIC,
        (),
        LawfulBasis.NOT_PERSONAL,
        3650,
        ("reference",),
    ),
    Theme(
        "hr-records",
        "Employee records",
        Sensitivity.RESTRICTED,
        ("employment", "contact", "government-id"),
        LawfulBasis.LEGAL_OBLIGATION,
        2190,
        ("hr",),
    ),
    Theme(
        "search-queries",
        "Search queries",
        Sensitivity.INTERNAL,
        ("online-identifiers", "behavioural"),
        LawfulBasis.LEGITIMATE_INTERESTS,
        540,
        ("search", "ml-training"),
    ),
]
DERIVED = [
    (
        "features",
        "Feature store",
        Sensitivity.CONFIDENTIAL,
        "feature engineering (dbt)",
        ("features", "ml-training"),
    ),
    (
        "training-set",
        "Training set",
        Sensitivity.CONFIDENTIAL,
        "sampling and labelling (Spark)",
        ("ml-training",),
    ),
    (
        "aggregates",
        "Aggregated metrics",
        Sensitivity.INTERNAL,
        "daily aggregation, k-anonymity 20",
        ("analytics",),
    ),
]


# The datasets the demo's workflows are about (transfer exceptions, subject requests, glossary):
# made first, whatever the size asked for, so every story has its datasets. (theme, region,
# index of the owner among those given: the first data owner keeps the EU's and the UK's.)
STORY_DATASETS = [
    ("clickstream", "aws:eu-central-1", 0),
    ("customer-profiles", "aws:eu-west-1", 0),
    ("payments", "gcp:europe-west3", 0),
    ("support-tickets", "azure:uksouth", 0),
    ("geo-pings", "aws:sa-east-1", 1),
    ("search-queries", "aws:ap-south-1", 1),
    ("customer-profiles", "aws:us-west-1", 1),
    ("voice-samples", "alibaba:cn-shanghai", 1),
]


def _themed_regions(regions: list[Region], rng: random.Random) -> list[Region]:
    """Every region gets at least one dataset, then the rest at random, so the map is full."""
    picks = list(regions)
    rng.shuffle(picks)
    return picks


def _create(
    owner,
    *,
    slug,
    name,
    region,
    theme_sensitivity,
    categories,
    basis,
    retention,
    tags,
    subjects,
    allowed,
    description,
):
    return services.dataset_create(
        actor=owner,
        owner=owner,
        slug=slug,
        name=name,
        description=description,
        uri=f"s3://{region.code.replace(':', '-')}/{slug}",
        storage_region=region,
        sensitivity=theme_sensitivity,
        lawful_basis=basis,
        retention_days=retention,
        personal_data_categories=categories,
        subject_jurisdictions=subjects,
        allowed_processing_regions=allowed,
        tags=list(tags),
    )


@transaction.atomic
def seed_catalog(*, owners: list, target: int = 200) -> dict[str, int]:
    """Create the demo datasets and lineage once; running again changes nothing."""
    rng = random.Random(DEMO_SEED)
    regions = list(Region.objects.select_related("jurisdiction", "country").order_by("code"))
    categories = {c.code: c for c in PersonalDataCategory.objects.all()}
    created = 0
    base_slots = _themed_regions(regions, rng)
    by_code = {region.code: region for region in regions}
    themes = {theme.slug: theme for theme in THEMES}
    story = [
        (by_code[code], themes[theme], owners[index % len(owners)])
        for theme, code, index in STORY_DATASETS
        if code in by_code
    ]
    bases: list[tuple[Dataset, Theme]] = []
    index = 0
    while len(bases) * (1 + len(DERIVED)) < target or story:
        if story:
            region, theme, owner = story.pop(0)
        else:
            region = base_slots[index % len(base_slots)]
            theme = THEMES[index % len(THEMES)]
            index += 1
            owner = owners[index % len(owners)]
        slug = f"{theme.slug}-{region.code.replace(':', '-')}"
        if any(slug == base.slug for base, _theme in bases):
            continue  # a story dataset the shuffle picked again
        dataset = Dataset.objects.filter(slug=slug).first()
        if dataset is None:
            same_law = [
                r for r in regions if r.jurisdiction_id == region.jurisdiction_id and r != region
            ]
            dataset = _create(
                owner,
                slug=slug,
                name=f"{theme.name} ({region.name})",
                region=region,
                theme_sensitivity=theme.sensitivity,
                categories=[categories[c] for c in theme.categories if c in categories],
                basis=theme.lawful_basis,
                retention=theme.retention_days,
                tags=theme.tags,
                subjects=[region.jurisdiction] if theme.categories else [],
                allowed=[region, *rng.sample(same_law, min(2, len(same_law)))],
                description=f"{theme.name} collected and stored in {region.city or region.name}.",
            )
            created += 1
        bases.append((dataset, theme))
    edges = 0
    for dataset, _theme in bases:
        previous = dataset
        for suffix, label, sensitivity, transformation, tags in DERIVED:
            slug = f"{dataset.slug}-{suffix}"
            derived = Dataset.objects.filter(slug=slug).first()
            if derived is None:
                derived = _create(
                    dataset.owner,
                    slug=slug,
                    name=f"{dataset.name}: {label.lower()}",
                    region=dataset.storage_region,
                    theme_sensitivity=max(
                        sensitivity, dataset.sensitivity, key=Sensitivity.values.index
                    ),
                    categories=list(dataset.personal_data_categories.all()),
                    basis=dataset.lawful_basis,
                    retention=min(dataset.retention_days, 730),
                    tags=tags,
                    subjects=list(dataset.subject_jurisdictions.all()),
                    allowed=list(dataset.allowed_processing_regions.all()),
                    description=f"{label} derived from {dataset.name}.",
                )
                created += 1
            if not LineageEdge.objects.filter(upstream=previous, downstream=derived).exists():
                services.lineage_edge_create(
                    actor=dataset.owner,
                    upstream=previous,
                    downstream=derived,
                    transformation=transformation,
                )
                edges += 1
            previous = derived
    return {
        "datasets_created": created,
        "lineage_edges_created": edges,
        "datasets": Dataset.objects.count(),
    }
