"""The risk dashboards: who sees which page, bounded queries, figures that match a recount of
the events, and the queue's actions going through the incident services."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset
from governance.models import Responsibility
from monitoring.dashboards import selectors as reads
from monitoring.models import EventOutcome, Incident, TelemetryEvent, Violation
from monitoring.telemetry.ingest import telemetry_ingest
from requests.models import SubjectRequest
from requests.models.subjects import SubjectRequestStatus
from tests.factories import UserFactory
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

EXECUTIVE_URL = "/monitoring/executive/"
OFFICER_URL = "/monitoring/officer/"
OWNER_URL = "/monitoring/owner/"


@pytest.fixture(autouse=True)
def empty_cache(settings):
    """Executive numbers are cached by stream head, and heads repeat across rolled-back tests:
    each test gets an empty cache of its own (never a shared Redis database to flush)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "monitoring-dashboard-tests",
        }
    }
    cache.clear()
    yield
    cache.clear()


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def traffic(source, eu_dataset, other_dataset):
    """A day of mixed telemetry: compliant, violating, cross-border, and an unknown dataset."""
    now = timezone.now()
    items = [
        event("eu-customers", dest="aws:eu-west-1", at=now - dt.timedelta(days=2)),
        event("eu-customers", dest="aws:eu-central-1", at=now - dt.timedelta(days=1)),
        event("eu-customers", dest="aws:us-east-1", at=now - dt.timedelta(days=1)),
        event("eu-customers", dest="aws:us-east-1", at=now - dt.timedelta(hours=2)),
        event("eu-customers", dest="aws:sa-east-1", kind="transfer"),
        event("us-metrics", dest="aws:us-east-1"),
        event("us-metrics", dest="aws:eu-west-1"),
        event("not-in-the-catalog", dest="aws:us-east-1"),
    ]
    result = telemetry_ingest(source=source, items=items)
    assert result.stored == len(items), result.errors
    return result


def recount(**filters) -> Counter:
    return Counter(TelemetryEvent.objects.filter(**filters).values_list("outcome", flat=True))


# --- Who sees which page ------------------------------------------------------------------


@pytest.mark.parametrize("url", [EXECUTIVE_URL, EXECUTIVE_URL.rstrip("/") + "/data"])
def test_the_executive_dashboard_is_for_people_who_see_everything(
    url, executive, auditor, privacy_officer, data_owner, engineer, outsider, traffic
):
    for user in (executive, auditor, privacy_officer):  # the officer answers for no one: all
        assert browser(user).get(url).status_code == 200
    for user in (data_owner, engineer, outsider):
        assert browser(user).get(url).status_code == 403
    scoped = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=scoped, jurisdiction_id="eu")
    assert browser(scoped).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to the login page


def test_each_role_lands_on_its_dashboard(executive, privacy_officer, data_owner, outsider):
    assert browser(executive).get("/monitoring/").url == EXECUTIVE_URL
    scoped = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=scoped, jurisdiction_id="eu")
    assert browser(scoped).get("/monitoring/").url == OFFICER_URL
    assert browser(data_owner).get("/monitoring/").url == OWNER_URL
    assert browser(outsider).get("/monitoring/").status_code == 403


def test_the_executive_page_renders_figures_without_inline_script(
    executive, traffic, django_assert_max_num_queries
):
    client = browser(executive)
    with django_assert_max_num_queries(30):
        response = client.get(EXECUTIVE_URL + "?days=7&jurisdiction=eu")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("trend", "jurisdictions", "flows", "top_datasets", "subject_requests"):
        assert f'id="figure-{name}" type="application/json"' in html
    assert "<script>" not in html  # only src= scripts and JSON data blocks
    assert 'src="/static/monitoring/stream.js"' in html
    assert 'src="/static/monitoring/risk.js"' in html
    assert 'data-socket-path="/ws/risk/"' in html


def test_query_counts_do_not_grow_with_the_data(executive, source, eu_dataset, traffic):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.identity import authcache
    from governance.roles import roles_of

    client = browser(executive)
    signed_in = User.objects.get(pk=executive.pk)  # their permissions and roles cached for both
    authcache.load(signed_in)
    roles_of(signed_in)
    with CaptureQueriesContext(connection) as before:
        client.get(EXECUTIVE_URL)
    telemetry_ingest(
        source=source,
        items=[event("eu-customers", dest=d) for d in ["aws:us-east-1", "aws:sa-east-1"] * 20],
    )
    with CaptureQueriesContext(connection) as after:
        client.get(EXECUTIVE_URL)
    assert len(after.captured_queries) == len(before.captured_queries)
    assert not any("telemetryevent" in q["sql"].lower() for q in after.captured_queries)


