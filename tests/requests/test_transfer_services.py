"""The transfer-exception workflow's services: every transition, who may take it, its effect on
the policy engine, the periodic task, and notifications on commit only."""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from catalog.models import Region
from governance.errors import StateConflict
from governance.models import LedgerEntry, Notification
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from governance.roles import Role
from requests.models import ExceptionStatus as S
from requests.models import TransferException
from requests.transfers import selectors, services, workflow
from tests.factories import UserFactory, make_dataset

US = "aws:us-east-1"
EU = "aws:eu-west-1"


def ask(requester, datasets, purpose, *, regions=(US,), days=10, start=None, **terms):
    start = start or timezone.now()
    fields = {
        "mechanism": "scc",
        "scc_module": "c2p",
        "justification": "Train the ranking model on US GPUs for two weeks",
        "tia_risks": ["US surveillance law (FISA 702)"],
        "tia_measures": ["encryption_in_transit", "pseudonymisation"],
        **terms,
    }
    return services.exception_create(
        actor=requester,
        datasets=list(datasets),
        destination_regions=[Region.objects.get(code=code) for code in regions],
        purpose=purpose,
        starts_at=start,
        ends_at=start + dt.timedelta(days=days),
        **fields,
    )


def step(actor, exception, action, comment=""):
    return services.exception_transition(
        actor=actor, exception=exception, action=action, comment=comment
    )


def engine_says(dataset, region, purpose, at=None):
    return evaluate(
        current_index(), dataset.slug, "train", region, purpose.pk, at or timezone.now()
    )


# --- Filing -----------------------------------------------------------------------------------


def test_a_draft_is_filed_with_the_storage_region_as_source(data_owner, eu_dataset, purpose):
    exception = ask(data_owner, [eu_dataset], purpose)
    assert exception.status == S.DRAFT
    assert list(exception.source_regions.values_list("code", flat=True)) == [EU]
    assert exception.events.get().action == "create"
    assert LedgerEntry.objects.filter(kind="exception.created").count() == 1


def test_an_end_before_the_start_is_refused(data_owner, eu_dataset, purpose):
    with pytest.raises(ValidationError) as err:
        ask(data_owner, [eu_dataset], purpose, days=-1)
    assert "ends_at" in err.value.message_dict
    assert not TransferException.objects.exists()


def test_an_art49_derogation_is_capped(data_owner, eu_dataset, purpose, settings):
    with pytest.raises(ValidationError) as err:
        ask(
            data_owner,
            [eu_dataset],
            purpose,
            days=settings.EXCEPTION_MAX_DAYS["art49"] + 1,
            mechanism="art49",
            scc_module="",
            derogation="49_1_a",
        )
    assert "at most 30 days" in err.value.message_dict["ends_at"][0]


def test_mechanism_details_must_match_the_mechanism(data_owner, eu_dataset, purpose):
    with pytest.raises(ValidationError) as err:
        ask(data_owner, [eu_dataset], purpose, scc_module="")
    assert "scc_module" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        ask(data_owner, [eu_dataset], purpose, mechanism="art49")  # keeps its SCC module
    assert set(err.value.message_dict) == {"scc_module", "derogation"}


def test_unknown_supplementary_measures_are_named(data_owner, eu_dataset, purpose):
    with pytest.raises(ValidationError) as err:
        ask(data_owner, [eu_dataset], purpose, tia_measures=["prayer"])
    assert "prayer" in err.value.message_dict["tia_measures"][0]


def test_a_destination_the_rules_allow_is_not_filed(data_owner, eu_dataset, purpose):
    with pytest.raises(ValidationError) as err:
        ask(data_owner, [eu_dataset], purpose, regions=(EU,))
    assert EU in err.value.message_dict["destination_regions"][0]
    assert not TransferException.objects.exists()


def test_people_without_a_requesting_role_cannot_ask(outsider, executive, eu_dataset, purpose):
    for person in (outsider, executive):
        with pytest.raises(PermissionDenied):
            ask(person, [eu_dataset], purpose)


# --- Review -----------------------------------------------------------------------------------


