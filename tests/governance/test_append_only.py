"""Append-only rows, in the database itself: on PostgreSQL every `AppendOnly` table refuses
UPDATE and DELETE (whatever model it is: the test finds them all), the migration operation that
installs the trigger is reversible, and deleting what such a row points at (a person who acted,
a dataset) leaves the row as it was instead of failing."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.state import ProjectState
from django.utils import timezone

from catalog import services as catalog_services
from catalog.append_only import AppendOnlyTrigger
from catalog.models import AppendOnly, DatasetChange
from governance.roles import Role
from requests.models import ExceptionEvent, SubjectEvent
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db

counter = itertools.count(1)
MISSING_ID = 2_000_000_000  # what a reference without a database constraint may hold


def append_only_models() -> list[type[models.Model]]:
    return sorted(
        (m for m in apps.get_models() if issubclass(m, AppendOnly)), key=lambda m: m._meta.label
    )


def _value(field: models.Field):
    """A valid value for a required field (unique where the field must be)."""
    n = next(counter)
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.now().date()
    if isinstance(field, models.DurationField):
        return dt.timedelta(seconds=n)
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(n % 10)
    if isinstance(field, models.FloatField | models.IntegerField):
        return n
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.BinaryField):
        return b"x"
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.EmailField):
        return f"row{n}@example.org"
    return f"r{n}"[: field.max_length or 20]


def make_row(model: type[models.Model], **given) -> models.Model:
    """A row of any model, its required fields and references filled in; written without the
    model's save() (an append-only model's own save would refuse nothing here, but others do
    work in theirs)."""
    values = dict(given)
    for field in model._meta.concrete_fields:
        if field.name in values or field.primary_key or field.null or field.has_default():
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        if field.is_relation:
            target = field.related_model
            if not field.db_constraint:
                values[field.attname] = MISSING_ID
            elif target is apps.get_model("auth", "User"):
                values[field.name] = UserFactory()
            else:
                values[field.name] = make_row(target)
        else:
            values[field.name] = _value(field)
    row = model(**values)
    model._base_manager.bulk_create([row])
    if row.pk is None:  # a backend that does not return ids from bulk inserts
        row = model._base_manager.latest("pk")
    return row


def refused(sql: str, params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        return "append-only" in str(exc)
    return False


def statements(model: type[models.Model]) -> tuple[str, str]:
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    return (
        f"UPDATE {table} SET {pk} = {pk} WHERE {pk} = %s",
        f"DELETE FROM {table} WHERE {pk} = %s",
    )


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the triggers are PostgreSQL's")


def test_the_append_only_models_are_all_found():
    labels = {m._meta.label for m in append_only_models()}
    assert {
        "catalog.DatasetChange",
        "governance.LocalityRuleVersion",
        "governance.LocalityDecision",
        "workflows.ExceptionEvent",
        "workflows.SubjectEvent",
        "governance.LedgerEntry",
        "monitoring.TelemetryEvent",
    } <= labels


@pytest.mark.parametrize("model", append_only_models(), ids=lambda m: m._meta.label)
def test_postgresql_refuses_update_and_delete_of_every_append_only_row(postgresql, model):
    row = make_row(model)
    update, delete = statements(model)
    assert refused(update, [row.pk]), f"UPDATE of {model._meta.label} went through"
    assert refused(delete, [row.pk]), f"DELETE of {model._meta.label} went through"
    assert model._base_manager.filter(pk=row.pk).exists()


def test_the_trigger_operation_is_reversible(postgresql):
    operation = AppendOnlyTrigger("DatasetChange")
    state = ProjectState.from_apps(apps)
    row = make_row(DatasetChange)
    update, _ = statements(DatasetChange)
    with connection.schema_editor() as editor:
        operation.database_backwards("catalog", editor, state, state)
    assert not refused(update, [row.pk])
    with connection.schema_editor() as editor:
        operation.database_forwards("catalog", editor, state, state)
    assert refused(update, [row.pk])


def test_deleting_a_person_who_acted_keeps_the_timelines(db):
    """On PostgreSQL the events' SET NULL was an UPDATE their trigger refused: the deletion
    failed. Now the events keep the id and the name of who acted."""
    officer = UserFactory(username="dora-departing", roles=[Role.PRIVACY_OFFICER])
    exception_event = make_row(ExceptionEvent, actor=officer, actor_name="Dora Departing")
    subject_event = make_row(SubjectEvent, actor=officer, actor_name="Dora Departing")
    officer_id = officer.pk

    officer.delete()

    for model, event in ((ExceptionEvent, exception_event), (SubjectEvent, subject_event)):
        kept = model.objects.get(pk=event.pk)
        assert (kept.actor_id, kept.actor_name) == (officer_id, "Dora Departing")


def test_deleting_a_dataset_and_its_owner_keeps_its_history(db, privacy_officer):
    owner = UserFactory(username="olly-owner", roles=[Role.DATA_OWNER])
    dataset = make_dataset(owner=owner, slug="short-lived")
    catalog_services.dataset_update(actor=owner, dataset=dataset, description="changed")
    catalog_services.dataset_delete(actor=privacy_officer, dataset=dataset)
    owner.delete()

    history = DatasetChange.objects.filter(dataset_slug="short-lived").order_by("version")
    assert [c.action for c in history][-2:] == ["updated", "deleted"]
    assert history.get(action="updated").actor_name
