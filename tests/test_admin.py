"""The admin: a page for every model of Locus's apps; append-only records read-only there;
sealed subject data never shown; officers' jurisdictions set on each person's page."""

import datetime as dt

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from catalog.models import AppendOnly, Jurisdiction
from governance.models import LedgerEntry, Responsibility
from requests.models import SubjectMail, SubjectRequest
from tests.factories import UserFactory, make_dataset

APPS = ("catalog", "governance", "workflows", "monitoring")
MODELS = [model for label in APPS for model in apps.get_app_config(label).get_models()]
APPEND_ONLY = [model for model in MODELS if issubclass(model, AppendOnly)]


def _sealed(model) -> set[str]:
    names = {field.name for field in model._meta.get_fields()}
    return {name for name in names if name == "sealed" or name.endswith("_sealed")}


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_every_model_has_an_admin_page():
    missing = [model._meta.label for model in MODELS if model not in admin.site._registry]

    assert MODELS and missing == []


@pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda model: model._meta.label)
def test_append_only_records_cannot_be_added_changed_or_deleted(model, superuser):
    request = RequestFactory().get("/")
    request.user = superuser
    model_admin = admin.site._registry[model]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


@pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda model: model._meta.label)
def test_the_add_page_of_an_append_only_record_is_refused(model, admin_client):
    assert admin_client.get(_url(model, "add")).status_code == 403


def test_a_ledger_entry_is_shown_read_only_and_cannot_be_deleted(admin_client):
    make_dataset(slug="admin-shown")
    entry = LedgerEntry.objects.latest("sequence")

    page = admin_client.get(_url(LedgerEntry, "change", entry.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert b'name="_save"' not in page.content
    assert b"admin-shown" in page.content
    assert admin_client.post(_url(LedgerEntry, "change", entry.pk), {}).status_code == 403
    assert admin_client.post(
        _url(LedgerEntry, "delete", entry.pk), {"post": "yes"}
    ).status_code == (403)
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    "model", [m for m in MODELS if _sealed(m)], ids=lambda model: model._meta.label
)
def test_sealed_fields_are_never_shown(model, superuser):
    request = RequestFactory().get("/")
    request.user = superuser
    model_admin = admin.site._registry[model]

    shown = set(model_admin.get_fields(request)) | set(model_admin.get_list_display(request))
    assert not shown & _sealed(model)


def test_a_subject_mails_sealed_text_is_not_on_its_page(admin_client):
    subject_request = SubjectRequest.objects.create(
        type="access",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        sealed="SEALED-REQUEST-TEXT",
        subject_key="k" * 32,
        received_at=timezone.now(),
        deadline=timezone.now().date() + dt.timedelta(days=30),
    )
    mail = SubjectMail.objects.create(
        request=subject_request, title="Your code", sealed="SEALED-MAIL-TEXT"
    )

    for model, pk in ((SubjectMail, mail.pk), (SubjectRequest, subject_request.pk)):
        page = admin_client.get(_url(model, "change", pk))
        assert page.status_code == 200
        assert b"SEALED-" not in page.content


def test_an_officers_jurisdictions_are_set_on_their_page(admin_client):
    officer = UserFactory(username="officer", roles=["privacy_officer"])
    page = admin_client.get(_url(officer.__class__, "change", officer.pk))
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in {"password", "groups", "user_permissions"}
    }
    data |= {
        "groups": list(officer.groups.values_list("pk", flat=True)),
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": officer.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": officer.date_joined.strftime("%H:%M:%S"),
        "responsibilities-TOTAL_FORMS": "1",
        "responsibilities-INITIAL_FORMS": "0",
        "responsibilities-MIN_NUM_FORMS": "0",
        "responsibilities-MAX_NUM_FORMS": "1000",
        "responsibilities-0-jurisdiction": "eu",
        "responsibilities-0-user": officer.pk,
    }

    response = admin_client.post(_url(officer.__class__, "change", officer.pk), data)

    assert response.status_code == 302, response.context["errors"]
    assert list(
        Responsibility.objects.filter(user=officer).values_list("jurisdiction", flat=True)
    ) == ["eu"]
