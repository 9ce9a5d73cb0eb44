"""Roles are groups with exactly the model-wide permissions each needs."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS

from governance.roles import Role, ensure_roles, has_role, roles_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CATALOG_READ = {
    "view_country",
    "view_jurisdiction",
    "view_adequacydecision",
    "view_region",
    "view_personaldatacategory",
    "view_tag",
    "view_dataset",
    "view_lineageedge",
    "view_datasetchange",
}

# The catalog's part of each role (other apps add their own permissions to the same groups).
# Written out by hand (not read from governance.roles) so that a change there must be deliberate.
EXPECTED = {
    "privacy_officer": CATALOG_READ
    | {"add_dataset", "change_dataset", "delete_dataset", "add_lineageedge", "delete_lineageedge"},
    "executive": CATALOG_READ,
    "data_owner": CATALOG_READ | {"add_dataset"},
    "engineer": CATALOG_READ,
    "auditor": CATALOG_READ,
}


def catalog_codenames(group: Group) -> set[str]:
    return set(
        group.permissions.filter(content_type__app_label="catalog").values_list(
            "codename", flat=True
        )
    )


def test_the_roles_are_the_five_expected():
    assert set(Role.values) == set(EXPECTED)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_group_has_exactly_its_catalog_permissions(role):
    group = Group.objects.get(name=role)

    assert catalog_codenames(group) == EXPECTED[role]


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("executive", ["view_dataset", "view_datasetchange"], ["change_dataset", "add_dataset"]),
        ("data_owner", ["add_dataset", "view_dataset"], ["change_dataset", "delete_dataset"]),
        ("engineer", ["view_region", "view_lineageedge"], ["add_dataset", "add_lineageedge"]),
        ("auditor", ["view_datasetchange"], ["change_datasetchange", "delete_datasetchange"]),
        ("privacy_officer", ["change_dataset", "delete_lineageedge"], ["change_datasetchange"]),
    ],
)
def test_role_members_get_the_model_permissions(role, allowed, refused):
    user = UserFactory(roles=[role])

    for codename in allowed:
        assert user.has_perm(f"catalog.{codename}"), codename
    for codename in refused:
        assert not user.has_perm(f"catalog.{codename}"), codename


def test_a_user_without_a_role_has_no_catalog_permission():
    user = UserFactory()

    assert not user.has_perm("catalog.view_dataset")
    assert roles_of(user) == set()
    assert not has_role(user, *Role.values)


def test_nobody_may_rewrite_history():
    for group in Group.objects.filter(name__in=Role.values):
        assert not catalog_codenames(group) & {"change_datasetchange", "delete_datasetchange"}


def test_ensure_roles_is_idempotent_and_resets_drift():
    executive = Group.objects.get(name="executive")
    executive.permissions.add(
        Permission.objects.get(content_type__app_label="catalog", codename="change_dataset")
    )
    Group.objects.filter(name="auditor").delete()

    ensure_roles()
    ensure_roles()

    assert catalog_codenames(Group.objects.get(name="executive")) == EXPECTED["executive"]
    assert catalog_codenames(Group.objects.get(name="auditor")) == EXPECTED["auditor"]
    assert Group.objects.filter(name__in=Role.values).count() == len(EXPECTED)


def test_migrate_creates_role_groups():
    Group.objects.filter(name__in=Role.values).delete()

    # What `manage.py migrate` does once the migrations have run.
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)

    assert set(Group.objects.values_list("name", flat=True)) >= set(EXPECTED)
    assert catalog_codenames(Group.objects.get(name="data_owner")) == EXPECTED["data_owner"]


def test_roles_of_and_has_role():
    owner = UserFactory(roles=["data_owner", "engineer"])
    admin = UserFactory(is_superuser=True)

    assert roles_of(owner) == {"data_owner", "engineer"}
    assert has_role(owner, "engineer", "auditor")
    assert not has_role(owner, "privacy_officer")
    assert has_role(admin, "privacy_officer")
