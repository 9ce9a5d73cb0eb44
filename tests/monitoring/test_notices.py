"""Telling people: notices and webhooks go out after the commit, never before or on rollback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction

from governance.models import Notification, Responsibility
from monitoring.incidents.webhooks import webhook_deliveries_send
from monitoring.models import WebhookDelivery, WebhookEndpoint
from monitoring.telemetry.ingest import telemetry_ingest
from tests.factories import UserFactory
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db


class Hook:
    """A real HTTP server in a thread that records what it is sent and answers `status`."""

    def __init__(self, status: int = 200):
        self.received: list[dict] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                hook.received.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def eu_officer(db):
    officer = UserFactory(username="eva-eu-officer", roles=["privacy_officer"])
    Responsibility.objects.create(user=officer, jurisdiction_id="eu")
    return officer


@pytest.fixture
def br_officer(db):
    officer = UserFactory(username="bruno-br-officer", roles=["privacy_officer"])
    Responsibility.objects.create(user=officer, jurisdiction_id="br")
    return officer


def test_officers_of_the_jurisdictions_and_the_owner_are_told_after_commit(
    source,
    eu_dataset,
    eu_officer,
    br_officer,
    data_owner,
    django_capture_on_commit_callbacks,
    tasks_in_process,
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    told = set(Notification.objects.values_list("recipient__username", flat=True))
    # pat-privacy (the fixture officer who registered the source) answers for every jurisdiction.
    assert told == {"eva-eu-officer", "olga-owner", "pat-privacy"}
    assert mail.outbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        f"{name}@example.com" for name in ("eva-eu-officer", "olga-owner", "pat-privacy")
    )
    # The clock of the data's own law (EU data: GDPR), with its citation.
    assert "GDPR (EU/EEA)" in mail.outbox[0].body and "GDPR Arts. 33-34" in mail.outbox[0].body


def test_nothing_is_told_when_the_transaction_rolls_back(
    source, eu_dataset, eu_officer, django_capture_on_commit_callbacks, tasks_in_process
):
    with Hook() as hook:
        WebhookEndpoint.objects.create(name="all", url=hook.url)
        with (
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
            raise RuntimeError("the request failed after ingest")
    assert hook.received == []
    assert mail.outbox == []
    assert not Notification.objects.exists() and not WebhookDelivery.objects.exists()


def test_webhooks_go_to_the_jurisdictions_endpoints_after_commit(
    source, eu_dataset, django_capture_on_commit_callbacks, tasks_in_process
):
    with Hook() as eu_hook, Hook() as br_hook:
        WebhookEndpoint.objects.create(name="eu", jurisdiction_id="eu", url=eu_hook.url)
        WebhookEndpoint.objects.create(name="br", jurisdiction_id="br", url=br_hook.url)
        WebhookEndpoint.objects.create(name="off", url=eu_hook.url, active=False)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
        assert eu_hook.received == []
        for callback in callbacks:
            callback()
    assert br_hook.received == []
    (message,) = eu_hook.received
    assert message["text"].startswith("Locus incident #")
    assert "eu-customers" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sent", 1)


def test_a_failing_endpoint_is_retried_then_given_up(
    source, eu_dataset, settings, django_capture_on_commit_callbacks, tasks_in_process
):
    settings.TELEMETRY_WEBHOOK_MAX_ATTEMPTS = 2
    with Hook(status=500) as hook:
        WebhookEndpoint.objects.create(name="flaky", url=hook.url)
        with django_capture_on_commit_callbacks(execute=True):
            result = telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
        assert result.stored == 1  # ingest is not held up by the endpoint
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        assert delivery.last_error.startswith("HTTP 500")
        hook.status = 200
        assert webhook_deliveries_send([delivery.pk]) == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(hook.received)) == ("sent", 2, 2)


def test_an_unreachable_endpoint_gives_up_after_the_attempts(source, eu_dataset, settings):
    settings.TELEMETRY_WEBHOOK_MAX_ATTEMPTS = 2
    endpoint = WebhookEndpoint.objects.create(name="gone", url="http://127.0.0.1:9/")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, kind="incident.opened", payload={"text": "x"}
    )
    assert webhook_deliveries_send([delivery.pk]) == [delivery.pk]
    assert webhook_deliveries_send([delivery.pk]) == []
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 2
