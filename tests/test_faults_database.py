"""PostgreSQL unreachable for a while (its port cut by a proxy in front of it): the API answers
503 with a clear message instead of 500, /readyz names the database, nothing half-written
remains, and Locus recovers by itself once the database is back."""

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from catalog.models import Dataset
from governance.ledger.verification import verify_ledger
from governance.roles import Role
from tests.factories import UserFactory, make_dataset
from tests.live import LiveServer, shared_database_url
from tests.proxy import CuttableProxy
from tests.worker import wait_for

pytestmark = pytest.mark.live


@pytest.fixture
def locus_behind_proxy(transactional_db, django_db_serialized_rollback, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the outage is of PostgreSQL")
    settings = connection.settings_dict
    proxy = CuttableProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))
    url = shared_database_url().replace(
        f"{settings['HOST']}:{settings['PORT']}", f"127.0.0.1:{proxy.port}"
    )
    server = LiveServer(tmp_path, env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": "2"})
    server.launch()
    try:
        yield server.ready(), proxy
    finally:
        server.stop()
        proxy.close()


def test_an_unreachable_database_gives_503_and_locus_recovers(locus_behind_proxy):
    base, proxy = locus_behind_proxy
    officer = UserFactory(username="otis-officer", roles=[Role.PRIVACY_OFFICER])
    token = Token.objects.create(user=officer).key
    owner = UserFactory(username="odile-owner", roles=[Role.DATA_OWNER])
    make_dataset(owner=owner, slug="before-the-outage")
    new_dataset = {
        "name": "Written during the outage",
        "slug": "during-the-outage",
        "owner": owner.username,
        "storage_region": "aws:eu-west-1",
        "sensitivity": "internal",
        "retention_days": 30,
    }
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30
    ) as api:
        assert api.get("/api/v1/datasets/").status_code == 200
        proxy.cut()

        listed = api.get("/api/v1/datasets/")
        assert listed.status_code == 503
        assert "database is unavailable" in listed.json()["detail"]
        assert listed.headers["Retry-After"]
        written = api.post("/api/v1/datasets/", json=new_dataset)
        assert written.status_code == 503
        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["database"]
        assert api.get("/healthz").status_code == 200  # the process itself is alive

        proxy.restore()
        wait_for(
            lambda: api.get("/readyz").status_code == 200, timeout=30, what="/readyz to recover"
        )
        assert api.get("/api/v1/datasets/").status_code == 200
    assert not Dataset.objects.filter(slug="during-the-outage").exists()
    assert verify_ledger().ok
