"""Issue 9's security gates on the data-subject request workflow: every upload has a size limit
and a content check (page and API answer 400 naming the field), and the package's download
link expires and is bound to its request."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import datetime as dt
import hashlib
import io
import json
import zipfile

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from requests.models import SubjectPackage, SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import TaskStatus
from requests.subjects import packages, uploads, work
from tests.requests.subject_setup import SUBJECT, approve, ask, crm, eager, verify  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]
API = "/api/v1"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- Content checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "rows"),
    [
        ("crm.json", b'[{"email": "a@example.org", "plan": "gold"}]', [{"email": "a@example.org", "plan": "gold"}]),
        ("CRM.CSV", b"\xef\xbb\xbfemail,plan\na@example.org,gold\n\n", [{"email": "a@example.org", "plan": "gold"}]),
        ("none.json", b"[]", []),
        ("both.zip", _zip({"a.json": b'[{"x": 1}]', "b.csv": b"y\n2\n"}), [{"x": 1}, {"y": "2"}]),
    ],
)  # fmt: skip
def test_json_csv_and_zip_exports_that_parse_are_read(name, content, rows):
    assert uploads.parse_upload(name, content) == rows


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("x.json", b"{not json", "Not valid JSON"),
        ("x.json", b'{"a": 1}', "list of records"),
        ("x.json", b"[1, 2]", "list of records"),
        ("x.json", b"\xff\xfe[]", "not UTF-8"),
        ("x.csv", b"", "empty"),
        ("x.csv", b"\n\n", "header row"),
        ("x.csv", b"email,,plan\na,b,c\n", "non-empty column names"),
        ("x.csv", b"email,email\na,b\n", "distinct"),
        ("x.csv", b"email,plan\na,b,c\n", "line 2 has 3 fields"),
        ("x.csv", b"email\na\x00b\n", "binary"),
        ("x.xlsx", b"PK\x03\x04", ".json, .csv or .zip"),
        ("x.exe", b"MZ\x90\x00", ".json, .csv or .zip"),
        ("x.json", _zip({"a.json": b"[]"}), "not UTF-8"),  # a zip pretending to be JSON
        ("x.zip", b"PK\x03\x04 not really a zip", "Not a zip file that opens"),
        ("x.zip", b'[{"a": 1}]', "Not a zip file that opens"),
        ("x.zip", _zip({}), "holds no files"),
        ("x.zip", _zip({"run.sh": b"echo hi"}), "only .json and .csv"),
        ("x.zip", _zip({"inner.zip": _zip({"a.json": b"[]"})}), "only .json and .csv"),
        ("x.zip", _zip({"a.json": b"{bad"}), "a.json: Not valid JSON"),
    ],
)
def test_anything_else_is_refused_naming_the_upload_field(name, content, reason):
    with pytest.raises(ValidationError) as caught:
        uploads.parse_upload(name, content)
    assert reason in caught.value.message_dict["upload"][0]


def test_a_zip_that_unpacks_past_the_limit_is_refused_without_unpacking_it(settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    bomb = _zip({"a.csv": b"x\n" + b"1\n" * 50_000})  # ~100 kB of text, a few hundred bytes zipped
    assert len(bomb) < settings.UPLOAD_MAX_BYTES
    with pytest.raises(ValidationError, match="unpacks to more than"):
        uploads.parse_upload("bomb.zip", bomb)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(settings):
    settings.UPLOAD_MAX_BYTES = 100
    big = SimpleUploadedFile("big.json", b"[" + b'{"a": 1},' * 20 + b'{"a": 1}]')
    with pytest.raises(ValidationError) as caught:
        uploads.read_upload(big)
    assert "limit of 100 bytes" in caught.value.message_dict["upload"][0]
    small = SimpleUploadedFile("small.json", b'[{"a": 1}]')
    assert uploads.read_upload(small) == [{"a": 1}]


# --- The page and the API -------------------------------------------------------------------


@pytest.fixture
def crm_task(crm, django_capture_on_commit_callbacks):
    request = verify(django_capture_on_commit_callbacks, ask(django_capture_on_commit_callbacks))
    assert request.status == S.IN_PROGRESS
    return SubjectTask.objects.get(request=request, dataset_slug="crm")


def _post_page(client, task, name, content):
    url = reverse("workflows:subject-task-detail", args=[task.pk])
    return client.post(url, {"note": "", "upload": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize(
    ("name", "content", "shown"),
    [
        ("export.json", b"[" + b'{"a": 1},' * 100 + b'{"a": 1}]', "limit of 500 bytes"),
        ("export.json", b"<html>not json</html>", "Not valid JSON"),
        ("export.pdf", b"%PDF-1.7", ".json, .csv or .zip"),
        ("export.zip", b"PK\x03\x04broken", "Not a zip file that opens"),
        ("export.csv", b"", "empty"),
    ],
)
def test_the_task_page_refuses_a_bad_upload_with_400_and_the_task_stays_open(
    client, settings, crm_task, data_owner, name, content, shown
):
    settings.UPLOAD_MAX_BYTES = 500
    client.force_login(data_owner)
    response = _post_page(client, crm_task, name, content)
    assert response.status_code == 400
    assert shown in response.content.decode()
    assert "upload" in response.context["form"].errors
    crm_task.refresh_from_db()
    assert crm_task.status == TaskStatus.OPEN and crm_task.export_sealed in ("", None)


def test_the_task_page_takes_a_good_upload_and_a_second_answer_is_409(
    client, crm_task, data_owner, django_capture_on_commit_callbacks
):
    client.force_login(data_owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_page(client, crm_task, "export.zip", _zip({"crm.csv": b"plan\ngold\n"}))
    assert response.status_code == 302
    crm_task.refresh_from_db()
    assert crm_task.status == TaskStatus.DONE and crm_task.export_rows == [{"plan": "gold"}]
    again = client.post(
        reverse("workflows:subject-task-detail", args=[crm_task.pk]), {"note": "again"}
    )
    assert again.status_code == 409


def test_the_api_takes_a_multipart_upload_and_refuses_a_bad_one_naming_the_field(
    api_client, settings, crm_task, data_owner, other_owner, django_capture_on_commit_callbacks
):
    settings.UPLOAD_MAX_BYTES = 200
    url = f"{API}/subject-tasks/{crm_task.pk}/complete/"
    client = api_client(data_owner)
    for name, content, reason in [
        ("e.json", b"[" + b'{"a": 1},' * 30 + b"{}]", "limit of 200 bytes"),
        ("e.csv", b"a,b\n1,2,3\n", "line 2"),
        ("e.txt", b"hello", ".json, .csv or .zip"),
    ]:
        bad = client.post(url, {"upload": SimpleUploadedFile(name, content)}, format="multipart")
        assert bad.status_code == 400, bad.content
        assert reason in bad.json()["upload"][0]
    both = client.post(
        url,
        {"rows": '[{"a": 1}]', "upload": SimpleUploadedFile("e.json", b"[]")},
        format="multipart",
    )
    assert both.status_code == 400 and "upload" in both.json()
    outsider = api_client(other_owner).post(
        url, {"upload": SimpleUploadedFile("e.json", b"[]")}, format="multipart"
    )
    assert outsider.status_code == 404
    crm_task.refresh_from_db()
    assert crm_task.status == TaskStatus.OPEN
    with django_capture_on_commit_callbacks(execute=True):
        ok = client.post(
            url,
            {"upload": SimpleUploadedFile("e.csv", f"email\n{SUBJECT}\n".encode())},
            format="multipart",
        )
    assert ok.status_code == 200, ok.content
    assert ok.json()["rows_exported"] == 1


# --- The download link ----------------------------------------------------------------------


def _answered(capture, crm, owner, officer, email: str) -> tuple[int, str]:
    """A finished access request for `email`, and the token of the link e-mailed to them."""
    request = verify(capture, ask(capture, email=email))
    task = SubjectTask.objects.get(request=request, dataset_slug=crm.slug)
    with capture(execute=True):
        work.task_complete(actor=owner, task=task, rows=[{"email": email}])
    request.refresh_from_db()
    assert request.status == S.READY
    assert approve(capture, request, officer).status == S.COMPLETED
    body = next(m.body for m in reversed(mail.outbox) if "/package/" in m.body and email in m.to)
    return request.pk, body.split("/package/")[1].split("/")[0]


def test_the_download_link_is_bound_to_its_request_and_expires(
    client, crm, data_owner, privacy_officer, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    a, token_a = _answered(capture, crm, data_owner, privacy_officer, "alice@example.org")
    b, token_b = _answered(capture, crm, data_owner, privacy_officer, "bob@example.org")

    def get(pk, token):
        return client.get(reverse("workflows:subject-package", args=[pk, token]))

    served = get(a, token_a)
    assert served.status_code == 200 and served["Cache-Control"] == "no-store"
    assert served["X-Content-SHA256"] == hashlib.sha256(served.content).hexdigest()
    assert packages.verify_zip(served.content) == []
    with zipfile.ZipFile(io.BytesIO(served.content)) as archive:
        assert json.loads(archive.read("datasets/crm.json")) == [{"email": "alice@example.org"}]
    # A's link never opens B's package, nor B's link A's: as if there were nothing there.
    assert get(b, token_a).status_code == 404
    assert get(a, token_b).status_code == 404
    assert get(a, token_a[:-1] + ("x" if token_a[-1] != "x" else "y")).status_code == 404
    assert get(999_999, token_a).status_code == 404
    assert client.post(reverse("workflows:subject-package", args=[a, token_a])).status_code == 405
    # Expired: 410, and the count of downloads does not move.
    SubjectPackage.objects.filter(request_id=a).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    expired = get(a, token_a)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert SubjectPackage.objects.get(request_id=a).downloads == 1
    assert get(b, token_b).status_code == 200  # B's own link still works
    # Reissued: a new link for another period; the old one is gone for good.
    with capture(execute=True):
        packages.package_reissue(
            actor=privacy_officer, subject_request=SubjectRequest.objects.get(pk=a)
        )
    fresh = mail.outbox[-1].body.split("/package/")[1].split("/")[0]
    assert get(a, token_a).status_code == 404
    assert get(a, fresh).status_code == 200
    assert get(b, fresh).status_code == 404
