"""The Risk page: what changed against the previous period of the same length (time injected),
who drives it by full name, what needs a decision, and charts an executive can read."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from catalog.models import Jurisdiction
from monitoring import selectors as queue
from monitoring.dashboards import figures
from monitoring.dashboards import selectors as reads
from monitoring.models import Incident
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

# A week ending on Friday 20 March 2026, against the week before it.
WEEK = reads.Filters(since=dt.date(2026, 3, 14), until=dt.date(2026, 3, 20))


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def empty_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "risk-page-tests",
        }
    }
    cache.clear()
    yield
    cache.clear()


def ingest(source, when: dt.datetime, *items: dict) -> None:
    result = telemetry_ingest(source=source, items=list(items), now=when + dt.timedelta(minutes=1))
    assert result.stored == len(items), result.errors


@pytest.fixture
def two_weeks(source, eu_dataset, other_dataset):
    """The week before: 4 events, 1 violation (an incident resolved on the 12th). This week:
    4 events, 3 violations towards another destination (a new incident, still open)."""
    before = at(10)
    ingest(
        source,
        before,
        event("eu-customers", dest="aws:us-east-1", at=before),
        *(event("eu-customers", dest="aws:eu-west-1", at=before) for _ in range(3)),
    )
    Incident.objects.update(status=Incident.Status.RESOLVED, resolved_at=at(12))
    now = at(18)
    ingest(
        source,
        now,
        *(event("eu-customers", dest="aws:sa-east-1", at=now) for _ in range(3)),
        event("us-metrics", dest="aws:us-east-1", at=now),
    )
    # Outside both periods: counts for neither.
    ingest(source, at(2), event("eu-customers", dest="aws:eu-west-1", at=at(2)))


def test_the_previous_period_is_as_long_and_ends_the_day_before():
    previous = WEEK.previous()
    assert (previous.since, previous.until) == (dt.date(2026, 3, 7), dt.date(2026, 3, 13))
    assert previous.length == WEEK.length == 7
    assert WEEK.ends_at() == dt.datetime(2026, 3, 21, tzinfo=dt.UTC)
    assert previous.ends_at() == dt.datetime(2026, 3, 14, tzinfo=dt.UTC)
    one_day = reads.Filters(since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 1), jurisdiction="eu")
    assert one_day.previous() == reads.Filters(dt.date(2026, 2, 28), dt.date(2026, 2, 28), "eu")


def test_changes_against_the_previous_period(two_weeks):
    changes = reads.period_changes(WEEK)
    assert changes["events"] == {"now": 4, "before": 4, "delta": 0, "direction": "flat"}
    assert changes["violations"] == {"now": 3, "before": 1, "delta": 2, "direction": "up"}
    share = changes["violation_share"]
    assert (share["now"], share["before"], share["direction"]) == (0.75, 0.25, "up")
    assert changes["incidents_opened"] == {"now": 1, "before": 1, "delta": 0, "direction": "flat"}
    # Open at the end of each week: last week's incident was resolved on the 12th.
    assert changes["open_incidents"] == {"now": 1, "before": 0, "delta": 1, "direction": "up"}


def test_an_incident_resolved_after_the_previous_period_counted_open_then(two_weeks):
    Incident.objects.filter(destination_region="aws:us-east-1").update(resolved_at=at(15))
    changes = reads.period_changes(WEEK)
    assert changes["open_incidents"]["before"] == 1


def test_a_jurisdiction_filter_narrows_both_periods(two_weeks):
    eu = reads.Filters(WEEK.since, WEEK.until, "eu")
    changes = reads.period_changes(eu)
    assert changes["events"]["now"] == 3  # us-metrics is stored in the US
    assert changes["violations"] == {"now": 3, "before": 1, "delta": 2, "direction": "up"}


def test_the_drivers_are_named_in_full_with_their_change(two_weeks, eu_dataset):
    (top,) = reads.jurisdiction_drivers(WEEK)
    assert top["key"] == "eu"
    assert top["name"] == Jurisdiction.objects.get(code="eu").name  # the full name
    assert (top["violations"], top["previous"], top["change"]["direction"]) == (3, 1, "up")
    (dataset,) = reads.dataset_drivers(WEEK)
    assert (dataset["name"], dataset["detail"]) == (eu_dataset.name, "eu-customers")
    assert dataset["change"]["delta"] == 2


def test_drivers_rank_by_violations_then_by_rise():
    counts = {"a": (5, 9), "b": (5, 1), "c": (9, 0), "d": (0, 7), "": (3, 0)}
    assert reads._ranked(counts, 3) == ["c", "b", "a"]  # nothing now: not a driver


# --- The page ----------------------------------------------------------------------------------


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def this_week_and_last(source, eu_dataset):
    now = timezone.now()
    ingest(
        source,
        now - dt.timedelta(days=9),
        event("eu-customers", dest="aws:us-east-1", at=now - dt.timedelta(days=9)),
    )
    ingest(
        source,
        now - dt.timedelta(minutes=5),
        *(
            event("eu-customers", dest="aws:sa-east-1", at=now - dt.timedelta(minutes=5))
            for _ in range(4)
        ),
    )


def test_the_page_says_what_changed_and_who_drives_it(executive, this_week_and_last, eu_dataset):
    html = browser(executive).get("/monitoring/executive/?days=7").content.decode()
    assert Jurisdiction.objects.get(code="eu").name in html
    assert eu_dataset.name in html
    assert 'data-change="violations" data-direction="up">▲ 3</span>' in html  # 4 against 1
    assert "in the previous 7 days" in html
    assert "transfer exceptions awaiting approval" in html


def test_the_live_data_carries_changes_and_the_first_screen(executive, this_week_and_last):
    data = browser(executive).get("/monitoring/executive/data?days=7").json()
    assert data["changes"]["violations"] == {"text": "▲ 3", "direction": "up", "before": "1"}
    assert data["changes"]["violation_share"]["text"] == "= no change"  # 100% both weeks
    assert "European Union" in data["fragments"]["drivers"]
    assert "open incidents" in data["fragments"]["decisions"]


def test_the_open_incident_count_is_the_queues(executive, privacy_officer, this_week_and_last):
    data = browser(executive).get("/monitoring/executive/data").json()
    assert data["kpis"]["open_incidents"] == f"{queue.open_incident_count():,}"
    assert queue.open_incident_count() > 0
    Incident.objects.update(status=Incident.Status.RESOLVED, resolved_at=timezone.now())
    cache.clear()
    assert (
        browser(executive).get("/monitoring/executive/data").json()["kpis"]["open_incidents"] == "0"
    )


# --- Charts ------------------------------------------------------------------------------------


def flow(src: str, dst: str, events: int, outcome: str = "compliant") -> dict:
    return {
        "source_country": src,
        "destination_country": dst,
        "outcome": outcome,
        "events": events,
        "bytes": 10,
    }


def test_the_largest_pairs_stay_and_the_rest_join_other():
    rows = [
        flow("DE", "SE", 50),
        flow("DE", "SE", 5, "violation"),
        flow("FR", "ES", 40),
        flow("IT", "NL", 3),
        flow("PL", "SE", 2),
        flow("DE", "US", 1, "violation"),
    ]
    grouped = figures.group_flows(rows, top=2)
    pairs = {
        (r["source_country"], r["destination_country"], r["outcome"]): r["events"] for r in grouped
    }
    assert pairs == {
        ("DE", "SE", "compliant"): 50,
        ("DE", "SE", "violation"): 5,
        ("FR", "ES", "compliant"): 40,
        ("Other", "Other", "compliant"): 3,  # Italy → Netherlands: neither end drawn
        ("Other", "SE", "compliant"): 2,  # Poland → Sweden: Sweden is drawn
        ("DE", "Other", "violation"): 1,  # Germany → the US
    }
    assert sum(r["events"] for r in grouped) == sum(r["events"] for r in rows)
    assert sum(r["bytes"] for r in grouped) == 60


def test_the_sankey_names_countries_and_reads_source_to_destination():
    names = {"DE": "Germany", "SE": "Sweden", "FR": "France", "ES": "Spain"}
    rows = [flow("DE", "SE", 50)] + [flow("FR", f"X{i}", 1) for i in range(figures.TOP_FLOWS + 3)]
    trace = figures.sankey_figure(rows, names)["data"][0]
    labels = trace["node"]["label"]
    assert "Germany" in labels and "Sweden" in labels and "Other countries" in labels
    assert not any("→" in label for label in labels)  # the arrow is the hover's, once
    assert trace["link"]["hovertemplate"].startswith(
        "%{source.label} → %{target.label}: %{value:,} events"
    )
    assert (
        len({(s, t) for s, t in zip(trace["link"]["source"], trace["link"]["target"], strict=True)})
        <= figures.TOP_FLOWS + 2
    )
    assert labels[-1] == "Other countries"  # last on its side


def test_axis_titles_make_room_and_live_updates_keep_the_readers_view():
    days = [dt.date(2026, 3, d) for d in range(1, 8)]
    trend = figures.trend_figure(days, {"violation": [1] * 7})
    assert trend["layout"]["yaxis"]["automargin"] is True
    assert trend["layout"]["yaxis"]["title"]["standoff"] > 0
    bars = figures.top_datasets_figure(
        [{"name": "Customer profiles (Israel Central)", "slug": "cp", "violations": 3}]
    )
    assert bars["layout"]["yaxis"]["automargin"] is True
    assert bars["data"][0]["y"] == ["Customer profiles (Israel Central)"]  # not cut
    again = figures.trend_figure(days, {"violation": [2] * 7})
    assert trend["layout"]["uirevision"] == again["layout"]["uirevision"]  # constant