def test_submit_gives_it_to_the_officers_of_its_jurisdiction_only(
    data_owner,
    eu_officer,
    cn_officer,
    eu_dataset,
    purpose,
    django_capture_on_commit_callbacks,
    celery_eager,
):
    exception = ask(data_owner, [eu_dataset], purpose)
    with django_capture_on_commit_callbacks(execute=True):
        exception = step(data_owner, exception, "submit")
    assert exception.status == S.SUBMITTED
    assert exception.approvals_required == 1
    assert workflow.is_reviewer(eu_officer, exception)
    assert not workflow.is_reviewer(cn_officer, exception)
    assert list(selectors.exceptions_visible_to(cn_officer)) == []
    assert list(selectors.exceptions_visible_to(eu_officer)) == [exception]
    assert Notification.objects.get(recipient=eu_officer).kind == "exception.submitted"
    assert not Notification.objects.filter(recipient=cn_officer).exists()
    assert [m.to for m in mail.outbox] == [[eu_officer.email]]


def test_notifications_are_not_sent_when_the_transaction_rolls_back(
    data_owner, eu_officer, eu_dataset, purpose, django_capture_on_commit_callbacks
):
    exception = ask(data_owner, [eu_dataset], purpose)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        step(data_owner, exception, "submit")
    # The e-mail waits for the commit: nothing was sent while the transaction was open.
    assert mail.outbox == []
    assert len(callbacks) == 1


def test_the_requester_can_never_approve(privacy_officer, eu_dataset, purpose):
    """A privacy officer may ask too, and is then never among the reviewers."""
    other = UserFactory(username="paula-privacy", roles=[Role.PRIVACY_OFFICER])
    exception = step(privacy_officer, ask(privacy_officer, [eu_dataset], purpose), "submit")
    with pytest.raises(PermissionDenied, match="own"):
        step(privacy_officer, exception, "approve")
    assert step(other, exception, "approve").status == S.ACTIVE


def test_an_officer_of_another_jurisdiction_cannot_decide(
    data_owner, eu_officer, cn_officer, eu_dataset, purpose
):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose), "submit")
    for action in ("approve", "reject", "request_changes", "start_review"):
        with pytest.raises(PermissionDenied):
            step(cn_officer, exception, action, "no")
    assert TransferException.objects.get().status == S.SUBMITTED


@pytest.mark.parametrize(
    ("action", "allowed_from"),
    [(action, move.sources) for action, move in workflow.TRANSITIONS.items()],
)
def test_each_transition_is_refused_from_every_other_state(
    action, allowed_from, data_owner, eu_officer, eu_dataset, purpose
):
    exception = ask(data_owner, [eu_dataset], purpose)
    actor = {
        "requester": data_owner,
        "reviewer": eu_officer,
        "system": None,
    }[workflow.ACTED_BY[action]]
    workflow.review_grant(exception, [eu_officer])
    for status in S.values:
        if status in allowed_from:
            continue
        TransferException.objects.filter(pk=exception.pk).update(status=status)
        with pytest.raises(StateConflict):
            step(actor, exception, action, "a reason")
        assert TransferException.objects.get(pk=exception.pk).status == status


def test_the_whole_way_from_draft_to_expiry(
    data_owner, eu_officer, eu_dataset, purpose, django_capture_on_commit_callbacks
):
    start = timezone.now() + dt.timedelta(hours=1)
    exception = ask(data_owner, [eu_dataset], purpose, start=start)
    assert engine_says(eu_dataset, US, purpose, start).outcome == "deny"
    exception = step(data_owner, exception, "submit")
    exception = step(eu_officer, exception, "start_review")
    exception = step(eu_officer, exception, "request_changes", "Add pseudonymisation")
    assert exception.status == S.CHANGES_REQUESTED
    exception = services.exception_update(
        actor=data_owner, exception=exception, tia_measures=["pseudonymisation"]
    )
    exception = step(data_owner, exception, "submit")
    assert exception.review_round == 2
    with django_capture_on_commit_callbacks(execute=True):
        exception = step(eu_officer, exception, "approve", "Fine with SCCs")
    assert exception.status == S.APPROVED  # its start has not come yet
    grant = exception.grant
    assert grant.valid_from == start and grant.valid_until == exception.ends_at
    assert grant.reference == exception.reference
    assert engine_says(eu_dataset, US, purpose, start - dt.timedelta(minutes=1)).outcome == "deny"
    decision = engine_says(eu_dataset, US, purpose, start)
    assert (decision.outcome, decision.grant_id) == ("allow_with_grant", grant.pk)
    assert Notification.objects.filter(recipient=data_owner, kind="exception.approved").exists()

    assert services.exceptions_due(now=start)["activated"] == 1
    assert TransferException.objects.get().status == S.ACTIVE
    end = exception.ends_at
    assert services.exceptions_due(now=end)["expired"] == 1
    assert TransferException.objects.get().status == S.EXPIRED
    assert engine_says(eu_dataset, US, purpose, end).outcome == "deny"
    kinds = list(
        LedgerEntry.objects.filter(kind__startswith="exception.").values_list("kind", flat=True)
    )
    assert kinds == [
        "exception.created",
        "exception.submitted",
        "exception.under_review",
        "exception.changes_requested",
        "exception.edited",
        "exception.submitted",
        "exception.approved",
        "exception.active",
        "exception.expired",
    ]
    actions = list(exception.events.values_list("action", flat=True))
    assert actions[-2:] == ["activate", "expire"]


