"""A breach drill in a real browser against a live server: the officer starts it on the drills
page, reads its report, opens the drill's incident (marked as a drill), acknowledges it there,
and the report shows the time it took against the clock of the data's law."""

from __future__ import annotations

import pytest

from monitoring.models import Drill
from tests.browser import browser_user
from tests.live import shared_live_locus, shared_live_locus_process
from tests.monitoring.conftest import eu_dataset

# Imported for pytest, which finds fixtures by name in this module.
__all__ = ["eu_dataset", "shared_live_locus", "shared_live_locus_process"]

pytestmark = pytest.mark.live


@pytest.fixture
def browser(shared_browser):
    return shared_browser


def test_an_officer_runs_a_drill_and_reads_its_report(browser, shared_live_locus, eu_dataset):
    officer = browser_user("dora-drill", ["privacy_officer"])
    page = browser.page_as(officer)
    page.goto("/monitoring/drills/")
    page.fill("#id_scenario", "A nightly export sends customer data to Virginia")
    page.select_option("#id_dataset", "eu-customers")
    page.select_option("#id_destination_region", "aws:us-east-1")
    page.get_by_role("button", name="Start the drill").click()
    drill = Drill.objects.get()
    page.wait_for_url(f"**/monitoring/drills/{drill.pk}/")
    report = page.inner_text("[data-report]")
    assert "72 hours" in report and "not yet" in report
    assert "BREACH DRILL" in page.inner_text("[data-drill]")
    browser.shot(page, "drill-report")

    incident = drill.incidents.get()
    page.get_by_role("link", name=f"#{incident.pk}").click()
    page.wait_for_url(f"**/monitoring/incidents/{incident.pk}/")
    assert "BREACH DRILL" in page.inner_text("[data-drill]")
    page.get_by_role("button", name="Acknowledge").first.click()
    page.wait_for_load_state()
    page.get_by_role("link", name=f"drill #{drill.pk}").click()
    page.wait_for_url(f"**/monitoring/drills/{drill.pk}/")
    acknowledged = page.inner_text('[data-step="acknowledge"]')
    assert "not yet" not in acknowledged and acknowledged.split("\t")[-1].strip() == "yes"
    browser.shot(page, "drill-report-acknowledged")
