"""Writes to the catalog: each verb is one transaction, checks permission, and records history."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeGuard

from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, ProtectedError, QuerySet, RestrictedError

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.models import (
    Dataset,
    DatasetChange,
    DatasetUserObjectPermission,
    Jurisdiction,
    LineageEdge,
    Region,
    Tag,
)
from catalog.revisions import CATALOG, revision_bump
from catalog.signals import dataset_changed, lineage_edge_changed
from catalog.techniques import Declared, Technique, declaration_json

LINEAGE_LOCK_KEY = 0x4C696E65  # "Line": one advisory-lock key for the lineage graph

# These would be hidden behind the catalog's own pages (/catalog/new/, /catalog/map/).
RESERVED_SLUGS = frozenset({"new", "map"})

OWNER_PERMISSIONS = ("catalog.change_dataset", "catalog.delete_dataset")

SCALAR_FIELDS = (
    "name",
    "slug",
    "description",
    "uri",
    "owner",
    "steward",
    "storage_region",
    "jurisdiction",
    "sensitivity",
    "lawful_basis",
    "retention_days",
)
MANY_FIELDS = (
    "personal_data_categories",
    "subject_jurisdictions",
    "allowed_processing_regions",
    "tags",
)


def can_change_dataset(user: Actor, dataset: Dataset) -> TypeGuard[User]:
    """A user may edit a dataset with the model-wide permission, or as its owner (object permission)."""
    return may(user, "catalog.change_dataset") or may(user, "catalog.change_dataset", dataset)


def can_delete_dataset(user: Actor, dataset: Dataset) -> TypeGuard[User]:
    return may(user, "catalog.delete_dataset") or may(user, "catalog.delete_dataset", dataset)


def dataset_snapshot(dataset: Dataset) -> dict[str, Any]:
    """The catalog entry as plain, comparable values (codes and usernames, lists sorted)."""
    return {
        "name": dataset.name,
        "slug": dataset.slug,
        "description": dataset.description,
        "uri": dataset.uri,
        "owner": dataset.owner.get_username(),
        "steward": dataset.steward.get_username() if dataset.steward else None,
        "storage_region": dataset.storage_region.code,
        "jurisdiction": dataset.jurisdiction_id,
        "sensitivity": dataset.sensitivity,
        "lawful_basis": dataset.lawful_basis,
        "retention_days": dataset.retention_days,
        "personal_data_categories": sorted(c.code for c in dataset.personal_data_categories.all()),
        "subject_jurisdictions": sorted(j.code for j in dataset.subject_jurisdictions.all()),
        "allowed_processing_regions": sorted(
            r.code for r in dataset.allowed_processing_regions.all()
        ),
        "tags": sorted(t.name for t in dataset.tags.all()),
    }


def _check_owner_assignment(actor: User, owner: User | None, *, previous: User | None) -> None:
    """A dataset's owner may hand it over; otherwise only privacy officers name someone else."""
    if owner is None:
        raise ValidationError({"owner": "A dataset needs an owner"})
    if actor.pk in (owner.pk, getattr(previous, "pk", None)):
        return
    if not may(actor, "catalog.change_dataset"):
        raise PermissionDenied("Only a privacy officer may make someone else a dataset's owner")


def _validate_jurisdiction_covers_region(jurisdiction: Jurisdiction, region: Region) -> None:
    if not jurisdiction.countries.filter(code=region.country_id).exists():
        raise ValidationError(
            {
                "jurisdiction": (
                    f"{jurisdiction.code} does not cover {region.country_id}, the country of storage "
                    f"region {region.code} (which is under {region.jurisdiction_id})"
                )
            }
        )


def _validate_retention(retention_days: int | str | None) -> None:
    if retention_days is None or int(retention_days) < 1:
        raise ValidationError(
            {"retention_days": "The retention period must be a positive number of days"}
        )


def _tags_from_names(names: Iterable[str | Tag]) -> list[Tag]:
    """Tags by name, created on first use."""
    unique = {str(name) for name in names}
    return [Tag.objects.get_or_create(name=name)[0] for name in sorted(unique)]


