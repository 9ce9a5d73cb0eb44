"""Who a request is, read once and cached (README "Authentication cache").

An API token's person and a person's permissions and roles are kept in Django's cache (Redis
in production, local memory in the embedded default) for AUTH_CACHE_SECONDS at most. Every
entry carries the person's version and, for permissions, the version of all groups: changing
a person (deactivating them, their groups, their own permissions, their tokens) draws a new
person version, changing a group or its permissions a new group version, and entries naming
an old version are never read again. Versions are drawn at the change and again once its
transaction commits, so a request that read the old rows meanwhile cannot keep them.

Nothing here decides anything: the token and model backends above it still refuse inactive
people and answer permission checks as Django's do.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

log = logging.getLogger(__name__)

_PREFIX = "locus:auth"
_GROUPS = f"{_PREFIX}:groups"


def _seconds() -> int:
    return settings.AUTH_CACHE_SECONDS


def _user_key(user_id: int) -> str:
    return f"{_PREFIX}:user:{user_id}"


def token_cache_key(key: str) -> str:
    """The cache key of a token's entry: a digest, so the store never holds a usable token."""
    return f"{_PREFIX}:token:{hashlib.sha256(key.encode()).hexdigest()}"


def versions(user_id: int) -> tuple[str, str] | None:
    """The person's version and the groups' version, drawn fresh where missing (an evicted
    version is a new one, so nothing cached under the old one is read again); None while the
    cache cannot be reached (then everything is read from the database)."""
    keys = [_user_key(user_id), _GROUPS]
    try:
        found = cache.get_many(keys)
        for key in keys:
            if key not in found:
                cache.add(key, uuid.uuid4().hex, None)
                found[key] = cache.get(key)
    except Exception as exc:  # an unreachable cache must not refuse the API (catalog.throttling)
        log.warning("Authentication cache not read, the cache failed (%s)", type(exc).__name__)
        return None
    return found[keys[0]], found[keys[1]]


def versions_of(user: Any) -> tuple[str, str] | None:
    """versions(), read once per request and kept on the request's user object."""
    if not hasattr(user, "_authcache_versions"):
        user._authcache_versions = versions(user.pk)
    return user._authcache_versions


def _draw(key: str) -> None:
    try:
        cache.set(key, uuid.uuid4().hex, None)
    except Exception as exc:
        # Nothing cached can be read while the cache is down; what it held before expires
        # within AUTH_CACHE_SECONDS of its return.
        log.error("Authentication cache not invalidated, the cache failed (%s)", exc)


def user_changed(user_id: int | None) -> None:
    """Everything cached for this person is stale: now, and again when the change commits."""
    if user_id is None:
        return
    _draw(_user_key(user_id))
    transaction.on_commit(lambda: _draw(_user_key(user_id)))


def groups_changed() -> None:
    """Every person's cached permissions and roles are stale (a group or its permissions)."""
    _draw(_GROUPS)
    transaction.on_commit(lambda: _draw(_GROUPS))


# --- Tokens -------------------------------------------------------------------------------


# Token cache key -> its person's id, learnt from the token's entry: a token never changes
# hands (rotating one makes a new key). Knowing the person before the token's entry is read
# lets a warm request read everything it needs (the token, both versions, the permissions and
# roles) in one round trip; the entry's own person is still what is checked.
_token_people: dict[str, int] = {}
TOKEN_PEOPLE_KEPT = 10_000


def cached_token(key: str) -> Any | None:
    """The token (with its person) cached for this key, if still current for its person; its
    person's cached permissions and roles come with it when current too."""
    token_key = token_cache_key(key)
    user_id = _token_people.get(token_key)
    keys = [token_key]
    if user_id is not None:
        keys += [_user_key(user_id), _GROUPS, *(_entry_key(kind, user_id) for kind in KINDS)]
    try:
        found = cache.get_many(keys)
    except Exception:
        return None
    entry = found.get(token_key)
    if entry is None:
        return None
    token, user_version = entry
    if token.user_id != user_id:
        if len(_token_people) >= TOKEN_PEOPLE_KEPT:
            _token_people.clear()
        _token_people[token_key] = token.user_id
    if token.user_id == user_id and _user_key(user_id) in found and _GROUPS in found:
        current: tuple[str, str] | None = found[_user_key(user_id)], found[_GROUPS]
    else:
        current = versions(token.user_id)  # drawn afresh where missing
    if current is None or current[0] != user_version:
        return None
    token.user._authcache_versions = current
    token.user._authcache_read = {
        kind: kept[2]
        for kind in KINDS
        if (kept := found.get(_entry_key(kind, token.user_id))) and kept[:2] == current
    }
    return token


