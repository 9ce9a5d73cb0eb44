"""The officer's queue: paged and filtered, its open-incident count the Risk page's, bulk
acknowledge and assign (all or none), the assign control preselecting nobody."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import LedgerEntry
from monitoring import selectors
from monitoring.dashboards.views import QUEUE_PER_PAGE
from monitoring.incidents import services
from monitoring.models import Incident, IncidentEvent
from monitoring.telemetry.ingest import telemetry_ingest
from tests.factories import UserFactory
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db
QUEUE = "/monitoring/officer/"


@pytest.fixture(autouse=True)
def empty_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "q"}
    }
    cache.clear()
    yield
    cache.clear()


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _incidents(n: int, *, severity="high", basis="house", status="open", jurisdiction="eu"):
    """n incidents as ingest leaves them (rows made directly: paging needs many groups)."""
    now = timezone.now()
    rows = Incident.objects.bulk_create(
        Incident(
            dataset_slug=f"ds-{severity}-{basis}-{status}-{i}",
            destination_region="aws:us-east-1",
            title=f"ds-{i} reached aws:us-east-1",
            severity=severity,
            basis=basis,
            status=status,
            jurisdiction_codes=[jurisdiction],
            opened_at=now,
            first_violation_at=now - dt.timedelta(minutes=i),
            last_violation_at=now - dt.timedelta(minutes=i),
            violation_count=1,
            resolved_at=now if status == "resolved" else None,
        )
        for i in range(n)
    )
    through = Incident.jurisdictions.through
    through.objects.bulk_create(
        through(incident_id=row.pk, jurisdiction_id=jurisdiction) for row in rows
    )
    return rows


def _ids(html: str) -> list[int]:
    import re

    return [int(pk) for pk in re.findall(r'<tr id="incident-(\d+)"', html)]


def test_the_queue_pages_and_counts_every_open_incident(privacy_officer, executive):
    _incidents(QUEUE_PER_PAGE + 5, severity="high")
    _incidents(3, severity="critical")
    _incidents(4, status="resolved")
    client = _as(privacy_officer)
    first = client.get(QUEUE).content.decode()
    ids = _ids(first)
    assert len(ids) == QUEUE_PER_PAGE
    critical = set(Incident.objects.filter(severity="critical").values_list("pk", flat=True))
    assert set(ids[:3]) == critical  # worst first
    assert "Page 1 of 2" in first
    second = _ids(client.get(QUEUE, {"page": 2}).content.decode())
    assert len(second) == 8 and not set(second) & set(ids)
    # One number, the same on the queue, its JSON twin and the Risk page.
    open_count = QUEUE_PER_PAGE + 5 + 3
    assert selectors.open_incident_count() == open_count
    assert client.get(QUEUE + "data").json()["kpis"]["queue"] == f"{open_count}"
    risk = _as(executive).get("/monitoring/executive/data").json()
    assert risk["kpis"]["open_incidents"] == f"{open_count}"
    assert f'data-kpi="queue">{open_count}<' in first


def test_counts_agree_with_ingested_incidents(privacy_officer, executive, source, eu_dataset):
    telemetry_ingest(
        source=source,
        items=[event(dest=d) for d in ("aws:us-east-1", "aws:ap-south-1", "aws:us-east-1")],
    )
    resolved = Incident.objects.get(destination_region="aws:ap-south-1")
    services.incident_resolve(actor=privacy_officer, incident=resolved, note="moved")
    queue = _as(privacy_officer).get(QUEUE + "data").json()["kpis"]
    risk = _as(executive).get("/monitoring/executive/data").json()["kpis"]
    assert queue["queue"] == risk["open_incidents"] == "1"


def test_filters(privacy_officer):
    _incidents(2, severity="critical", basis="legal")
    _incidents(3, severity="low", basis="house", jurisdiction="br")
    _incidents(1, severity="medium", status="acknowledged")
    mine = _incidents(1, severity="medium")[0]
    Incident.objects.filter(pk=mine.pk).update(owner=privacy_officer)
    client = _as(privacy_officer)

    def shown(**query) -> int:
        return len(_ids(client.get(QUEUE, query).content.decode()))

    assert shown() == 7
    assert shown(kind="law") == 2 and shown(kind="house") == 5
    assert shown(jurisdiction="br") == 3
    assert shown(severity="medium") == 2
    assert shown(status="acknowledged") == 1
    assert shown(owner="me") == 1 and shown(owner="nobody") == 6
    assert shown(owner=str(privacy_officer.pk)) == 1
    data = client.get(QUEUE + "data", {"kind": "law"}).json()["kpis"]
    assert (data["queue"], data["shown"]) == ("7", "2")  # open count stays unfiltered
    bad = client.get(QUEUE, {"severity": "apocalyptic"})
    assert bad.status_code == 400 and b"severity" in bad.content


def test_the_assign_controls_preselect_nobody(privacy_officer):
    row = _incidents(1)[0]
    Incident.objects.filter(pk=row.pk).update(owner=privacy_officer)
    html = _as(privacy_officer).get(QUEUE).content.decode()
    assert '<option value="" selected>— choose a person —</option>' in html
    assert f'<option value="{privacy_officer.pk}" selected' not in html


def test_bulk_acknowledge_and_assign(privacy_officer, source, eu_dataset):
    telemetry_ingest(
        source=source, items=[event(dest=d) for d in ("aws:us-east-1", "aws:ap-south-1")]
    )
    first, second = Incident.objects.order_by("id")
    other = UserFactory(username="pia-privacy", roles=["privacy_officer"])
    client = _as(privacy_officer)
    picked = {"incidents": [str(first.pk), str(second.pk)], "next": QUEUE}
    answer = client.post(QUEUE + "bulk", {"action": "assign", **picked})  # nobody chosen
    assert answer.status_code == 302
    assert not Incident.objects.exclude(owner=None).exists()
    client.post(QUEUE + "bulk", {"action": "acknowledge", **picked})
    assert set(Incident.objects.values_list("status", flat=True)) == {"acknowledged"}
    client.post(QUEUE + "bulk", {"action": "assign", "owner": other.pk, **picked})
    assert set(Incident.objects.values_list("owner", flat=True)) == {other.pk}
    assert IncidentEvent.objects.filter(kind="assigned").count() == 2
    assert LedgerEntry.objects.filter(kind="incident.assigned").count() == 2


def test_bulk_is_all_or_none(privacy_officer, source, eu_dataset):
    telemetry_ingest(
        source=source, items=[event(dest=d) for d in ("aws:us-east-1", "aws:ap-south-1")]
    )
    first, second = Incident.objects.order_by("id")
    services.incident_acknowledge(actor=privacy_officer, incident=second)
    before = LedgerEntry.objects.count()
    api = APIClient()
    api.force_authenticate(privacy_officer)
    answer = api.post(
        "/api/v1/incidents/bulk/",
        {"action": "acknowledge", "incidents": [first.pk, second.pk]},
        format="json",
    )
    assert answer.status_code == 409
    assert f"Incident #{second.pk}" in answer.json()["status"][0]
    assert Incident.objects.get(pk=first.pk).status == "open"  # rolled back with the batch
    assert LedgerEntry.objects.count() == before
    answer = api.post(
        "/api/v1/incidents/bulk/",
        {"action": "acknowledge", "incidents": [first.pk]},
        format="json",
    )
    assert answer.status_code == 200 and answer.json()[0]["status"] == "acknowledged"
    assert api.post("/api/v1/incidents/bulk/", {"action": "x"}, format="json").status_code == 400
    huge = {"action": "acknowledge", "incidents": [2**63]}  # past a 64-bit id: no overflow
    answer = api.post("/api/v1/incidents/bulk/", huge, format="json")
    assert answer.status_code == 400 and "incidents" in answer.json()


def test_the_queue_page_fits_its_filters_into_the_query_count(
    privacy_officer, django_assert_max_num_queries
):
    _incidents(40)
    client = _as(privacy_officer)
    with django_assert_max_num_queries(20):
        assert client.get(QUEUE, {"kind": "house", "page": 2}).status_code == 200