def _set_many(dataset: Dataset, many: dict[str, Any], *, fresh: bool = False) -> None:
    """Set the dataset's many-valued fields; a fresh dataset has none to compare with."""
    for field, values in many.items():
        if field == "tags":
            values = _tags_from_names(values)
        related = getattr(dataset, field)
        if fresh:
            related.add(*values)
        else:
            related.set(values)


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The fields whose values differ between two snapshots (every field of a creation or a
    deletion), sorted: a change record's `changed_fields`."""
    return sorted(
        k for k in (after or before or {}) if (before or {}).get(k) != (after or {}).get(k)
    )


def _record_change(
    *,
    actor: User,
    dataset: Dataset,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> DatasetChange:
    last = DatasetChange.objects.filter(dataset_slug=dataset.slug).aggregate(v=Max("version"))["v"]
    changed = changed_fields(before, after)
    change = DatasetChange.objects.create(
        dataset=dataset if action != DatasetChange.Action.DELETED else None,
        dataset_slug=dataset.slug,
        version=(last or 0) + 1,
        action=action,
        actor=actor,
        actor_name=actor.get_full_name() or actor.get_username(),
        before=before,
        after=after,
        changed_fields=changed,
    )
    dataset_changed.send(sender=DatasetChange, actor=actor, change=change)
    return change


def _owner_permissions() -> QuerySet[Permission]:
    codenames = [perm.split(".", 1)[1] for perm in OWNER_PERMISSIONS]
    return Permission.objects.filter(
        content_type__app_label="catalog", content_type__model="dataset", codename__in=codenames
    )


def _grant_owner(dataset: Dataset, owner: User) -> None:
    """guardian's assign_perm, in two queries instead of four per permission (a read, a
    savepoint, an insert, a release): every dataset created or handed over comes here."""
    DatasetUserObjectPermission.objects.bulk_create(
        [
            DatasetUserObjectPermission(permission=permission, user=owner, content_object=dataset)
            for permission in _owner_permissions()
        ],
        ignore_conflicts=True,
    )


def _revoke_owner(dataset: Dataset, owner: User) -> None:
    DatasetUserObjectPermission.objects.filter(
        user=owner, content_object=dataset, permission__in=_owner_permissions()
    ).delete()


_FOREIGN_KEYS = ["owner", "steward", "storage_region", "jurisdiction"]


def _split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    unknown = set(fields) - set(SCALAR_FIELDS) - set(MANY_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a dataset field" for name in sorted(unknown)})
    scalars = {k: v for k, v in fields.items() if k in SCALAR_FIELDS}
    many = {k: v for k, v in fields.items() if k in MANY_FIELDS}
    return scalars, many


@transaction.atomic
def dataset_create(*, actor: Actor, **fields: Any) -> Dataset:
    """Register a dataset; its owner (the actor unless named) may then edit it."""
    if not may(actor, "catalog.add_dataset"):
        raise PermissionDenied("Your role may not register datasets")
    scalars, many = _split(fields)
    scalars.setdefault("owner", actor)
    _check_owner_assignment(actor, scalars["owner"], previous=None)
    if scalars.get("slug") in RESERVED_SLUGS:
        raise ValidationError(
            {"slug": f"{scalars['slug']!r} is reserved for a catalog page; choose another slug"}
        )
    region = scalars["storage_region"]
    scalars.setdefault("jurisdiction", None)
    if scalars["jurisdiction"] is None:
        scalars["jurisdiction"] = region.jurisdiction
    _validate_jurisdiction_covers_region(scalars["jurisdiction"], region)
    _validate_retention(scalars.get("retention_days"))
    if Dataset.objects.filter(slug=scalars["slug"]).exists():
        raise ValidationError({"slug": f"A dataset with slug {scalars['slug']!r} already exists"})
    dataset = Dataset(**scalars)
    # The foreign keys came as rows just read (by the form, serializer or caller): checking
    # that each exists would read each again.
    dataset.full_clean(exclude=_FOREIGN_KEYS, validate_unique=False)
    dataset.save()
    _set_many(dataset, many, fresh=True)
    _grant_owner(dataset, dataset.owner)
    revision_bump(CATALOG)
    _record_change(
        actor=actor,
        dataset=dataset,
        action=DatasetChange.Action.CREATED,
        before=None,
        after=dataset_snapshot(dataset),
    )
    return dataset


@transaction.atomic
def dataset_update(*, actor: Actor, dataset: Dataset, **fields: Any) -> Dataset:
    """Change a dataset's catalog entry; records before and after as a new version."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if not can_change_dataset(actor, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may change it")
    scalars, many = _split(fields)
    if "slug" in scalars and scalars["slug"] != dataset.slug:
        raise ValidationError({"slug": "The slug is the dataset's stable name and cannot change"})
    before = dataset_snapshot(dataset)
    previous_owner = dataset.owner
    if "owner" in scalars:
        _check_owner_assignment(actor, scalars["owner"], previous=previous_owner)
    for name, value in scalars.items():
        setattr(dataset, name, value)
    if "storage_region" in scalars and "jurisdiction" not in scalars:
        dataset.jurisdiction = dataset.storage_region.jurisdiction
    _validate_jurisdiction_covers_region(dataset.jurisdiction, dataset.storage_region)
    _validate_retention(dataset.retention_days)
    dataset.full_clean(validate_unique=False)
    dataset.save()
    _set_many(dataset, many)
    if dataset.owner_id != previous_owner.pk:
        _revoke_owner(dataset, previous_owner)
        _grant_owner(dataset, dataset.owner)
    after = dataset_snapshot(dataset)
    if after != before:
        revision_bump(CATALOG)
        _record_change(
            actor=actor,
            dataset=dataset,
            action=DatasetChange.Action.UPDATED,
            before=before,
            after=after,
        )
    return dataset


@transaction.atomic
def dataset_delete(*, actor: Actor, dataset: Dataset) -> None:
    """Remove a dataset from the catalog; its history stays, keyed by slug."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if not can_delete_dataset(actor, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may delete it")
    _record_change(
        actor=actor,
        dataset=dataset,
        action=DatasetChange.Action.DELETED,
        before=dataset_snapshot(dataset),
        after=None,
    )
    try:
        dataset.delete()
    except (ProtectedError, RestrictedError) as exc:
        holders = sorted({type(obj)._meta.verbose_name for obj in exc.args[1]})
        raise StateConflict(
            {
                "dataset": f"{dataset.slug} is still referred to by: {', '.join(holders)}; "
                "those records must go first (its history is kept either way)"
            }
        ) from None
    revision_bump(CATALOG)


def _reaches(start: Dataset, target: Dataset) -> list[int] | None:
    """The dataset ids on a downstream path from start to target, or None (one query per level)."""
    parents: dict[int, int | None] = {start.pk: None}
    frontier = [start.pk]
    while frontier:
        edges = LineageEdge.objects.filter(upstream_id__in=frontier).values_list(
            "upstream_id", "downstream_id"
        )
        frontier = []
        for up, down in edges:
            if down in parents:
                continue
            parents[down] = up
            if down == target.pk:
                path = [down]
                while (parent := parents[path[-1]]) is not None:
                    path.append(parent)
                return list(reversed(path))
            frontier.append(down)
    return None


def _lock_lineage_graph() -> None:
    """Serialise lineage writers, so two concurrent edges cannot close a cycle together.

    PostgreSQL: a transaction-scoped advisory lock; SQLite already serialises writers.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LINEAGE_LOCK_KEY])


def _derived_from(upstream: Dataset, techniques: Sequence[Declared]) -> list[Declared]:
    """A derivation's techniques name its upstream dataset as the source of synthetic data."""
    for position, declared in enumerate(techniques):
        if declared.source and declared.source != upstream.slug:
            raise ValidationError(
                {f"techniques[{position}].source": f"The source is the upstream, {upstream.slug}"}
            )
    return [
        replace(d, source=upstream.slug) if d.technique == Technique.SYNTHETIC else d
        for d in techniques
    ]


@transaction.atomic
def lineage_edge_create(
    *,
    actor: Actor,
    upstream: Dataset,
    downstream: Dataset,
    transformation: str = "",
    techniques: Sequence[Declared] = (),
) -> LineageEdge:
    """Record that downstream is derived from upstream (and by which privacy techniques);
    refuses edges that would close a cycle. The downstream dataset keeps its own facts."""
    if not can_change_dataset(actor, downstream) and not may(actor, "catalog.add_lineageedge"):
        raise PermissionDenied(
            "Only the downstream dataset's owner or a privacy officer may add lineage"
        )
    if upstream.pk == downstream.pk:
        raise ValidationError({"downstream": "A dataset cannot be derived from itself"})
    if LineageEdge.objects.filter(upstream=upstream, downstream=downstream).exists():
        raise ValidationError(
            {"downstream": f"{upstream.slug} -> {downstream.slug} is already recorded"}
        )
    _lock_lineage_graph()
    path = _reaches(downstream, upstream)
    if path is not None:
        slugs = dict(Dataset.objects.filter(pk__in=path).values_list("pk", "slug"))
        cycle = " -> ".join([upstream.slug, *(slugs[pk] for pk in path)])
        raise ValidationError({"downstream": f"This edge would create a lineage cycle: {cycle}"})
    edge = LineageEdge.objects.create(
        upstream=upstream,
        downstream=downstream,
        transformation=transformation,
        techniques=declaration_json(_derived_from(upstream, techniques)),
        created_by=actor,
    )
    lineage_edge_changed.send(sender=LineageEdge, actor=actor, edge=edge, action="added")
    return edge


@transaction.atomic
def lineage_edges_observe(
    *, pairs: list[tuple[Dataset, Dataset]], transformation: str, created_by: User | None
) -> tuple[list[tuple[Dataset, Dataset]], list[dict[str, str]]]:
    """Record lineage that running jobs showed (OpenLineage): create the missing upstream ->
    downstream edges, skip (and return, with the reason) those that would close a cycle.

    No per-user permission check, unlike lineage_edge_create: the edges are observed by Locus,
    not asserted by a person; `created_by` is who registered the reporting source."""
    if not pairs:
        return [], []
    existing = set(
        LineageEdge.objects.filter(
            upstream__in={u.pk for u, _ in pairs}, downstream__in={d.pk for _, d in pairs}
        ).values_list("upstream_id", "downstream_id")
    )
    missing = [(u, d) for u, d in pairs if (u.pk, d.pk) not in existing]
    if not missing:
        return [], []
    _lock_lineage_graph()
    created: list[tuple[Dataset, Dataset]] = []
    skipped: list[dict[str, str]] = []
    for upstream, downstream in sorted(missing, key=lambda p: (p[0].slug, p[1].slug)):
        if _reaches(downstream, upstream) is not None:
            skipped.append(
                {
                    "upstream": upstream.slug,
                    "downstream": downstream.slug,
                    "reason": "It would close a lineage cycle.",
                }
            )
            continue
        try:
            with transaction.atomic():
                LineageEdge.objects.create(
                    upstream=upstream,
                    downstream=downstream,
                    transformation=transformation[:300],
                    created_by=created_by,
                )
        except IntegrityError:  # recorded meanwhile by someone else
            continue
        created.append((upstream, downstream))
    return created, skipped


@transaction.atomic
def lineage_edge_delete(*, actor: Actor, edge: LineageEdge) -> None:
    """Remove a lineage edge."""
    if not can_change_dataset(actor, edge.downstream) and not may(
        actor, "catalog.delete_lineageedge"
    ):
        raise PermissionDenied(
            "Only the downstream dataset's owner or a privacy officer may remove lineage"
        )
    lineage_edge_changed.send(sender=LineageEdge, actor=actor, edge=edge, action="removed")
    edge.delete()
