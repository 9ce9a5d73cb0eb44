"""catalog.services: datasets, their history and object permissions, and lineage."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from guardian.shortcuts import get_perms

from catalog import services
from catalog.models import Dataset, DatasetChange, Jurisdiction, LineageEdge, Region
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db


def fresh(user):
    """The same user without the permission caches Django keeps on the instance."""
    return type(user).objects.get(pk=user.pk)


def versions(slug):
    return list(DatasetChange.objects.filter(dataset_slug=slug).order_by("version"))


# --- dataset_create ---------------------------------------------------------------------------


def test_create_records_version_one_with_the_full_entry(data_owner):
    dataset = make_dataset(
        data_owner,
        slug="patients",
        name="Patients",
        personal_data_categories=["health", "contact"],
        tags=["ml", "clinical"],
    )

    [change] = versions("patients")
    assert change.version == 1
    assert change.action == DatasetChange.Action.CREATED
    assert change.dataset == dataset
    assert change.actor == data_owner
    assert change.before is None
    assert change.after["owner"] == data_owner.username
    assert change.after["storage_region"] == "aws:eu-west-1"
    assert change.after["jurisdiction"] == "eu"
    assert change.after["personal_data_categories"] == ["contact", "health"]
    assert change.after["tags"] == ["clinical", "ml"]
    assert "name" in change.changed_fields
    assert "retention_days" in change.changed_fields


def test_owner_gets_object_permissions_and_a_colleague_does_not(data_owner, other_owner):
    dataset = make_dataset(data_owner)

    assert set(get_perms(data_owner, dataset)) == {"change_dataset", "delete_dataset"}
    assert get_perms(other_owner, dataset) == []
    assert services.can_change_dataset(fresh(data_owner), dataset)
    assert services.can_delete_dataset(fresh(data_owner), dataset)
    assert not services.can_change_dataset(fresh(other_owner), dataset)
    assert not services.can_delete_dataset(fresh(other_owner), dataset)


def test_owner_permission_is_for_their_own_dataset_only(data_owner, other_owner):
    theirs = make_dataset(other_owner)

    assert not data_owner.has_perm("catalog.change_dataset")
    assert not data_owner.has_perm("catalog.change_dataset", theirs)


def test_privacy_officer_registers_a_dataset_for_an_owner(privacy_officer, data_owner):
    dataset = make_dataset(data_owner, actor=privacy_officer)

    assert dataset.owner == data_owner
    assert set(get_perms(data_owner, dataset)) == {"change_dataset", "delete_dataset"}
    assert versions(dataset.slug)[0].actor == privacy_officer


@pytest.mark.parametrize("role", ["executive", "engineer", "auditor", None])
def test_roles_without_add_permission_cannot_register(role):
    user = UserFactory(roles=[role] if role else [])

    with pytest.raises(PermissionDenied):
        make_dataset(actor=user, owner=user)

    assert not Dataset.objects.exists()


def test_jurisdiction_defaults_to_the_storage_regions(data_owner):
    dataset = make_dataset(data_owner, storage_region="aws:eu-west-2")

    assert dataset.jurisdiction_id == "uk"


def test_explicit_jurisdiction_covering_the_region_is_kept(data_owner):
    # us-east-1 is in Virginia, but California's law also covers the US.
    dataset = make_dataset(data_owner, storage_region="aws:us-east-1", jurisdiction="us-ca")

    assert dataset.jurisdiction_id == "us-ca"


def test_jurisdiction_not_covering_the_storage_country_is_refused(data_owner):
    with pytest.raises(ValidationError) as excinfo:
        make_dataset(data_owner, storage_region="aws:eu-west-1", jurisdiction="uk")

    assert set(excinfo.value.message_dict) == {"jurisdiction"}
    assert "IE" in excinfo.value.message_dict["jurisdiction"][0]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("retention_days", [0, -5, None])
def test_retention_must_be_positive(data_owner, retention_days):
    with pytest.raises(ValidationError) as excinfo:
        make_dataset(data_owner, retention_days=retention_days)

    assert "retention_days" in excinfo.value.message_dict
    assert not Dataset.objects.exists()


def test_duplicate_slug_is_refused(data_owner, other_owner):
    make_dataset(data_owner, slug="customers")

    with pytest.raises(ValidationError) as excinfo:
        make_dataset(other_owner, slug="customers")

    assert "slug" in excinfo.value.message_dict
    assert Dataset.objects.filter(slug="customers").count() == 1
    assert len(versions("customers")) == 1


@pytest.mark.parametrize("slug", ["new", "map"])
def test_slugs_of_catalog_pages_are_reserved(data_owner, slug):
    with pytest.raises(ValidationError) as excinfo:
        make_dataset(data_owner, slug=slug)

    assert "slug" in excinfo.value.message_dict
    assert not Dataset.objects.exists()


def test_data_owner_cannot_register_a_dataset_for_someone_else(data_owner, other_owner):
    with pytest.raises(PermissionDenied):
        make_dataset(other_owner, actor=data_owner)

    assert not Dataset.objects.exists()
    assert not DatasetChange.objects.exists()


def test_unknown_field_is_refused(data_owner):
    with pytest.raises(ValidationError) as excinfo:
        make_dataset(data_owner, colour="blue")

    assert "colour" in excinfo.value.message_dict


# --- dataset_update ---------------------------------------------------------------------------


def test_update_records_before_after_and_changed_fields(data_owner):
    dataset = make_dataset(data_owner, slug="events", retention_days=365)

    services.dataset_update(
        actor=fresh(data_owner),
        dataset=dataset,
        retention_days=30,
        sensitivity="restricted",
        tags=["pii"],
    )

    first, second = versions("events")
    assert (first.version, second.version) == (1, 2)
    assert second.action == DatasetChange.Action.UPDATED
    assert second.changed_fields == ["retention_days", "sensitivity", "tags"]
    assert second.before["retention_days"] == 365
    assert second.after["retention_days"] == 30
    assert second.before["sensitivity"] == "confidential"
    assert second.after["sensitivity"] == "restricted"
    assert second.before["tags"] == []
    assert second.after["tags"] == ["pii"]
    assert second.before == first.after
    dataset.refresh_from_db()
    assert dataset.retention_days == 30


def test_update_without_a_change_writes_no_version(data_owner):
    dataset = make_dataset(data_owner, slug="quiet", retention_days=90, tags=["a"])

    services.dataset_update(actor=fresh(data_owner), dataset=dataset, retention_days=90, tags=["a"])
    services.dataset_update(actor=fresh(data_owner), dataset=dataset)

    assert [c.version for c in versions("quiet")] == [1]


def test_changing_the_storage_region_moves_the_default_jurisdiction(data_owner):
    dataset = make_dataset(data_owner, storage_region="aws:eu-west-1")

    services.dataset_update(
        actor=fresh(data_owner),
        dataset=dataset,
        storage_region=Region.objects.get(code="aws:eu-west-2"),
    )

    dataset.refresh_from_db()
    assert dataset.jurisdiction_id == "uk"
    last = versions(dataset.slug)[-1]
    assert {"storage_region", "jurisdiction"} <= set(last.changed_fields)


def test_update_refuses_a_contradicting_jurisdiction(data_owner):
    dataset = make_dataset(data_owner)

    with pytest.raises(ValidationError) as excinfo:
        services.dataset_update(
            actor=fresh(data_owner),
            dataset=dataset,
            jurisdiction=Jurisdiction.objects.get(code="cn"),
        )

    assert "jurisdiction" in excinfo.value.message_dict
    dataset.refresh_from_db()
    assert dataset.jurisdiction_id == "eu"
    assert len(versions(dataset.slug)) == 1


def test_update_refuses_zero_retention(data_owner):
    dataset = make_dataset(data_owner)

    with pytest.raises(ValidationError) as excinfo:
        services.dataset_update(actor=fresh(data_owner), dataset=dataset, retention_days=0)

    assert "retention_days" in excinfo.value.message_dict


def test_the_slug_cannot_change(data_owner):
    dataset = make_dataset(data_owner, slug="stable")

    with pytest.raises(ValidationError) as excinfo:
        services.dataset_update(actor=fresh(data_owner), dataset=dataset, slug="renamed")

    assert "slug" in excinfo.value.message_dict
    assert Dataset.objects.filter(slug="stable").exists()


def test_colleague_cannot_update_but_privacy_officer_can(data_owner, other_owner, privacy_officer):
    dataset = make_dataset(data_owner)

    with pytest.raises(PermissionDenied):
        services.dataset_update(actor=other_owner, dataset=dataset, name="Hijacked")
    services.dataset_update(actor=privacy_officer, dataset=dataset, name="Curated")

    dataset.refresh_from_db()
    assert dataset.name == "Curated"
    assert versions(dataset.slug)[-1].actor_name == privacy_officer.get_full_name()


@pytest.mark.parametrize("role", ["executive", "engineer", "auditor"])
def test_other_roles_cannot_update(data_owner, role):
    dataset = make_dataset(data_owner)

    with pytest.raises(PermissionDenied):
        services.dataset_update(actor=UserFactory(roles=[role]), dataset=dataset, name="X")


def test_owner_change_moves_the_object_permissions(data_owner, other_owner):
    dataset = make_dataset(data_owner)

    services.dataset_update(actor=fresh(data_owner), dataset=dataset, owner=other_owner)

    assert get_perms(data_owner, dataset) == []
    assert set(get_perms(other_owner, dataset)) == {"change_dataset", "delete_dataset"}
    assert not services.can_change_dataset(fresh(data_owner), dataset)
    assert services.can_change_dataset(fresh(other_owner), dataset)
    last = versions(dataset.slug)[-1]
    assert last.changed_fields == ["owner"]
    assert (last.before["owner"], last.after["owner"]) == (
        data_owner.username,
        other_owner.username,
    )


def test_privacy_officer_reassigns_a_dataset(data_owner, other_owner, privacy_officer):
    dataset = make_dataset(data_owner)

    services.dataset_update(actor=privacy_officer, dataset=dataset, owner=other_owner)

    dataset.refresh_from_db()
    assert dataset.owner == other_owner
    assert get_perms(data_owner, dataset) == []
    assert set(get_perms(other_owner, dataset)) == {"change_dataset", "delete_dataset"}


def test_a_dataset_cannot_lose_its_owner(data_owner):
    dataset = make_dataset(data_owner)

    with pytest.raises(ValidationError) as excinfo:
        services.dataset_update(actor=fresh(data_owner), dataset=dataset, owner=None)

    assert "owner" in excinfo.value.message_dict
    dataset.refresh_from_db()
    assert dataset.owner == data_owner


# --- dataset_delete ---------------------------------------------------------------------------


def test_delete_keeps_the_history(data_owner):
    dataset = make_dataset(data_owner, slug="gone")
    dataset = services.dataset_update(actor=fresh(data_owner), dataset=dataset, retention_days=7)

    dataset_id = dataset.pk

    services.dataset_delete(actor=fresh(data_owner), dataset=dataset)

    assert not Dataset.objects.filter(slug="gone").exists()
    history = versions("gone")
    assert [(c.version, c.action) for c in history] == [
        (1, DatasetChange.Action.CREATED),
        (2, DatasetChange.Action.UPDATED),
        (3, DatasetChange.Action.DELETED),
    ]
    # Append-only rows are never updated: the earlier versions keep the id of the row now gone.
    assert [c.dataset_id for c in history] == [dataset_id, dataset_id, None]
    assert history[-1].before == history[-2].after
    assert history[-1].before["retention_days"] == 7
    assert history[-1].after is None
    assert {"slug", "retention_days", "owner"} <= set(history[-1].changed_fields)
    assert history[-1].actor_name == data_owner.get_full_name()


def test_delete_records_the_stored_entry_not_a_stale_instance(data_owner):
    dataset = make_dataset(data_owner, slug="stale")
    services.dataset_update(actor=fresh(data_owner), dataset=dataset, retention_days=7)

    services.dataset_delete(actor=fresh(data_owner), dataset=dataset)  # the pre-update instance

    history = versions("stale")
    assert history[-1].before == history[-2].after


def test_colleague_cannot_delete(data_owner, other_owner):
    dataset = make_dataset(data_owner)

    with pytest.raises(PermissionDenied):
        services.dataset_delete(actor=other_owner, dataset=dataset)

    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert len(versions(dataset.slug)) == 1


def test_privacy_officer_can_delete(data_owner, privacy_officer):
    dataset = make_dataset(data_owner)

    services.dataset_delete(actor=privacy_officer, dataset=dataset)

    assert not Dataset.objects.filter(pk=dataset.pk).exists()


# --- DatasetChange is append-only -------------------------------------------------------------


@pytest.fixture
def change(data_owner):
    return versions(make_dataset(data_owner).slug)[0]


def test_history_row_cannot_be_saved_again(change):
    change.actor_name = "someone else"

    with pytest.raises(PermissionError):
        change.save()

    assert DatasetChange.objects.get(pk=change.pk).actor_name != "someone else"


def test_history_row_cannot_be_deleted(change):
    with pytest.raises(PermissionError):
        change.delete()

    assert DatasetChange.objects.filter(pk=change.pk).exists()


def test_history_queryset_cannot_update(change):
    with pytest.raises(PermissionError):
        DatasetChange.objects.filter(pk=change.pk).update(actor_name="rewritten")
    with pytest.raises(PermissionError):
        change.dataset.changes.all().update(actor_name="rewritten")

    assert DatasetChange.objects.get(pk=change.pk).actor_name != "rewritten"


def test_history_queryset_cannot_delete(change):
    with pytest.raises(PermissionError):
        DatasetChange.objects.all().delete()
    with pytest.raises(PermissionError):
        DatasetChange.objects.filter(pk=change.pk).delete()

    assert DatasetChange.objects.filter(pk=change.pk).exists()


# --- lineage ----------------------------------------------------------------------------------


@pytest.fixture
def chain(data_owner):
    """a, b, c owned by data_owner."""
    return tuple(make_dataset(data_owner, slug=slug) for slug in ("a", "b", "c"))


def test_owner_of_the_downstream_records_lineage(data_owner, chain):
    a, b, _ = chain

    edge = services.lineage_edge_create(
        actor=data_owner, upstream=a, downstream=b, transformation="dedupe"
    )

    assert (edge.upstream, edge.downstream, edge.created_by) == (a, b, data_owner)
    assert edge.transformation == "dedupe"


def test_self_loop_is_refused(data_owner, chain):
    a, _, _ = chain

    with pytest.raises(ValidationError) as excinfo:
        services.lineage_edge_create(actor=data_owner, upstream=a, downstream=a)

    assert "downstream" in excinfo.value.message_dict
    assert not LineageEdge.objects.exists()


def test_duplicate_edge_is_refused(data_owner, chain):
    a, b, _ = chain
    services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)

    with pytest.raises(ValidationError) as excinfo:
        services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)

    assert "already recorded" in excinfo.value.message_dict["downstream"][0]
    assert LineageEdge.objects.count() == 1


def test_cycle_is_refused_naming_the_path(data_owner, chain):
    a, b, c = chain
    services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)
    services.lineage_edge_create(actor=data_owner, upstream=b, downstream=c)

    with pytest.raises(ValidationError) as excinfo:
        services.lineage_edge_create(actor=data_owner, upstream=c, downstream=a)

    message = excinfo.value.message_dict["downstream"][0]
    assert "cycle" in message
    assert "c -> a -> b -> c" in message
    assert LineageEdge.objects.count() == 2


def test_two_step_cycle_is_refused(data_owner, chain):
    a, b, _ = chain
    services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)

    with pytest.raises(ValidationError) as excinfo:
        services.lineage_edge_create(actor=data_owner, upstream=b, downstream=a)

    assert "b -> a -> b" in excinfo.value.message_dict["downstream"][0]


def test_diamond_is_not_a_cycle(data_owner, chain):
    a, b, c = chain
    d = make_dataset(data_owner, slug="d")
    for up, down in [(a, b), (a, c), (b, d), (c, d)]:
        services.lineage_edge_create(actor=data_owner, upstream=up, downstream=down)

    assert LineageEdge.objects.count() == 4


def test_only_the_downstream_owner_or_privacy_officer_records_lineage(
    data_owner, other_owner, privacy_officer, engineer
):
    mine = make_dataset(data_owner, slug="mine")
    theirs = make_dataset(other_owner, slug="theirs")

    # Owning the upstream is not enough: lineage is part of the downstream's entry.
    with pytest.raises(PermissionDenied):
        services.lineage_edge_create(actor=data_owner, upstream=mine, downstream=theirs)
    with pytest.raises(PermissionDenied):
        services.lineage_edge_create(actor=engineer, upstream=mine, downstream=theirs)
    assert not LineageEdge.objects.exists()

    edge = services.lineage_edge_create(actor=privacy_officer, upstream=mine, downstream=theirs)
    assert edge.created_by == privacy_officer


def test_lineage_edge_delete_permission(data_owner, other_owner, chain):
    a, b, _ = chain
    edge = services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)

    with pytest.raises(PermissionDenied):
        services.lineage_edge_delete(actor=other_owner, edge=edge)
    assert LineageEdge.objects.filter(pk=edge.pk).exists()

    services.lineage_edge_delete(actor=data_owner, edge=edge)
    assert not LineageEdge.objects.filter(pk=edge.pk).exists()


def test_deleting_a_dataset_removes_its_edges(data_owner, chain):
    a, b, c = chain
    services.lineage_edge_create(actor=data_owner, upstream=a, downstream=b)
    services.lineage_edge_create(actor=data_owner, upstream=b, downstream=c)

    services.dataset_delete(actor=fresh(data_owner), dataset=b)

    assert not LineageEdge.objects.exists()