def cache_token(token: Any, user_version: str) -> None:
    try:
        cache.set(token_cache_key(token.key), (token, user_version), _seconds())
    except Exception as exc:
        log.warning("Token not cached, the cache failed (%s)", type(exc).__name__)


# --- Permissions and roles ----------------------------------------------------------------


def _dotted(permissions) -> set[str]:
    rows = permissions.values_list("content_type__app_label", "codename").order_by()
    return {f"{app_label}.{codename}" for app_label, codename in rows}


def _permissions(user: Any) -> tuple[set[str], set[str]]:
    if user.is_superuser:
        everything = _dotted(Permission.objects.all())
        return everything, everything
    own = _dotted(user.user_permissions.all())
    return own, _dotted(Permission.objects.filter(group__user=user))


def _roles(user: Any) -> set[str]:
    from governance.roles import Role

    return set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


KINDS = ("perms", "roles")


def _entry_key(kind: str, user_id: int | None) -> str:
    return f"{_PREFIX}:{kind}:{user_id}"


def _cached(user: Any, kind: str, read) -> Any:
    """What `read` gives for the person, from the cache while the person's and the groups'
    versions it was stored with are current; read and stored afresh otherwise."""
    already = getattr(user, "_authcache_read", {})
    if kind in already:
        return already[kind]  # read with the token (cached_token)
    current = versions_of(user)
    if current is None:
        return read(user)
    key = _entry_key(kind, user.pk)
    try:
        kept = cache.get(key)
        if kept is not None and kept[:2] == current:
            return kept[2]
        entry = read(user)
        cache.set(key, (*current, entry), _seconds())
    except Exception as exc:
        log.warning("Authentication cache not read, the cache failed (%s)", type(exc).__name__)
        return read(user)
    return entry


def load(user: Any) -> None:
    """Put the person's own and group permissions on the user object, where Django's model
    backend keeps them for the request."""
    user._user_perm_cache, user._group_perm_cache = _cached(user, "perms", _permissions)


def roles(user: Any) -> set[str]:
    """The role names the person holds (governance.roles.roles_of)."""
    return _cached(user, "roles", _roles)


# --- What makes entries stale -------------------------------------------------------------


def _forget_on(user: Any) -> None:
    for name in ("_authcache_versions", "_authcache_read"):
        user.__dict__.pop(name, None)


def _on_user(sender, instance, **kwargs) -> None:
    _forget_on(instance)  # this object reads the new ones
    user_changed(instance.pk)


def _on_token(sender, instance, **kwargs) -> None:
    try:
        cache.delete(token_cache_key(instance.key))
    except Exception as exc:  # the person's new version below makes the entry stale anyway
        log.error("Token not dropped from the cache, the cache failed (%s)", exc)
    user_changed(instance.user_id)


def _on_group(sender, action: str = "post_save", **kwargs) -> None:
    if action.startswith("post_"):
        groups_changed()


def _on_membership(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A person's groups or own permissions: from the person's side (user.groups.add) the
    person; from the other side (group.user_set.add) the people named, or everyone on clear."""
    if not action.startswith("post_"):
        return
    if isinstance(instance, User):
        _forget_on(instance)  # this object reads the new ones
        user_changed(instance.pk)
    elif pk_set:
        for user_id in pk_set:
            user_changed(user_id)
    else:
        groups_changed()


def connect() -> None:
    """Wire the invalidations (GovernanceConfig.ready)."""
    uid = "locus_authcache"
    post_save.connect(_on_user, sender=User, dispatch_uid=f"{uid}_user_saved")
    post_delete.connect(_on_user, sender=User, dispatch_uid=f"{uid}_user_deleted")
    post_save.connect(_on_token, sender=Token, dispatch_uid=f"{uid}_token_saved")
    post_delete.connect(_on_token, sender=Token, dispatch_uid=f"{uid}_token_deleted")
    for model in (Group, Permission):
        post_save.connect(_on_group, sender=model, dispatch_uid=f"{uid}_{model.__name__}_saved")
        post_delete.connect(_on_group, sender=model, dispatch_uid=f"{uid}_{model.__name__}_gone")
    m2m_changed.connect(
        _on_group, sender=Group.permissions.through, dispatch_uid=f"{uid}_group_permissions"
    )
    m2m_changed.connect(
        _on_membership, sender=User.groups.through, dispatch_uid=f"{uid}_user_groups"
    )
    m2m_changed.connect(
        _on_membership,
        sender=User.user_permissions.through,
        dispatch_uid=f"{uid}_user_permissions",
    )
