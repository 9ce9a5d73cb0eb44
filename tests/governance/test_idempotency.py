"""Idempotent creates: the same Idempotency-Key twice creates one thing and answers the same;
a key reused with another request is a 422; a failed create keeps nothing; every 201 names its
Location. On PostgreSQL, the same request sent at once on several connections creates once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Dataset, IdempotencyRecord
from catalog.tasks import idempotency_keys_purge
from governance.models import TrainingRun
from tests.governance.test_locality_api import RUNS, eu_customers, fresh_policy_cache, run_body

__all__ = ["eu_customers", "fresh_policy_cache"]

pytestmark = pytest.mark.django_db


def post(client: APIClient, path: str, body: dict, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, body, format="json", **headers)


def test_the_same_key_twice_creates_one_run_and_answers_the_same(
    api_client, engineer, eu_customers
):
    client = api_client(engineer)

    first = post(client, RUNS, run_body(), key="nightly-2026-12-04")
    again = post(client, RUNS, run_body(), key="nightly-2026-12-04")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert first["Location"].endswith(f"{RUNS}{first.json()['id']}/")
    assert again["Location"] == first["Location"]
    assert TrainingRun.objects.count() == 1


def test_without_a_key_each_post_creates(api_client, engineer, eu_customers):
    client = api_client(engineer)

    post(client, RUNS, run_body())
    post(client, RUNS, run_body())

    assert TrainingRun.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_a_key_reused_with_another_request_is_a_422(api_client, engineer, eu_customers):
    client = api_client(engineer)
    post(client, RUNS, run_body(), key="k1")

    other = post(client, RUNS, run_body(name="another run"), key="k1")

    assert other.status_code == 422
    assert "another request" in other.json()["Idempotency-Key"][0]
    assert TrainingRun.objects.count() == 1


def test_a_failed_create_keeps_nothing_so_the_key_can_be_used_again(
    api_client, engineer, eu_customers
):
    client = api_client(engineer)

    bad = post(client, RUNS, run_body(compute_regions=["mars:olympus-1"]), key="k2")
    fixed = post(client, RUNS, run_body(), key="k2")

    assert bad.status_code == 400 and fixed.status_code == 201
    assert TrainingRun.objects.count() == 1


def test_keys_are_each_persons_own(api_client, engineer, privacy_officer, eu_customers):
    post(api_client(engineer), RUNS, run_body(), key="shared")
    post(api_client(privacy_officer), RUNS, run_body(), key="shared")

    assert TrainingRun.objects.count() == 2


def test_a_key_older_than_its_hours_is_forgotten(api_client, engineer, eu_customers):
    client = api_client(engineer)
    post(client, RUNS, run_body(), key="k3")
    past = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS, minutes=1)
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - past)

    assert post(client, RUNS, run_body(), key="k3").status_code == 201

    assert TrainingRun.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1  # the old one went


def test_the_hourly_purge_forgets_every_expired_key_and_keeps_the_others(
    api_client, engineer, privacy_officer, eu_customers
):
    post(api_client(engineer), RUNS, run_body(), key="old")
    hours = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - hours)
    post(api_client(privacy_officer), RUNS, run_body(), key="fresh")
    assert IdempotencyRecord.objects.count() == 2  # another person's create leaves the old one

    assert idempotency_keys_purge() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_a_key_too_long_is_a_400_naming_it(api_client, engineer, eu_customers):
    answer = post(api_client(engineer), RUNS, run_body(), key="k" * 256)

    assert answer.status_code == 400
    assert "255" in answer.json()["Idempotency-Key"][0]
    assert not TrainingRun.objects.exists()


def test_a_dataset_created_names_its_location_by_slug(api_client, data_owner):
    body = {
        "slug": "web-logs",
        "name": "Web logs",
        "storage_region": "aws:eu-west-1",
        "sensitivity": "internal",
        "lawful_basis": "not_personal",
        "retention_days": 30,
        "owner": data_owner.username,
    }
    answer = post(api_client(data_owner), "/api/v1/datasets/", body, key="web-logs")

    assert answer.status_code == 201, answer.content
    assert answer["Location"].endswith("/api/v1/datasets/web-logs/")
    assert Dataset.objects.filter(slug="web-logs").count() == 1


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="SQLite serialises writers; the wait on the key is PostgreSQL's unique index",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_request_at_once_on_several_connections_creates_once(engineer, eu_customers):
    threads, start = 4, threading.Barrier(4)
    answers: list[tuple[int, dict]] = []

    def send() -> None:
        client = APIClient()
        client.force_authenticate(engineer)
        try:
            start.wait(timeout=60)
            answer = post(client, RUNS, run_body(), key="at-once")
            answers.append((answer.status_code, answer.json()))
        finally:
            connection.close()

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [code for code, _ in answers] == [201] * threads
    assert len({body["id"] for _, body in answers}) == 1
    assert TrainingRun.objects.count() == 1


def test_an_external_id_names_one_run_of_an_account(
    api_client, engineer, privacy_officer, eu_customers
):
    client = api_client(engineer)
    first = post(client, RUNS, run_body(external_id="airflow:ranker:2026-12-04"))

    again = post(client, RUNS, run_body(external_id="airflow:ranker:2026-12-04"))

    assert first.status_code == 201 and again.status_code == 409
    assert f"run #{first.json()['id']}" in again.json()["external_id"][0]
    other = post(
        api_client(privacy_officer), RUNS, run_body(external_id="airflow:ranker:2026-12-04")
    )
    assert other.status_code == 201  # another account's own ids
    assert TrainingRun.objects.count() == 2
