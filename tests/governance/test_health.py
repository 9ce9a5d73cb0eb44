"""Liveness and readiness probes, with real unreachable services for the failure cases."""

import pytest
from channels.layers import channel_layers
from django.test import override_settings

from governance.celery import app as celery_app

# Nothing listens on port 1: connecting there fails the way a downed Redis does.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def fresh_channel_layers():
    """channels caches layer instances; each test must build the one its settings name."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def unreachable_broker():
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = UNREACHABLE_REDIS
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
            yield
    finally:
        celery_app.conf.broker_url = original


def test_healthz(client):
    # No django_db mark: the liveness probe must answer without touching the database.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_ok_when_every_service_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(result.startswith("ok") for result in body["checks"].values()), body
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_answer_only_get(client, method):
    assert getattr(client, method)("/healthz").status_code == 405
    assert getattr(client, method)("/readyz").status_code == 405


@pytest.mark.django_db
def test_readyz_503_when_the_channel_layer_is_down(client):
    unreachable_layer = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [UNREACHABLE_REDIS]},
        }
    }
    with override_settings(CHANNEL_LAYERS=unreachable_layer):
        channel_layers.backends.clear()
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["channel_layer"]
    assert body["checks"]["channel_layer"].startswith("error:")
    assert body["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readyz_503_when_the_broker_is_down(client, unreachable_broker):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"].startswith("error:")
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"


@pytest.mark.django_db
def test_broker_url_is_restored_after_the_broker_test(client):
    # Runs after the test above (file order): its fixture must have put the real URL back.
    assert celery_app.conf.broker_url != UNREACHABLE_REDIS
    assert client.get("/readyz").status_code == 200
