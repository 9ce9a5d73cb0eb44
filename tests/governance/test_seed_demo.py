"""`seed_demo` with debug off: refused unless asked for explicitly, and then without the
well-known demo password (each new account gets a random one, printed once). With it, an
organisation: exceptions, subject requests and glossary terms in every state, two EU officers."""

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from catalog.models import Dataset
from governance.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS, Command
from governance.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LocalityRule,
    RecordedDecision,
    Responsibility,
    Term,
    TermStatus,
    TransferGrant,
)
from governance.notifications.services import officers_for
from monitoring.models import Incident, TelemetryEvent
from requests.models import ExceptionStatus, TransferException
from requests.models.subjects import (
    Channel,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
    VerificationState,
)
from requests.transfers.services import exception_transition

pytestmark = pytest.mark.django_db

USERNAMES = ["admin", *(username for username, *_ in DEMO_USERS)]


@pytest.fixture
def accounts_only(monkeypatch):
    """The login tests need the accounts, not the organisation around them (seeded below)."""
    monkeypatch.setattr(Command, "_seed_world", lambda *args: None)


def seed(*args: str, history_days: int = 0) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo", "--datasets", "1", "--history-days", str(history_days), *args, stdout=out
    )
    return out.getvalue()


def test_debug_off_refuses_without_the_flag(settings, accounts_only):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--allow-production"):
        seed()

    assert not get_user_model().objects.filter(username__in=USERNAMES).exists()


def test_debug_off_with_the_flag_never_sets_the_demo_password(settings, accounts_only):
    settings.DEBUG = False

    out = seed("--allow-production")

    users = get_user_model().objects.filter(username__in=USERNAMES)
    assert users.count() == len(USERNAMES)
    assert DEMO_PASSWORD not in out
    for user in users:
        assert not user.check_password(DEMO_PASSWORD)
        line = next(line for line in out.splitlines() if line.split()[:1] == [user.username])
        assert user.check_password(line.split()[-1])  # shown once, to whoever ran it


def test_debug_on_seeds_the_demo_logins(settings, accounts_only):
    settings.DEBUG = True

    out = seed()

    assert get_user_model().objects.get(username="admin").check_password(DEMO_PASSWORD)
    assert f"password '{DEMO_PASSWORD}'" in out


# --- The organisation the demo seeds -------------------------------------------------------
# Seeded once for the module, inside a transaction rolled back at its end; each test runs in a
# savepoint of it (pytest-django's `db`), so what a test does is undone too.


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(DEBUG=True, PASSWORD_HASHERS=hashers),
        transaction.atomic(),
    ):
        call_command("seed_demo", "--datasets", "1", "--history-days", "2", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def people() -> dict:
    return {user.username: user for user in get_user_model().objects.all()}


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            get_user_model(),
            Dataset,
            TransferException,
            TransferGrant,
            SubjectRequest,
            SubjectTask,
            Term,
            LedgerEntry,
            LedgerCheckpoint,
            TelemetryEvent,
            Incident,
            RecordedDecision,
        )
    }


def test_exceptions_in_every_state_and_grants_from_real_exceptions(seeded):
    statuses = set(TransferException.objects.values_list("status", flat=True))

    assert statuses == set(ExceptionStatus.values)
    grants = TransferGrant.objects.all()
    assert grants.exists()
    for grant in grants:
        exception = TransferException.objects.get(grant=grant)
        assert grant.reference == exception.reference
    expired = TransferException.objects.get(status=ExceptionStatus.EXPIRED)
    assert expired.ends_at < timezone.now() and expired.grant.valid_until < timezone.now()
    revoked = TransferException.objects.get(status=ExceptionStatus.REVOKED)
    assert revoked.grant.revoked_at is not None
    assert not TransferGrant.objects.filter(reference__startswith="demo-exc-").exists()


