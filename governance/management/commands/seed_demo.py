"""Seed a realistic demo: one user per role and a populated catalog. Safe to run again."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.demo import seed_catalog
from governance.demo import seed_governance
from governance.roles import Role, ensure_roles

DEMO_PASSWORD = "locus-demo"

DEMO_USERS = [
    ("priya", "Priya", "Raman", Role.PRIVACY_OFFICER),
    ("elena", "Elena", "Costa", Role.EXECUTIVE),
    ("omar", "Omar", "Haddad", Role.DATA_OWNER),
    ("dana", "Dana", "Kim", Role.DATA_OWNER),
    ("eli", "Eli", "Novak", Role.ENGINEER),
    ("aude", "Aude", "Laurent", Role.AUDITOR),
]


class Command(BaseCommand):
    help = "Create demo users (one per role, password 'locus-demo') and a demo catalog; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--datasets", type=int, default=200, help="How many datasets at least")

    @transaction.atomic
    def handle(self, *args, datasets: int, **options):
        ensure_roles()
        users = {role: [] for role in Role.values}
        for username, first, last, role in DEMO_USERS:
            user = _demo_user(username, first, last, role)
            users[role].append(user)
        _demo_admin()
        result = seed_catalog(owners=users[Role.DATA_OWNER], target=datasets)
        self.stdout.write(
            f"Catalog: {result['datasets']} datasets ({result['datasets_created']} new), "
            f"{result['lineage_edges_created']} new lineage edges."
        )
        governance = seed_governance(
            officer=users[Role.PRIVACY_OFFICER][0], engineer=users[Role.ENGINEER][0]
        )
        self.stdout.write(
            f"Governance: {governance['rules']} new locality rules, {governance['grants']} new grants, "
            f"{governance['training_runs']} new training runs."
        )
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}'):")
        for username, _first, _last, role in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {Role(role).label}")
        self.stdout.write(f"  {'admin':<8} Superuser (Django admin at /admin/)")


def _demo_user(username: str, first: str, last: str, role: str):
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@locus.example"},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role))
    return user


def _demo_admin():
    admin, created = get_user_model().objects.get_or_create(
        username="admin",
        defaults={"is_staff": True, "is_superuser": True, "email": "admin@locus.example"},
    )
    if created:
        admin.set_password(DEMO_PASSWORD)
        admin.save(update_fields=["password"])
    return admin
