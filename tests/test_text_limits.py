"""Every piece of free text a person or a client can send has a limit, enforced in the model,
the form, the serializer and the API, and going over it is a 400 naming the field and the limit
(a 5 MB dataset description once made its page 10 MB)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.settings import spectacular_settings
from rest_framework import serializers

from catalog.fields import LONG_TEXT, BoundedTextField
from tests.factories import make_dataset

APPS = ("catalog", "governance", "requests", "monitoring")
LABELS = ("catalog", "governance", "workflows", "monitoring")
# Text Locus writes itself, never what a person or client sends: left unbounded, with the reason.
WRITTEN_BY_LOCUS = {
    ("catalog", "Jurisdiction", "transfer_rules"): "reference data, loaded by migrations",
    ("catalog", "Jurisdiction", "notes"): "reference data",
    ("catalog", "AdequacyDecision", "notes"): "reference data",
    ("catalog", "TransferLaw", "notes"): "reference data",
    ("catalog", "LocalisationDuty", "notes"): "reference data",
    ("catalog", "DestinationRestriction", "notes"): "reference data",
    ("catalog", "BreachClock", "notes"): "reference data",
    ("catalog", "SubjectRights", "notes"): "reference data",
    ("catalog", "ConsentLaw", "notes"): "reference data",
    ("governance", "LedgerEntry", "subjects"): "the ledger's own index of what an entry names",
    ("governance", "LedgerQueued", "subjects"): "the ledger's own index of what an entry names",
    ("governance", "Notification", "body"): "composed by Locus from bounded parts",
    ("governance", "LocalityDecision", "reason"): "the engine's words",
    ("governance", "LocalityDecision", "legal_reason"): "the engine's words",
    ("governance", "LocalityDecision", "house_reason"): "the engine's words",
    ("governance", "ModelDeployment", "reason"): "the engine's words",
    ("governance", "ModelDeployment", "legal_reason"): "the engine's words",
    ("governance", "ModelDeployment", "house_reason"): "the engine's words",
    ("workflows", "SubjectRequest", "outcome"): "the answer's summary, composed by Locus",
    ("workflows", "SubjectTask", "last_error"): "a connector's error, stripped and cut by Locus",
    ("workflows", "RetentionRun", "last_error"): "a connector's error, stripped and cut by Locus",
    ("workflows", "SubjectEvent", "comment"): "composed by Locus from bounded parts",
    ("workflows", "SubjectMail", "sealed"): "sealed ciphertext of a message Locus wrote",
    ("monitoring", "TelemetryEvent", "reason"): "the engine's words",
    ("monitoring", "Violation", "reason"): "the engine's words",
    ("monitoring", "LineageRun", "not_judged"): "ingest's reasons, cut to 2,000 by Locus",
}


def _project_modules():
    for package in APPS:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" in info.name or ".management" in info.name:
                continue
            yield importlib.import_module(info.name)


def _classes(base):
    seen = {}
    for module in _project_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base) and cls.__module__.split(".")[0] in APPS:
                seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return seen


def test_every_free_text_model_field_has_a_limit():
    unbounded = [
        (model._meta.app_label, model.__name__, field.name)
        for model in apps.get_models()
        if model._meta.app_label in LABELS
        for field in model._meta.get_fields()
        if isinstance(field, models.TextField)
        and field.editable
        and not isinstance(field, BoundedTextField)
    ]
    assert sorted(set(unbounded) - set(WRITTEN_BY_LOCUS)) == []


def test_every_form_text_field_has_a_limit():
    missing = [
        f"{name}.{field_name}"
        for name, form in _classes(forms.BaseForm).items()
        for field_name, field in form.base_fields.items()
        if isinstance(field, forms.CharField) and field.max_length is None
    ]
    assert missing == []


def _request_serializers():
    """(operation, serializer) for every API operation that takes a body, as its schema does."""
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    for path, path_regex, method, callback in generator.endpoints:
        if method not in ("POST", "PUT", "PATCH"):
            continue
        view = generator.create_view(callback, method)
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        schema = view.schema
        schema.registry, schema.path, schema.path_regex = ComponentRegistry(), path, path_regex
        schema.path_prefix, schema.method = "", method
        serializer = schema.get_request_serializer()
        if isinstance(serializer, type):
            serializer = serializer()
        if isinstance(serializer, serializers.ListSerializer):
            serializer = serializer.child
        if isinstance(serializer, serializers.BaseSerializer):
            yield f"{method} {path}", serializer


def _unbounded_text(serializer, prefix=""):
    """Paths of the text fields a client writes that have no max_length (nested ones too)."""
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        if isinstance(field, serializers.ListSerializer):
            yield from _unbounded_text(field.child, f"{prefix}{name}[].")
        elif isinstance(field, serializers.BaseSerializer):
            yield from _unbounded_text(field, f"{prefix}{name}.")
        elif isinstance(field, serializers.ListField):
            child = field.child
            if isinstance(child, serializers.CharField) and child.max_length is None:
                yield f"{prefix}{name}[]"
        elif isinstance(field, serializers.CharField) and field.max_length is None:
            yield f"{prefix}{name}"


def test_every_text_field_a_client_sends_to_the_api_has_a_limit():
    operations = list(_request_serializers())
    assert len(operations) > 50  # the walk found the API
    missing = [
        f"{op}: {path}" for op, serializer in operations for path in _unbounded_text(serializer)
    ]
    assert missing == []


@pytest.mark.django_db
def test_every_bounded_field_refuses_one_character_more_naming_itself():
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not isinstance(field, BoundedTextField):
                continue
            instance = model(**{field.name: "x" * (field.max_length + 1)})
            others = [f.name for f in model._meta.fields if f.name != field.name]
            with pytest.raises(ValidationError) as caught:
                instance.clean_fields(exclude=others)
            message = " ".join(caught.value.message_dict[field.name])
            assert f"{field.max_length:,}" in message or str(field.max_length) in message


@pytest.mark.django_db
def test_a_5_mb_description_is_a_400_naming_the_field_and_the_limit(api_client, client, data_owner):
    dataset = make_dataset(data_owner, slug="clicks")
    huge = "x" * (5 * 1024 * 1024)
    answer = api_client(data_owner).patch(
        f"/api/v1/datasets/{dataset.slug}/", {"description": huge}, format="json"
    )
    assert answer.status_code == 400
    (message,) = answer.json()["description"]
    assert str(LONG_TEXT) in message.replace(",", "")
    dataset.refresh_from_db()
    assert dataset.description != huge
    client.force_login(data_owner)
    page = client.get(reverse("catalog:dataset-edit", args=[dataset.slug]))
    assert f'maxlength="{LONG_TEXT}"' in page.content.decode()