# --- Figures match a recount of the events --------------------------------------------------


def test_the_figures_match_a_recount(executive, traffic):
    data = browser(executive).get("/monitoring/executive/data").json()
    counted = recount()
    trend = {trace["name"]: sum(trace["y"]) for trace in data["figures"]["trend"]["data"]}
    assert trend == {EventOutcome(o).label: counted.get(o, 0) for o in EventOutcome.values}
    assert data["kpis"]["events"] == f"{sum(counted.values()):,}"
    assert data["kpis"]["violations"] == f"{counted[EventOutcome.VIOLATION]:,}"
    assert data["kpis"]["open_incidents"] == str(Incident.objects.count())

    sankey = data["figures"]["flows"]["data"][0]
    labels = sankey["node"]["label"]
    links = Counter()
    for s, t, v in zip(
        sankey["link"]["source"], sankey["link"]["target"], sankey["link"]["value"], strict=True
    ):
        links[(labels[s], labels[t].removeprefix("→ "))] += v
    crossing = Counter()
    for src, dst in TelemetryEvent.objects.values_list("source_country", "destination_country"):
        if src and dst and src != dst:
            crossing[(src, dst)] += 1
    assert sum(links.values()) == sum(crossing.values())

    bars = data["figures"]["top_datasets"]["data"][0]
    violating = Counter(
        TelemetryEvent.objects.filter(outcome=EventOutcome.VIOLATION).values_list(
            "dataset_ref", flat=True
        )
    )
    assert dict(zip(bars["customdata"], bars["x"], strict=True)) == dict(violating)  # slugs
    assert set(bars["y"]) == set(
        Dataset.objects.filter(slug__in=violating).values_list("name", flat=True)
    )


def test_every_figure_is_valid_plotly(executive, data_owner, traffic):
    """Figures are built as plain dicts; Plotly's own validation must accept each of them."""
    import plotly.graph_objects as go

    executive_figures = browser(executive).get("/monitoring/executive/data").json()["figures"]
    owner_figures = browser(data_owner).get("/monitoring/owner/data").json()["figures"]
    for figure in [*executive_figures.values(), *owner_figures.values()]:
        go.Figure(figure)  # raises ValueError on any property Plotly does not know


def test_shared_numbers_follow_the_stream(executive, source, traffic):
    client = browser(executive)
    before = client.get("/monitoring/executive/data").json()["kpis"]["violations"]
    assert client.get("/monitoring/executive/data").json()["kpis"]["violations"] == before
    telemetry_ingest(source=source, items=[event("eu-customers", dest="aws:us-east-1")])
    after = client.get("/monitoring/executive/data").json()["kpis"]["violations"]
    assert int(after) == int(before) + 1


def test_risk_by_jurisdiction_matches_a_recount(traffic, eu_dataset):
    rows = {row["code"]: row for row in reads.risk_by_jurisdiction(reads.Filters.last_days(30))}
    eu_events = recount(dataset_id=eu_dataset.pk)
    assert rows["eu"]["events"] == sum(eu_events.values())
    assert rows["eu"]["violations"] == eu_events[EventOutcome.VIOLATION]
    assert {c["iso3"] for c in rows["eu"]["countries"]} >= {"DEU", "IRL", "FRA"}


def test_the_period_and_jurisdiction_filters(executive, traffic, eu_dataset):
    today = reads.Filters.last_days(1)
    counted = recount(occurred_at__date=timezone.now().date())
    assert sum(reads.outcome_totals(today).values()) == sum(counted.values())
    eu = reads.Filters.last_days(30, "eu")
    assert sum(reads.outcome_totals(eu).values()) == sum(recount(dataset_id=eu_dataset.pk).values())
    bad = browser(executive).get(EXECUTIVE_URL + "?days=abc&jurisdiction=nowhere")
    assert bad.status_code == 200  # ignored, not a 500