def test_a_four_eyes_exception_awaits_a_second_eu_officer_who_can_approve_it(seeded):
    waiting = TransferException.objects.get(
        status=ExceptionStatus.UNDER_REVIEW, approvals_required=2
    )
    first = waiting.approvals.get().approver
    everyone = people()
    eu_officers = set(officers_for(["eu"]).values_list("username", flat=True))
    assert {"priya", "marco"} <= eu_officers
    assert first.username == "priya"
    assert Responsibility.objects.filter(user__username="marco", jurisdiction_id="eu").exists()

    approved = exception_transition(
        actor=everyone["marco"], exception=waiting, action="approve", comment="Second pair"
    )

    assert approved.status == ExceptionStatus.ACTIVE
    assert approved.grant is not None and approved.grant.reference == approved.reference


def test_subject_requests_in_every_state_and_several_laws(seeded):
    asked = SubjectRequest.objects.all()
    statuses = set(asked.values_list("status", flat=True))
    today = timezone.now().date()

    assert {
        SubjectRequestStatus.AWAITING_VERIFICATION,
        SubjectRequestStatus.IN_PROGRESS,
        SubjectRequestStatus.PAUSED,
        SubjectRequestStatus.READY,
        SubjectRequestStatus.COMPLETED,
        SubjectRequestStatus.REJECTED,
    } <= statuses
    assert {"eu", "uk", "us-ca", "br", "in"} <= set(asked.values_list("jurisdiction", flat=True))
    overdue = asked.get(
        status=SubjectRequestStatus.IN_PROGRESS, deadline__lt=today, extended_deadline=None
    )
    assert overdue.received_at.date() < overdue.deadline
    extended = asked.get(extended_deadline__isnull=False)
    assert extended.extension_reason and extended.extended_deadline > extended.deadline
    assert extended.events.filter(action="extend").exists()
    owners = SubjectTask.objects.filter(
        status=TaskStatus.OPEN, request__status=SubjectRequestStatus.IN_PROGRESS
    ).values_list("owner__username", flat=True)
    assert {"omar", "dana"} <= set(owners)
    ready = asked.get(status=SubjectRequestStatus.READY)
    assert not ready.tasks.exclude(status=TaskStatus.DONE).exists()


def test_a_phone_request_was_verified_by_an_officer(seeded):
    phoned = SubjectRequest.objects.get(channel=Channel.PHONE)

    assert phoned.verification == VerificationState.VERIFIED
    assert phoned.status == SubjectRequestStatus.IN_PROGRESS
    assert "Identity verified by an officer" in phoned.events.get(action="verify").comment


def test_glossary_terms_in_draft_review_and_approved(seeded):
    statuses = set(Term.objects.values_list("status", flat=True))

    assert {TermStatus.DRAFT, TermStatus.IN_REVIEW, TermStatus.APPROVED} <= statuses
    for term in Term.objects.filter(status=TermStatus.APPROVED):
        version = term.versions.get(version=term.version)
        assert version.proposer_name != version.actor_name  # never approved by its proposer


def test_a_locality_rule_matches_by_an_approved_glossary_term(seeded):
    rule = LocalityRule.objects.get(term__isnull=False)

    assert rule.term.status == TermStatus.APPROVED
    assert set(rule.term.categories.values_list("code", flat=True)) == {"biometric", "health"}


def test_decisions_recorded_and_the_log_signed(seeded):
    assert RecordedDecision.objects.filter(status=RecordedDecision.Status.ACCEPTED).exists()
    assert RecordedDecision.objects.filter(status=RecordedDecision.Status.PROPOSED).exists()
    checkpoint = LedgerCheckpoint.objects.get()
    assert checkpoint.sequence == LedgerEntry.objects.order_by("-sequence").first().sequence


def test_seeding_again_changes_nothing(seeded, settings):
    settings.DEBUG = True
    before = counts()

    out = seed(history_days=2)

    assert counts() == before
    assert "History: older telemetry is already there." in out


def test_a_history_of_telemetry_with_incidents_handled_over_time(seeded):
    now = timezone.now()
    oldest = TelemetryEvent.objects.order_by("occurred_at").first()
    assert now - oldest.occurred_at > dt.timedelta(days=1, hours=20)
    resolved = Incident.objects.filter(status=Incident.Status.RESOLVED)
    assert resolved.exists()
    assert all(now - i.resolved_at > dt.timedelta(hours=7) for i in resolved)  # 6 periods
    assert all(i.opened_at <= i.acknowledged_at <= i.resolved_at for i in resolved)