def test_approval_after_the_start_is_honoured_from_the_approval(
    data_owner, eu_officer, eu_dataset, purpose
):
    start = timezone.now() - dt.timedelta(days=1)
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose, start=start), "submit")
    before = timezone.now()
    exception = step(eu_officer, exception, "approve")
    assert exception.status == S.ACTIVE
    assert exception.grant.valid_from >= before
    assert engine_says(eu_dataset, US, purpose, start).outcome == "deny"
    assert engine_says(eu_dataset, US, purpose).outcome == "allow_with_grant"


def test_revocation_is_immediate_and_needs_a_reason(data_owner, eu_officer, eu_dataset, purpose):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose), "submit")
    exception = step(eu_officer, exception, "approve")
    assert engine_says(eu_dataset, US, purpose).outcome == "allow_with_grant"
    with pytest.raises(ValidationError) as err:
        step(eu_officer, exception, "revoke")
    assert "comment" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        step(data_owner, exception, "revoke", "I changed my mind")
    exception = step(eu_officer, exception, "revoke", "The vendor lost its certification")
    assert exception.status == S.REVOKED
    exception.grant.refresh_from_db()
    assert exception.grant.revoke_reason == "The vendor lost its certification"
    assert engine_says(eu_dataset, US, purpose).outcome == "deny"
    assert services.exceptions_due(now=exception.ends_at) == {
        "expired": 0,
        "lapsed": 0,
        "activated": 0,
        "reminded": 0,
    }


def test_rejection_creates_no_grant(data_owner, eu_officer, eu_dataset, purpose):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose), "submit")
    exception = step(eu_officer, exception, "reject", "Use the EU cluster")
    assert (exception.status, exception.grant) == (S.REJECTED, None)
    assert engine_says(eu_dataset, US, purpose).outcome == "deny"


def test_the_requester_withdraws(data_owner, eu_officer, eu_dataset, purpose):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose), "submit")
    with pytest.raises(PermissionDenied):
        step(eu_officer, exception, "withdraw")
    assert step(data_owner, exception, "withdraw").status == S.WITHDRAWN


def test_only_drafts_and_sent_back_exceptions_are_edited(
    data_owner, other_owner, eu_officer, eu_dataset, purpose
):
    exception = ask(data_owner, [eu_dataset], purpose)
    with pytest.raises(PermissionDenied):
        services.exception_update(actor=other_owner, exception=exception, title="Mine now")
    step(data_owner, exception, "submit")
    with pytest.raises(StateConflict):
        services.exception_update(actor=data_owner, exception=exception, title="Sneaky")
    assert TransferException.objects.get().title != "Sneaky"


# --- Four eyes --------------------------------------------------------------------------------


def test_restricted_data_needs_two_different_approvers(
    data_owner, eu_officer, second_eu_officer, purpose
):
    secret = make_dataset(
        owner=data_owner,
        slug="eu-health",
        sensitivity="restricted",
        allowed_processing_regions=[EU],
        jurisdiction="eu",
    )
    exception = step(data_owner, ask(data_owner, [secret], purpose), "submit")
    assert (exception.approvals_required, exception.risk) == (2, "high")
    exception = step(eu_officer, exception, "approve")
    assert (exception.status, exception.grant) == (S.UNDER_REVIEW, None)
    assert engine_says(secret, US, purpose).outcome == "deny"
    with pytest.raises(StateConflict, match="another privacy officer"):
        step(eu_officer, exception, "approve")
    exception = step(second_eu_officer, exception, "approve")
    assert exception.status == S.ACTIVE
    assert exception.grant.approved_by == second_eu_officer
    assert engine_says(secret, US, purpose).outcome == "allow_with_grant"
    assert LedgerEntry.objects.filter(kind="exception.approval").count() == 1


