"""The privacy officer's incident queue in a real browser against a live server: she opens an
incident from the queue and sees why it opened; the queue holds still while real telemetry
arrives through the ingest API (changed rows are marked in place, new incidents are offered as
"n new — show"); the queue and the incident page fit a 1366 px screen and a 390 px phone."""

from __future__ import annotations

import httpx
import pytest

from catalog.models import Country
from governance.policy.rules import rule_create
from monitoring.models import Incident
from tests.browser import browser_user
from tests.live import shared_live_locus, shared_live_locus_process
from tests.monitoring.conftest import eu_dataset, event, other_dataset, source_and_token

# Imported for pytest, which finds fixtures by name in this module.
__all__ = [
    "eu_dataset",
    "other_dataset",
    "shared_live_locus",
    "shared_live_locus_process",
    "source_and_token",
]

pytestmark = pytest.mark.live
QUEUE = "/monitoring/officer/"


@pytest.fixture
def browser(shared_browser):
    """Chromium against the module's one live server (each test has a database of its own)."""
    return shared_browser


@pytest.fixture
def officer(shared_live_locus):
    return browser_user("pia-officer", ["privacy_officer"])


def _send(base_url: str, token: str, *items: dict) -> dict:
    """Telemetry through the real ingest API (as a pipeline sends it)."""
    answer = httpx.post(
        f"{base_url}/api/v1/telemetry/events",
        json=list(items),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _row_order(page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-queue-holder] tr[data-incident]", "rows => rows.map(r => r.dataset.incident)"
    )


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_officer_opens_an_incident_from_the_queue_and_sees_why(
    browser,
    officer,
    source_and_token,
    eu_dataset,
    other_dataset,
    privacy_officer,
    shared_live_locus,
):
    rule_create(
        actor=privacy_officer,
        regions=[],
        countries=[Country.objects.get(code="US")],
        name="metrics never leave for the US",
        dataset=other_dataset,
        effect="deny",
        priority=500,
    )
    _send(
        shared_live_locus,
        source_and_token[1],
        event(dest="aws:ap-south-1"),
        event("us-metrics", dest="aws:us-east-1"),
    )
    legal = Incident.objects.get(dataset_slug="eu-customers")
    house = Incident.objects.get(dataset_slug="us-metrics")
    page = browser.page_as(officer)
    page.goto(QUEUE)
    page.click(f"#incident-{legal.pk} td.what a")
    page.wait_for_url(f"**/monitoring/incidents/{legal.pk}/")
    why = page.inner_text("[data-why]")
    assert "Why: the law was broken" in why
    assert "GDPR Arts. 44-49 (Chapter V)" in why  # the article
    assert "LAW" in why.upper()
    assert page.get_by_role("link", name="Request a transfer exception").is_visible()
    browser.shot(page, "incident-legal")
    page.go_back()
    page.click(f"#incident-{house.pk} td.what a")
    page.wait_for_url(f"**/monitoring/incidents/{house.pk}/")
    why = page.inner_text("[data-why]")
    assert "Why: a house rule was broken" in why
    assert "metrics never leave for the US" in why  # the officers' rule, by name


def test_the_queue_holds_still_while_live_updates_arrive(
    browser,
    officer,
    source_and_token,
    eu_dataset,
    shared_live_locus,
):
    token = source_and_token[1]
    destinations = ("aws:us-east-1", "aws:ap-south-1", "aws:ap-southeast-1")
    for dest in destinations:  # one after the other: the first is the oldest, shown last
        _send(shared_live_locus, token, event(dest=dest))
    page = browser.page_as(officer)
    page.goto(QUEUE)
    page.wait_for_selector("#risk-live.live-on")
    before = _row_order(page)
    assert len(before) == 3
    bottom = before[-1]
    # She is about to act on the bottom row: ticked, her pointer on its Acknowledge button.
    page.check(f'#incident-{bottom} input[name="incidents"]')
    page.hover(f"#incident-{bottom} .row-actions button")

    sent = _send(
        shared_live_locus, token, event(dest="aws:us-east-1"), event(dest="aws:af-south-1")
    )
    assert sent["violations"] == 2, sent
    updated = str(Incident.objects.get(destination_region="aws:us-east-1").pk)
    assert updated == bottom  # a re-sorted queue would now put it first
    page.wait_for_selector(f"#incident-{bottom}.row-changed")
    page.wait_for_selector("[data-new-notice]:not([hidden])")
    assert page.inner_text("[data-new-count]") == "1"
    assert _row_order(page) == before  # nothing moved or was inserted under her
    assert page.is_checked(f'#incident-{bottom} input[name="incidents"]')
    assert page.inner_text(f'#incident-{bottom} [data-cell="violation_count"]') == "2"
    browser.shot(page, "incident-queue-held-still")

    page.click("[data-show-new]")  # only now does the queue redraw
    page.wait_for_selector("[data-new-notice][hidden]", state="attached")
    new = str(Incident.objects.get(destination_region="aws:af-south-1").pk)
    assert sorted(_row_order(page)) == sorted([*before, new])


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_the_queue_and_the_incident_page_fit_the_screen(
    browser, officer, source_and_token, eu_dataset, width, height, shared_live_locus
):
    _send(
        shared_live_locus,
        source_and_token[1],
        event(dest="aws:us-east-1"),
        event(dest="aws:ap-south-1"),
    )
    incident = Incident.objects.order_by("id").first()
    page = browser.page_as(officer)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(QUEUE)
    assert _fits(page), page.evaluate("document.documentElement.scrollWidth")
    acknowledge = page.locator(f"#incident-{incident.pk} .row-actions button").first
    box = acknowledge.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    browser.shot(page, f"incident-queue-{width}")
    page.goto(f"/monitoring/incidents/{incident.pk}/")
    assert _fits(page), page.evaluate("document.documentElement.scrollWidth")
    browser.shot(page, f"incident-page-{width}")
