"""Template context for every page: the navigation a user may see, and who they are."""

from dataclasses import dataclass
from functools import cache, partial

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.module_loading import import_string

from governance.ledger.evidence import may_export_evidence
from governance.roles import Role, has_role, roles_of


@dataclass(frozen=True)
class NavItem:
    """One link of the main navigation."""

    label: str
    url: str
    active: bool
    group: str


def _any_role(user) -> bool:
    return has_role(user, *Role.values)


def _adds_datasets(user) -> bool:
    return user.has_perm("catalog.add_dataset")


def _reads_policy(user) -> bool:
    return user.has_perm("governance.view_localitydecision")


def _reads_models(user) -> bool:
    return user.has_perm("governance.view_trainedmodel")


def _reads_ledger(user) -> bool:
    return user.has_perm("governance.view_ledgerentry")


def _reviews_access(user) -> bool:
    """Privacy officers run access reviews; data owners review their datasets' access."""
    return has_role(user, Role.PRIVACY_OFFICER, Role.DATA_OWNER)


# The menus, in order: each item names its menu (its group).
GROUPS = {
    "catalog": "Catalog",
    "governance": "Governance",
    "workflows": "Workflows",
    "monitoring": "Monitoring",
    "admin": "Admin",
}

# (label, URL name, who may see it, the URL names under it, menu); every role may read the
# catalog, its map and the policy pages; privacy officers, executives and auditors read the
# decision log; auditors and privacy officers export evidence.
_NAV = (
    ("Datasets", "catalog:dataset-list", _any_role, ("catalog:dataset-",), "catalog"),
    ("Data map", "catalog:data-map", _any_role, (), "catalog"),
    ("New dataset", "catalog:dataset-create", _adds_datasets, (), "catalog"),
    ("Glossary", "governance:glossary-list", _any_role, ("governance:glossary-",), "catalog"),
    ("Check a transfer", "governance:check", _reads_policy, (), "governance"),
    (
        "Past checks",
        "governance:decision-list",
        _reads_policy,
        ("governance:decision-",),
        "governance",
    ),
    ("Rules", "governance:rule-list", _reads_policy, ("governance:rule-",), "governance"),
    (
        "Grants",
        "governance:grant-list",
        _reads_policy,
        # The grants in force now, kept by the workflows, are a view of the same grants.
        ("governance:grant-", "workflows:exception-active"),
        "governance",
    ),
    ("Training runs", "governance:run-list", _reads_policy, ("governance:run-",), "governance"),
    (
        "Models",
        "governance:model-list",
        _reads_models,
        ("governance:model-", "governance:deployment-"),
        "governance",
    ),
    ("What-if", "governance:what-if", _reads_policy, (), "governance"),
    ("Law by jurisdiction", "governance:legal-coverage", _reads_policy, (), "governance"),
    (
        "Decision log",
        "governance:ledger-list",
        _reads_ledger,
        ("governance:ledger-",),
        "governance",
    ),
    ("Evidence for auditors", "governance:evidence", may_export_evidence, (), "governance"),
    (
        "Access reviews",
        "governance:access-review-list",
        _reviews_access,
        ("governance:access-review",),
        "governance",
    ),
)
_ADMIN = (("Django admin", "admin:index", lambda user: user.is_staff, (), "admin"),)


@dataclass(frozen=True)
class NavGroup:
    """One menu of the main navigation: its items, and whether the current page is in it."""

    label: str
    items: tuple[NavItem, ...]

    @property
    def active(self) -> bool:
        return any(item.active for item in self.items)


@cache
def _all_nav() -> tuple:
    """Governance's items, then those other apps name in settings.NAVIGATION (governance may
    not import them), then the admin."""
    extra = tuple(item for dotted in settings.NAVIGATION for item in import_string(dotted))
    return (*_NAV, *extra, *_ADMIN)


def navigation(request: HttpRequest) -> dict:
    """The navigation items the signed-in user may see, and the labels of their roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    items = nav_items(request, user)
    return {
        "nav_items": items,
        "nav_groups": nav_groups(items),
        "user_roles": role_labels(user),
        # Counted only when a template shows it, and then once (the header and a page may both).
        "unread_notifications": cache(partial(unread_count, user)),
    }


def unread_count(user) -> int:
    from governance.models import Notification

    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def nav_items(request: HttpRequest, user) -> list[NavItem]:
    """The links this user may follow, the current page's section marked active."""
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    return [
        NavItem(label, reverse(name), _is_current(current, name, sections), group)
        for label, name, may_see, sections, group in _all_nav()
        if may_see(user)
    ]


def nav_groups(items: list[NavItem]) -> list[NavGroup]:
    """The items by menu, menus in GROUPS order; a menu with no item for this user is left out."""
    return [
        NavGroup(label, tuple(item for item in items if item.group == key))
        for key, label in GROUPS.items()
        if any(item.group == key for item in items)
    ]


def _is_current(current: str, name: str, sections: tuple[str, ...]) -> bool:
    """The page itself, or any page of its section (a rule's detail lights up "Rules")."""
    return current == name or bool(sections and current.startswith(sections))


def role_labels(user) -> list[str]:
    """The user's roles as people read them, e.g. ['Data owner']."""
    labels = [Role(name).label for name in sorted(roles_of(user))]
    return ["Superuser", *labels] if user.is_superuser else labels
