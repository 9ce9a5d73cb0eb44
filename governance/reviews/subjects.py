"""What an access review reviews: the kinds of access to a dataset, each able to list its
holders and to revoke one at once.

Built here: guardian object permissions on a dataset (reviewed by its owner), the API tokens of
the people holding them (by its owner) and of everyone (by officers), and role memberships (by
officers: a role reads every dataset). Apps to the right of governance add their kinds through
settings.ACCESS_REVIEW_SUBJECTS (monitoring: telemetry sources), as governance cannot import
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db.models import F
from django.utils.module_loading import import_string
from rest_framework.authtoken.models import Token

from catalog.actors import Actor
from catalog.models import Dataset, DatasetGroupObjectPermission, DatasetUserObjectPermission
from governance.roles import Role

OBJECT_PERMISSION = "object_permission"
API_TOKEN = "api_token"
ROLE = "role"


@dataclass(frozen=True)
class Access:
    """One access as a campaign finds it: on a dataset (its owner reviews) or organisation-wide
    (`dataset_id` None: privacy officers review)."""

    kind: str
    reference: str  # what the kind revokes, e.g. "user:7:change_dataset"
    holder: str
    access: str
    dataset_id: int | None = None


class SubjectKind(Protocol):
    name: str

    def accesses(self) -> Iterable[Access]:
        """Every access of this kind as it stands now."""
        ...

    def revoke(self, *, actor: Actor, reference: str, dataset: Dataset | None) -> bool:
        """End this access at once; False if it is already gone."""
        ...


def _person(user: User) -> str:
    return user.get_full_name() or user.get_username()


class ObjectPermissions:
    """Guardian's per-dataset permissions given to people and groups (the owner's own aside)."""

    name = OBJECT_PERMISSION

    def accesses(self) -> Iterator[Access]:
        people = DatasetUserObjectPermission.objects.exclude(
            user_id=F("content_object__owner_id")
        ).select_related("user", "permission")
        for row in people:
            yield Access(
                self.name,
                f"user:{row.user_id}:{row.permission.codename}",
                _person(row.user),
                row.permission.name,
                row.content_object_id,
            )
        for grow in DatasetGroupObjectPermission.objects.select_related("group", "permission"):
            yield Access(
                self.name,
                f"group:{grow.group_id}:{grow.permission.codename}",
                f"group {grow.group.name}",
                grow.permission.name,
                grow.content_object_id,
            )

    def revoke(self, *, actor: Actor, reference: str, dataset: Dataset | None) -> bool:
        who, holder_id, codename = reference.split(":")
        rows = DatasetUserObjectPermission if who == "user" else DatasetGroupObjectPermission
        held = rows.objects.filter(
            **{f"{who}_id": int(holder_id)},
            permission__codename=codename,
            content_object=dataset,
        )
        return dataset is not None and held.delete()[0] > 0


class ApiTokens:
    """People's API tokens: of those holding a dataset's object permissions (its owner reviews),
    and every token (officers review)."""

    name = API_TOKEN

    def accesses(self) -> Iterator[Access]:
        tokens = {t.user_id: t for t in Token.objects.select_related("user")}
        for token in tokens.values():
            yield Access(self.name, f"user:{token.user_id}", _person(token.user), _token(token))
        seen: set[tuple[int, int]] = set()
        for access in ObjectPermissions().accesses():
            user_id = (
                int(access.reference.split(":")[1]) if access.reference.startswith("user:") else 0
            )
            held = tokens.get(user_id)
            if held is None or access.dataset_id is None or (user_id, access.dataset_id) in seen:
                continue
            seen.add((user_id, access.dataset_id))
            yield Access(
                self.name, f"user:{user_id}", _person(held.user), _token(held), access.dataset_id
            )

    def revoke(self, *, actor: Actor, reference: str, dataset: Dataset | None) -> bool:
        deleted, _ = Token.objects.filter(user_id=int(reference.split(":")[1])).delete()
        return bool(deleted)


def _token(token: Token) -> str:
    return f"API token {token.key[:6]}… (acts as its holder)"


class RoleMemberships:
    """Who holds which Locus role: every role reads every dataset (officers review)."""

    name = ROLE

    def accesses(self) -> Iterator[Access]:
        memberships = User.groups.through.objects.filter(
            group__name__in=Role.values, user__is_active=True
        ).select_related("user", "group")
        for row in memberships:
            yield Access(
                self.name,
                f"user:{row.user_id}:{row.group.name}",
                _person(row.user),
                f"role {Role(row.group.name).label}",
            )

    def revoke(self, *, actor: Actor, reference: str, dataset: Dataset | None) -> bool:
        _, user_id, role = reference.split(":")
        user = User.objects.filter(pk=user_id, groups__name=role).first()
        if user is None:
            return False
        user.groups.remove(Group.objects.get(name=role))
        return True


BUILT_IN: tuple[SubjectKind, ...] = (ObjectPermissions(), ApiTokens(), RoleMemberships())


def subject_kinds() -> dict[str, SubjectKind]:
    """Every kind of access reviewed, by name: the built-in ones and those apps contribute."""
    kinds: list[SubjectKind] = [
        *BUILT_IN,
        *(import_string(path) for path in getattr(settings, "ACCESS_REVIEW_SUBJECTS", [])),
    ]
    return {kind.name: kind for kind in kinds}
