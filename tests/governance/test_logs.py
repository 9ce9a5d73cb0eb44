"""Structured logs: every HTTP request has an id, returned in X-Request-ID, on the log lines
written while it runs, in the ledger entries it writes and in the Celery tasks it queues;
production writes JSON lines."""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import contextmanager

import pytest
from asgiref.sync import async_to_sync
from celery import signals
from django.test import AsyncClient

from governance import logs
from governance.ledger import signing
from governance.ledger.export import export_lines
from governance.ledger.verification import verify_ledger
from governance.ledger.verify import verify_export
from governance.models import LedgerEntry, Term
from governance.workflow import status_move
from tests.factories import UserFactory
from tests.worker import celery_worker, wait_for  # noqa: F401  (fixture)

API = "/api/v1"
GIVEN = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
INTAKE = {"type": "access", "jurisdiction": "eu", "identifiers": {"email": "sam@example.org"}}


@contextmanager
def console(formatter: logging.Formatter):
    """What the configured console handler writes meanwhile, in `formatter`'s form."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, logs.RequestIdFilter) for f in h.filters)
    )
    stream, formatter_before = io.StringIO(), handler.formatter
    stream_before = handler.setStream(stream)
    handler.setFormatter(formatter)
    try:
        yield stream
    finally:
        handler.setStream(stream_before)
        handler.setFormatter(formatter_before)


def _refused_write(api_client, request_id: str = GIVEN):
    """An engineer tries to register a dataset: their role may not (403)."""
    engineer = UserFactory(username="eng", roles=["engineer"])
    return api_client(engineer).post(
        f"{API}/datasets/", {"slug": "x"}, format="json", HTTP_X_REQUEST_ID=request_id
    )


def test_each_request_gets_an_id_returned_in_the_response(client):
    first, second = client.get("/healthz"), client.get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    "given, kept",
    [
        (GIVEN, True),
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("short", False),
        ("not hex at all, with spaces and long enough", False),
        ("0123456789abcdef\nforged log line", False),
        ("a" * 65, False),
        ("-" * 32, False),
    ],
)
def test_an_incoming_id_is_kept_only_when_it_looks_like_one(client, given, kept):
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"]

    assert (returned == given) is kept
    assert re.fullmatch(r"[0-9A-Fa-f-]{16,64}", returned)


def test_an_asgi_request_gets_its_id_too(db):
    response = async_to_sync(AsyncClient().get)("/healthz", headers={"X-Request-ID": GIVEN})

    assert response.status_code == 200
    assert response["X-Request-ID"] == GIVEN


def test_a_refused_write_is_logged_with_the_request_id(db, api_client):
    with console(logs.ReadableFormatter()) as output:
        response = _refused_write(api_client)

    assert response.status_code == 403
    lines = [line for line in output.getvalue().splitlines() if "Refused" in line]
    assert any("catalog.permissions" in line and f"[{GIVEN}]" in line for line in lines)
    assert any(
        "governance.api_errors" in line and f"[{GIVEN}]" in line and "status=403" in line
        for line in lines
    )
    # Django's own line about the 403, written once the middleware has returned, names it too.
    assert any(
        "django.request" in line and f"[{GIVEN}] Forbidden" in line
        for line in output.getvalue().splitlines()
    )


def test_a_refused_page_is_logged_with_the_request_id(db, client):
    client.force_login(UserFactory(username="eng", roles=["engineer"]))
    with console(logs.ReadableFormatter()) as output:
        response = client.post("/catalog/new/", {"slug": "x"}, HTTP_X_REQUEST_ID=GIVEN)

    assert response.status_code == 403
    assert any(
        "governance.logs" in line and f"[{GIVEN}] Refused POST /catalog/new/" in line
        for line in output.getvalue().splitlines()
    )


def test_json_lines_parse_with_the_expected_keys(db, api_client):
    with console(logs.JsonFormatter()) as output:
        _refused_write(api_client)

    records = [json.loads(line) for line in output.getvalue().splitlines()]
    refusal = next(r for r in records if r["logger"] == "governance.api_errors")
    assert {"time", "level", "logger", "message", "request_id"} <= refusal.keys()
    assert refusal["request_id"] == GIVEN
    assert (refusal["level"], refusal["status"], refusal["method"]) == ("WARNING", 403, "POST")
    assert refusal["path"] == f"{API}/datasets/"


def test_outside_a_request_lines_have_no_id():
    with console(logs.JsonFormatter()) as output:
        logging.getLogger("locus.test").warning("plain", extra={"count": 2})

    record = json.loads(output.getvalue())
    assert (record["message"], record["request_id"], record["count"]) == ("plain", None, 2)


def test_a_workflow_step_is_logged_with_its_model_and_statuses(db, caplog):
    term = Term.objects.create(name="Data", slug="data", definition="d", created_by_name="x")
    caplog.set_level(logging.INFO, logger="governance.workflow")

    status_move(Term, pk=term.pk, current=term.status, target="approved")

    record = next(r for r in caplog.records if r.name == "governance.workflow")
    assert (record.model, record.pk, record.to) == ("governance.Term", term.pk, "approved")
    assert record.__dict__["from"] == term.status


@pytest.fixture
def tasks_seen():
    """(task name, request id) of each task that runs in this process meanwhile."""
    seen: list[tuple[str, str | None]] = []

    def record(task=None, **kwargs):
        seen.append((task.name, logs.current_request_id()))

    signals.task_prerun.connect(record, weak=False)
    yield seen
    signals.task_prerun.disconnect(record)


def test_a_request_id_reaches_its_ledger_entries_and_tasks(
    transactional_db, django_db_serialized_rollback, api_client, celery_eager, tasks_seen, settings
):
    # Committed for real, so the tasks are sent at the commit inside the request, as in use.
    settings.SUBJECT_INTAKE_RATE = "1000/hour"
    response = api_client().post(
        f"{API}/subject-intake/", INTAKE, format="json", HTTP_X_REQUEST_ID=GIVEN
    )

    assert response.status_code == 201
    assert response["X-Request-ID"] == GIVEN
    received = LedgerEntry.objects.filter(kind__endswith="received").get()
    assert json.loads(bytes(received.payload))["data"]["request_id"] == GIVEN
    assert ("requests.tasks.subject_mail_send", GIVEN) in tasks_seen
    assert logs.current_request_id() is None  # the request's id ended with it
    # In the hashed data: the chain verifies, in the database and offline.
    assert verify_ledger().ok
    exported = list(export_lines())
    assert verify_export(exported, [], trusted_keys=signing.trusted_public_keys())["ok"]


def test_entries_written_outside_a_request_have_no_request_id(db):
    from tests.factories import make_dataset

    make_dataset(slug="quiet")

    entry = LedgerEntry.objects.latest("sequence")
    assert "request_id" not in json.loads(bytes(entry.payload))["data"]


@pytest.mark.live
def test_a_worker_runs_a_task_under_the_id_of_the_request_that_queued_it(
    celery_worker,  # noqa: F811  (the fixture imported above)
    api_client,
    settings,
):
    settings.SUBJECT_INTAKE_RATE = "1000/hour"
    response = api_client().post(
        f"{API}/subject-intake/", INTAKE, format="json", HTTP_X_REQUEST_ID=GIVEN
    )

    assert response.status_code == 201
    wait_for(
        lambda: f"[{GIVEN}] Task requests.tasks.subject_mail_send" in celery_worker.output(),
        what="the worker to log the mail task under the request's id",
    )
