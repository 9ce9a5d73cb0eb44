"""The keys that seal subjects' data: several keys (the first seals, each unseals), a value no
key opens raising and being reported instead of reading as empty, and `rotate_subject_key`
re-sealing everything under the first key, in batches, safely run twice."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from requests import sealing
from requests.management.commands.rotate_subject_key import sealed_fields
from requests.models import DatasetConnector, SubjectPackage, SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus, TaskStatus
from requests.sealing import SealedDataUnreadable, seal, seal_bytes, unseal, unseal_bytes
from requests.subjects import packages, verification, work
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

OLD, NEW, STRANGER = "the-old-subject-key", "the-new-subject-key", "a-key-nobody-used"
EMAIL = "rita.rotation@example.org"


def _request(**changes) -> SubjectRequest:
    today = timezone.now().date()
    fields = {
        "type": "access",
        "jurisdiction_id": "eu",
        "sealed": seal({"identifiers": {"email": EMAIL}, "details": "all of it"}),
        "subject_key": "subject:test",
        "received_at": timezone.now(),
        "deadline": today + dt.timedelta(days=30),
        "status": SubjectRequestStatus.IN_PROGRESS,
        **changes,
    }
    return SubjectRequest.objects.create(**fields)


def _task(request: SubjectRequest, owner, slug: str, **changes) -> SubjectTask:
    dataset = make_dataset(owner, slug=slug, personal_data_categories=["contact"])
    fields = {
        "request": request,
        "dataset": dataset,
        "dataset_slug": slug,
        "owner": owner,
        "due_on": timezone.now().date(),
        "export_sealed": seal([{"email": EMAIL, "plan": "gold"}]),
        **changes,
    }
    return SubjectTask.objects.create(**fields)


def _package(request: SubjectRequest) -> SubjectPackage:
    return SubjectPackage.objects.create(
        request=request,
        kind=SubjectPackage.Kind.EXPORT,
        filename="export.zip",
        content_sealed=seal_bytes(b"PK zip bytes"),
        size=12,
        sha256="0" * 64,
        token_hash="1" * 64,
        expires_at=timezone.now() + dt.timedelta(days=14),
    )


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_subject_key", *args, stdout=out)
    return out.getvalue()


# --- Several keys ---------------------------------------------------------------------------


def test_the_first_key_seals_and_every_key_unseals(settings):
    settings.SUBJECT_DATA_KEY = OLD
    old_token = seal({"email": EMAIL})

    settings.SUBJECT_DATA_KEY = f"{NEW}, {OLD}"
    new_token = seal({"email": EMAIL})

    assert unseal(old_token) == unseal(new_token) == {"email": EMAIL}
    assert not sealing.is_current(old_token.encode())
    assert sealing.is_current(new_token.encode())
    settings.SUBJECT_DATA_KEY = NEW
    assert unseal(new_token) == {"email": EMAIL}
    with pytest.raises(SealedDataUnreadable):
        unseal(old_token)


def test_nothing_stored_is_not_an_error(settings):
    assert unseal("", {}) == {}
    assert unseal("", []) == []


# --- A value no key opens ---------------------------------------------------------------------


def test_a_value_no_key_opens_raises_and_is_logged(settings, caplog, data_owner):
    settings.SUBJECT_DATA_KEY = OLD
    request = _request()
    task = _task(request, data_owner, "crm")
    package = _package(request)

    settings.SUBJECT_DATA_KEY = STRANGER
    request.refresh_from_db()
    with caplog.at_level(logging.ERROR, logger="locus.sealing"):
        with pytest.raises(SealedDataUnreadable, match="cannot be decrypted"):
            request.identifiers  # noqa: B018  (the property is the read under test)
        with pytest.raises(SealedDataUnreadable):
            request.details  # noqa: B018
        with pytest.raises(SealedDataUnreadable):
            task.export_rows  # noqa: B018
        with pytest.raises(SealedDataUnreadable):
            unseal_bytes(package.content_sealed)

    assert len([r for r in caplog.records if "cannot be decrypted" in r.getMessage()]) == 4
    assert EMAIL not in caplog.text
    assert request.identifiers_shown == {"sealed identifiers": "cannot be decrypted"}


def test_pages_and_answers_say_cannot_be_decrypted(settings, client, api_client, eu_officer):
    settings.SUBJECT_DATA_KEY = OLD
    request = _request()
    settings.SUBJECT_DATA_KEY = STRANGER
    client.force_login(eu_officer)

    page = client.get(reverse("workflows:subject-detail", args=[request.pk]))
    answer = api_client(eu_officer).get(f"/api/v1/subject-requests/{request.pk}/")

    assert page.status_code == 200
    assert "cannot be decrypted" in page.content.decode()
    assert answer.status_code == 200
    assert answer.json()["identifiers"] == {"sealed identifiers": "cannot be decrypted"}


def test_a_connector_whose_identifiers_cannot_be_decrypted_fails_the_task(settings, data_owner):
    settings.SUBJECT_DATA_KEY = OLD
    request = _request()
    task = _task(request, data_owner, "crm", automatic=True, export_sealed="")
    DatasetConnector.objects.create(
        dataset=task.dataset, kind="sql", table="customers", identifier_column="email"
    )
    settings.SUBJECT_DATA_KEY = STRANGER

    outcome = work.connector_run(task_id=task.pk)

    task.refresh_from_db()
    assert outcome == "failed"
    assert task.status == TaskStatus.FAILED
    assert "cannot be decrypted" in task.last_error
    assert EMAIL not in task.last_error


# --- Rotation ----------------------------------------------------------------------------------


@pytest.fixture
def sealed_under_old(settings, data_owner, other_owner):
    """Two requests, three tasks (one without an export), a package: all under OLD."""
    settings.SUBJECT_DATA_KEY = OLD
    first, second = _request(), _request(subject_key="subject:second")
    tasks = [
        _task(first, data_owner, "crm"),
        _task(first, other_owner, "billing"),
        _task(second, data_owner, "crm-2", export_sealed=""),
    ]
    return first, second, tasks, _package(first)


def test_rotation_reseals_everything_under_the_first_key(settings, sealed_under_old):
    *_, tasks, _ = sealed_under_old
    settings.SUBJECT_DATA_KEY = f"{NEW},{OLD}"

    report = rotate("--batch-size", "1")

    assert "workflows.SubjectRequest.sealed: 2 re-sealed, 0 already under" in report
    assert (
        "workflows.SubjectTask.export_sealed: 2 re-sealed, 0 already under the first key, 1 empty"
        in report
    )
    assert "workflows.SubjectPackage.content_sealed: 1 re-sealed" in report
    settings.SUBJECT_DATA_KEY = NEW  # the old key dropped: everything still reads
    for request in SubjectRequest.objects.all():
        assert request.identifiers == {"email": EMAIL}
    assert SubjectTask.objects.get(pk=tasks[0].pk).export_rows == [{"email": EMAIL, "plan": "gold"}]
    assert SubjectTask.objects.get(pk=tasks[2].pk).export_rows == []
    assert unseal_bytes(SubjectPackage.objects.get().content_sealed) == b"PK zip bytes"


def test_rotation_run_twice_changes_nothing_the_second_time(settings, sealed_under_old):
    settings.SUBJECT_DATA_KEY = f"{NEW},{OLD}"
    rotate()
    sealed = list(SubjectRequest.objects.order_by("pk").values_list("sealed", flat=True))

    again = rotate()

    assert "workflows.SubjectRequest.sealed: 0 re-sealed, 2 already under the first key" in again
    assert "workflows.SubjectPackage.content_sealed: 0 re-sealed, 1 already" in again
    assert list(SubjectRequest.objects.order_by("pk").values_list("sealed", flat=True)) == sealed


def test_a_dry_run_counts_and_changes_nothing(settings, sealed_under_old):
    settings.SUBJECT_DATA_KEY = f"{NEW},{OLD}"
    before = list(SubjectRequest.objects.order_by("pk").values_list("sealed", flat=True))

    report = rotate("--dry-run")

    assert "workflows.SubjectRequest.sealed: 2 re-sealed (dry run)" in report
    after = list(SubjectRequest.objects.order_by("pk").values_list("sealed", flat=True))
    assert after == before


def test_rotation_reports_values_no_key_opens_and_fails(settings, sealed_under_old):
    settings.SUBJECT_DATA_KEY = STRANGER
    _request(subject_key="subject:stranger")  # sealed under STRANGER
    settings.SUBJECT_DATA_KEY = f"{NEW},{STRANGER}"  # OLD was lost

    with pytest.raises(CommandError, match="5 sealed value"):
        out = io.StringIO()
        call_command("rotate_subject_key", stdout=out)

    assert (
        "workflows.SubjectRequest.sealed: 1 re-sealed, 0 already under the first key, "
        "0 empty, 2 cannot be decrypted" in out.getvalue()
    )
    # The unreadable values are left as they were, for whoever finds the lost key.
    settings.SUBJECT_DATA_KEY = OLD
    assert SubjectRequest.objects.order_by("pk").first().identifiers == {"email": EMAIL}


def test_rotation_finds_every_sealed_column():
    found = {f"{model._meta.label}.{field.name}" for model, field in sealed_fields()}

    assert {
        "workflows.SubjectRequest.sealed",
        "workflows.SubjectTask.export_sealed",
        "workflows.SubjectPackage.content_sealed",
    } <= found


def test_a_batch_skips_a_row_rewritten_meanwhile(settings, sealed_under_old):
    """The compare-and-swap: a row whose value changed since it was read is not overwritten."""
    from requests.management.commands import rotate_subject_key as command

    first, *_ = sealed_under_old
    settings.SUBJECT_DATA_KEY = f"{NEW},{OLD}"
    stale = SubjectRequest.objects.get(pk=first.pk).sealed
    fresh = seal({"identifiers": {"email": "changed@example.org"}, "details": ""})
    SubjectRequest.objects.filter(pk=first.pk).update(sealed=fresh)
    counts = command.Counts()

    field = SubjectRequest._meta.get_field("sealed")
    command._rotate_row(SubjectRequest, field, first.pk, stale, counts, dry_run=False)

    assert SubjectRequest.objects.get(pk=first.pk).sealed == fresh
    assert (counts.resealed, counts.current) == (0, 1)


def test_links_already_sent_survive_a_new_key_put_first(settings):
    """Codes and package links are kept as HMACs under the oldest listed key."""
    settings.SUBJECT_DATA_KEY = OLD
    issued = verification.secret_hash(7, "package", "the-link-token")

    settings.SUBJECT_DATA_KEY = f"{NEW},{OLD}"

    assert verification.secret_hash(7, "package", "the-link-token") == issued


def test_a_package_that_cannot_be_decrypted_is_a_plain_503_for_the_subject(
    settings, client, caplog
):
    settings.SUBJECT_DATA_KEY = STRANGER
    request = _request(status=SubjectRequestStatus.COMPLETED)
    package = _package(request)
    settings.SUBJECT_DATA_KEY = NEW  # the key that sealed it is gone
    SubjectPackage.objects.filter(pk=package.pk).update(
        token_hash=packages._package_token_hash(request.pk, "the-link-token")
    )

    with caplog.at_level(logging.ERROR, logger="locus.sealing"):
        answer = client.get(
            reverse("workflows:subject-package", args=[request.pk, "the-link-token"])
        )

    assert answer.status_code == 503
    assert "cannot be decrypted" in answer.content.decode()
    assert "SUBJECT_DATA_KEY" not in answer.content.decode()
    assert f"package of DSR-{request.pk} cannot be decrypted" in caplog.text
