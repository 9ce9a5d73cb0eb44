"""Seed a believable organisation: its people (two privacy officers for the EU), its catalog,
rules, transfer exceptions in every state with the grants approved ones made, subject requests
in every state under several laws, a glossary under review, and a month of telemetry with the
incidents it opened, handled over time. Everything goes through the product's own services.
Safe to run again.

With debug off (a production settings file) it refuses unless given --allow-production, and
even then never sets the well-known demo password: each new account gets a random one, printed
once.
"""

import secrets
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catalog.demo import seed_catalog
from governance.demo import seed_checkpoint, seed_governance
from governance.glossary.demo import seed_glossary
from governance.models import Responsibility
from governance.roles import Role, ensure_roles

DEMO_PASSWORD = "locus-demo"

DEMO_USERS = [
    ("priya", "Priya", "Raman", Role.PRIVACY_OFFICER),
    ("marco", "Marco", "Bianchi", Role.PRIVACY_OFFICER),
    ("elena", "Elena", "Costa", Role.EXECUTIVE),
    ("omar", "Omar", "Haddad", Role.DATA_OWNER),
    ("dana", "Dana", "Kim", Role.DATA_OWNER),
    ("eli", "Eli", "Novak", Role.ENGINEER),
    ("aude", "Aude", "Laurent", Role.AUDITOR),
]

# Officers given jurisdictions answer for those alone; one given none answers for all. Priya
# answers for every jurisdiction, Marco for the EU: the EU's four-eyes exceptions have two.
RESPONSIBILITIES = {"marco": ["eu"]}


class Command(BaseCommand):
    help = "Create demo users (one per role, password 'locus-demo') and a demo catalog; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--datasets", type=int, default=200, help="How many datasets at least")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DJANGO_DEBUG off; new accounts then get random passwords",
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=30,
            metavar="DAYS",
            help="Simulate this many days of past telemetry, with the incidents it opened "
            "(once: skipped when older telemetry is there; 0: none)",
        )

    def handle(self, *args, datasets: int, allow_production: bool, history_days: int, **options):
        if history_days < 0:
            raise CommandError("--history-days is 0 or more")
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DJANGO_DEBUG is off: this looks like production, and seed_demo creates demo "
                "accounts (a superuser among them). Give --allow-production to seed anyway."
            )
        # A password everyone can read in the docs only where debug is on (a developer's machine).
        password = DEMO_PASSWORD if settings.DEBUG else None
        with transaction.atomic():
            created = self._seed(datasets, password)
        if history_days:
            self._history(history_days)
        # Signed last, once all of the above is on the log.
        auditor = get_user_model().objects.get(username="aude")
        if seed_checkpoint(auditor):
            self.stdout.write("Decision log: its head signed in a checkpoint.")
        self._logins(password, created)

    def _seed(self, datasets: int, password: str | None) -> dict[str, str | None]:
        ensure_roles()
        users: dict[str, list[AbstractUser]] = {role: [] for role in Role.values}
        created = {}
        for username, first, last, role in DEMO_USERS:
            user, created[username] = _demo_user(username, first, last, role, password)
            users[role].append(user)
        created["admin"] = _demo_admin(password)[1]
        people = {user.username: user for group in users.values() for user in group}
        for username, codes in RESPONSIBILITIES.items():
            for code in codes:
                Responsibility.objects.get_or_create(user=people[username], jurisdiction_id=code)
        self._seed_world(people, users, datasets)
        return created

    def _seed_world(self, people: dict, users: dict[str, list[AbstractUser]], datasets: int):
        """Everything but the accounts: catalog, rules, glossary, workflows."""
        result = seed_catalog(owners=users[Role.DATA_OWNER], target=datasets)
        self.stdout.write(
            f"Catalog: {result['datasets']} datasets ({result['datasets_created']} new), "
            f"{result['lineage_edges_created']} new lineage edges."
        )
        governance = seed_governance(
            officer=users[Role.PRIVACY_OFFICER][0], engineer=users[Role.ENGINEER][0]
        )
        self.stdout.write(
            f"Governance: {governance['rules']} new locality rules, "
            f"{governance['training_runs']} new training runs, "
            f"{governance['decisions']} new recorded decisions."
        )
        self.stdout.write(f"Glossary: {seed_glossary(people)} new terms.")
        # The workflows live in requests/, to the right of governance: the command composes.
        from requests.demo import seed_workflows

        workflows = seed_workflows(people)
        self.stdout.write(
            f"Workflows: {workflows['exceptions']} new transfer exceptions, "
            f"{workflows['subject_requests']} new subject requests."
        )

    def _history(self, days: int) -> None:
        """Simulated telemetry over the last `days` days, through ingest (once)."""
        # Telemetry lives in monitoring/, the rightmost app: the command composes.
        from monitoring.demo import seed_history

        officer = get_user_model().objects.get(username=DEMO_USERS[0][0])
        started = time.monotonic()
        history = seed_history(officer=officer, days=days)
        if history is None:
            self.stdout.write("History: older telemetry is already there.")
            return
        self.stdout.write(
            f"History: {history.totals.stored} events over {days} days "
            f"({history.totals.violations} violations), {history.incidents_opened} incidents "
            f"opened, {history.incidents_resolved} resolved since "
            f"({time.monotonic() - started:.1f} s)."
        )

    def _logins(self, password: str | None, created: dict[str, str | None]) -> None:
        """The demo logins; with random passwords, those of the accounts made just now."""
        if password:
            self.stdout.write(f"Demo logins (password '{password}'):")
        else:
            self.stdout.write("Demo logins (new accounts' random passwords, shown only now):")
        roles = {username: Role(role).label for username, _f, _l, role in DEMO_USERS}
        roles["admin"] = "Superuser (Django admin at /admin/)"
        for username, label in roles.items():
            shown = f"  {created[username]}" if not password and created[username] else ""
            self.stdout.write(f"  {username:<8} {label}{shown}")


def _new_password(password: str | None, user) -> str:
    """Set the demo password, or a random one (returned, to show once)."""
    chosen = password or secrets.token_urlsafe(18)
    user.set_password(chosen)
    user.save(update_fields=["password"])
    return chosen


def _demo_user(username: str, first: str, last: str, role: str, password: str | None):
    """The demo account (made if missing) and the password it was given now, if made now."""
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@locus.example"},
    )
    given = _new_password(password, user) if created else None
    user.groups.add(Group.objects.get(name=role))
    return user, given


def _demo_admin(password: str | None):
    """The demo superuser (made if missing) and the password it was given now, if made now."""
    admin, created = get_user_model().objects.get_or_create(
        username="admin",
        defaults={"is_staff": True, "is_superuser": True, "email": "admin@locus.example"},
    )
    return admin, _new_password(password, admin) if created else None