def test_subject_request_on_time_rate_and_overdue(db):
    today = timezone.now().date()

    def request(status, deadline, closed=None, **extra):
        return SubjectRequest.objects.create(
            type="access",
            status=status,
            jurisdiction_id="eu",
            sealed="-",
            subject_key="k",
            received_at=timezone.now() - dt.timedelta(days=40),
            deadline=deadline,
            closed_at=closed,
            **extra,
        )

    now = timezone.now()
    request(SubjectRequestStatus.COMPLETED, today - dt.timedelta(days=1), now - dt.timedelta(3))
    request(SubjectRequestStatus.COMPLETED, today - dt.timedelta(days=5), now - dt.timedelta(2))
    request(
        SubjectRequestStatus.REJECTED,
        today - dt.timedelta(days=5),
        now - dt.timedelta(2),
        extended_deadline=today,
    )
    request(SubjectRequestStatus.IN_PROGRESS, today - dt.timedelta(days=1))
    request(SubjectRequestStatus.IN_PROGRESS, today + dt.timedelta(days=3))
    counts = reads.subject_requests(reads.Filters.last_days(30))
    assert (counts["answered"], counts["on_time"], counts["overdue"], counts["open"]) == (
        3,
        2,
        1,
        2,
    )
    assert reads.subject_requests(reads.Filters.last_days(30, "br"))["answered"] == 0


# --- Privacy officer's queue ----------------------------------------------------------------


def test_an_officer_sees_and_handles_their_jurisdictions_incidents(
    traffic, django_assert_max_num_queries
):
    eu_officer = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=eu_officer, jurisdiction_id="eu")
    br_officer = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=br_officer, jurisdiction_id="br")
    incident = Incident.objects.filter(jurisdictions="eu").first()
    assert incident is not None

    mine = browser(eu_officer)
    with django_assert_max_num_queries(25):
        page = mine.get(OFFICER_URL)
    assert f'id="incident-{incident.pk}"' in page.content.decode()
    theirs = browser(br_officer)
    assert f'id="incident-{incident.pk}"' not in theirs.get(OFFICER_URL).content.decode()
    action = f"/monitoring/incidents/{incident.pk}/"
    assert theirs.post(action + "acknowledge").status_code == 404

    assert mine.post(action + "acknowledge").status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.owner_id) == ("acknowledged", eu_officer.pk)
    assert mine.post(action + "assign", {"owner": br_officer.pk}).status_code == 302
    incident.refresh_from_db()
    assert incident.owner_id == br_officer.pk
    mine.post(action + "resolve", {"note": ""})  # refused by the service: say how
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    mine.post(action + "resolve", {"note": "Bucket policy fixed"})
    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("resolved", "Bucket policy fixed")
    assert mine.post(action + "teleport").status_code == 302  # an error message, no change
    data = mine.get("/monitoring/officer/data").json()
    assert set(data["fragments"]) == {"queue", "alerts", "violations"}


def test_the_queue_is_for_officers_only(data_owner, executive, traffic):
    for user in (data_owner, executive):
        assert browser(user).get(OFFICER_URL).status_code == 403
    incident = Incident.objects.first()
    assert (
        browser(executive).post(f"/monitoring/incidents/{incident.pk}/acknowledge").status_code
        == 403
    )


# --- Data owner ---------------------------------------------------------------------------


def test_a_data_owner_sees_only_their_datasets(
    data_owner, other_owner, eu_dataset, traffic, django_assert_max_num_queries
):
    client = browser(data_owner)
    with django_assert_max_num_queries(25):
        page = client.get(OWNER_URL)
    assert page.status_code == 200
    data = client.get("/monitoring/owner/data").json()
    mine = recount(dataset_id=eu_dataset.pk)
    assert data["kpis"]["events"] == f"{sum(mine.values()):,}"
    assert data["kpis"]["violations"] == f"{mine[EventOutcome.VIOLATION]:,}"
    assert "eu-customers" in data["fragments"]["violations"]
    assert "us-metrics" not in data["fragments"]["violations"]
    incident = Violation.objects.filter(dataset=eu_dataset).latest("id").incident_id
    link = reverse("monitoring:incident-detail", args=[incident])
    assert f'href="{link}"' in data["fragments"]["violations"]  # each row leads to its incident
    assert client.get(link).status_code == 200  # which its owner may read
    theirs = browser(other_owner).get("/monitoring/owner/data").json()
    assert "eu-customers" not in theirs["fragments"]["violations"]
    assert theirs["kpis"]["events"] == f"{sum(recount(dataset__owner=other_owner).values()):,}"
