"""Pages while PostgreSQL is unreachable (its port cut by a proxy in front of it), and the first
requests after it is back.

Held: a page answers 503 with a plain page (rendered without reading the database) and an API
call made with the same session answers 503 JSON, never 500; once the database answers again,
the very first requests succeed (the pool neither hands out the connections the outage broke nor
waits out a long reconnection pause).
"""

import time

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from governance.roles import Role
from tests.factories import UserFactory
from tests.live import LiveServer, shared_database_url
from tests.proxy import CuttableProxy

pytestmark = pytest.mark.live

# How long a request waits for a connection (DB_POOL_TIMEOUT), and an outage long enough for the
# pool's doubling reconnection pauses (1, 2, 4, 8 s) to grow well past it: a pool left to wait
# out its pause would still be in the 8 s one (from 7 s to 15 s) when the outage ends.
POOL_TIMEOUT_SECONDS = 2.0
OUTAGE_SECONDS = 10.0


@pytest.fixture
def locus_behind_proxy(transactional_db, django_db_serialized_rollback, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the outage is of PostgreSQL")
    db = connection.settings_dict
    proxy = CuttableProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    url = shared_database_url().replace(f"{db['HOST']}:{db['PORT']}", f"127.0.0.1:{proxy.port}")
    server = LiveServer(
        tmp_path, env={"DATABASE_URL": url, "DB_POOL_TIMEOUT": f"{POOL_TIMEOUT_SECONDS:g}"}
    )
    server.launch()
    try:
        yield server.ready(), proxy
    finally:
        server.stop()
        proxy.close()


def signed_in_cookies(user) -> dict[str, str]:
    """The session cookie of a signed-in browser (its session row is in the shared database)."""
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_pages_answer_503_during_an_outage_and_the_first_requests_after_succeed(
    locus_behind_proxy,
):
    base, proxy = locus_behind_proxy
    officer = UserFactory(username="paula-pages", roles=[Role.PRIVACY_OFFICER])
    with httpx.Client(base_url=base, cookies=signed_in_cookies(officer), timeout=60) as browser:
        assert browser.get("/catalog/").status_code == 200
        proxy.cut()
        outage_ends = time.monotonic() + OUTAGE_SECONDS

        page = browser.get("/catalog/")
        assert page.status_code == 503
        assert "Locus is unavailable for a moment" in page.text
        assert page.headers["Retry-After"]
        assert page.headers["Content-Type"].startswith("text/html")
        api = browser.get("/api/v1/datasets/")
        assert api.status_code == 503
        assert "database is unavailable" in api.json()["detail"]

        time.sleep(max(0.0, outage_ends - time.monotonic()))  # the outage's own length
        proxy.restore()
        answers = [browser.get(path).status_code for path in ("/catalog/",) * 3]
        answers.append(browser.get("/api/v1/datasets/").status_code)
        assert answers == [200, 200, 200, 200]