def test_an_art49_transfer_needs_two_approvers(data_owner, eu_officer, eu_dataset, purpose):
    exception = ask(
        data_owner, [eu_dataset], purpose, mechanism="art49", scc_module="", derogation="49_1_a"
    )
    assert step(data_owner, exception, "submit").approvals_required == 2


def test_approvals_of_an_earlier_round_do_not_count(
    data_owner, eu_officer, second_eu_officer, purpose
):
    secret = make_dataset(
        owner=data_owner, sensitivity="restricted", allowed_processing_regions=[EU]
    )
    exception = step(data_owner, ask(data_owner, [secret], purpose), "submit")
    step(eu_officer, exception, "approve")
    step(second_eu_officer, exception, "request_changes", "Shorter please")
    services.exception_update(
        actor=data_owner, exception=exception, ends_at=exception.starts_at + dt.timedelta(days=3)
    )
    exception = step(data_owner, exception, "submit")
    exception = step(second_eu_officer, exception, "approve")
    assert exception.status == S.UNDER_REVIEW
    assert step(eu_officer, exception, "approve").status == S.ACTIVE


# --- The periodic task ------------------------------------------------------------------------


def test_expiry_notices_go_out_once_per_threshold(data_owner, eu_officer, eu_dataset, purpose):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose, days=10), "submit")
    exception = step(eu_officer, exception, "approve")
    six_days_before = exception.ends_at - dt.timedelta(days=6)
    assert services.exceptions_due(now=six_days_before)["reminded"] == 1
    assert services.exceptions_due(now=six_days_before)["reminded"] == 0
    hours_before = exception.ends_at - dt.timedelta(hours=5)
    assert services.exceptions_due(now=hours_before)["reminded"] == 1
    notices = Notification.objects.filter(kind="exception.expiring")
    assert sorted(notices.values_list("recipient__username", flat=True)) == sorted(
        [data_owner.username, eu_officer.username] * 2
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_at_once_expire_each_exception_once(
    data_owner, eu_officer, eu_dataset, purpose
):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    datasets = [eu_dataset] + [
        make_dataset(owner=data_owner, allowed_processing_regions=[EU]) for _ in range(4)
    ]
    exceptions = [
        step(
            eu_officer,
            step(data_owner, ask(data_owner, [ds], purpose, days=d), "submit"),
            "approve",
        )
        for d, ds in enumerate(datasets, start=1)
    ]
    later = max(e.ends_at for e in exceptions) + dt.timedelta(seconds=1)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(services.exceptions_due(now=later))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["expired"] for r in results) == 5
    assert set(TransferException.objects.values_list("status", flat=True)) == {S.EXPIRED}
    assert LedgerEntry.objects.filter(kind="exception.expired").count() == 5
    assert Notification.objects.filter(kind="exception.expired").count() == 5 * 2


def test_an_exception_undecided_when_its_period_ends_lapses(
    data_owner, eu_officer, eu_dataset, purpose
):
    exception = step(data_owner, ask(data_owner, [eu_dataset], purpose, days=3), "submit")
    draft = ask(
        data_owner,
        [make_dataset(owner=data_owner, allowed_processing_regions=[EU])],
        purpose,
        days=3,
    )
    assert services.exceptions_due(now=draft.ends_at)["lapsed"] == 2
    for lapsed in (exception, draft):
        lapsed.refresh_from_db()
        assert lapsed.status == S.EXPIRED
        assert lapsed.grant is None
    assert (
        Notification.objects.filter(kind="exception.lapsed", recipient=eu_officer).count() == 1
    )  # the draft was never given to a reviewer
    with pytest.raises(StateConflict):
        step(eu_officer, exception, "approve")


def test_a_blank_title_on_edit_gets_the_default(data_owner, eu_dataset, purpose):
    exception = ask(data_owner, [eu_dataset], purpose, title="Mine")
    exception = services.exception_update(actor=data_owner, exception=exception, title=" ")
    assert exception.title == f"{eu_dataset.slug} to {US}"
