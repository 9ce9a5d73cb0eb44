"""The executive dashboard in a real browser against a live server: the figures are drawn by the
local plotly.min.js from the page's JSON, the page joins the risk stream, and a violation
posted to the telemetry API shows up in the live feed and the key figures without a reload."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser import browser, browser_user  # noqa: F401  (fixtures)
from tests.live import live_locus, live_locus_process  # noqa: F401
from tests.monitoring.conftest import event

pytestmark = pytest.mark.live
FIGURES = ("trend", "jurisdictions", "flows", "top_datasets", "subject_requests")


def test_the_executive_dashboard_draws_and_updates_live(
    browser,  # noqa: F811
    live_locus,  # noqa: F811
    source_and_token,
    eu_dataset,
):
    executive = browser_user("erin-live", ["executive"])
    problems: list[str] = []
    page = browser.page_as(executive)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/monitoring/executive/")
    page.wait_for_selector("#risk-live.live-on")
    for name in FIGURES:  # plotly.js drew each one (the map after fetching the local base map)
        page.wait_for_selector(f'[data-figure="{name}"] .main-svg')
    before = int(page.inner_text('[data-kpi="violations"]').replace(",", ""))

    answer = httpx.post(
        f"{live_locus}/api/v1/telemetry/events",
        json=[event("eu-customers", dest="aws:us-east-1")],
        headers={"Authorization": f"Bearer {source_and_token[1]}"},
        timeout=30,
    )
    assert answer.json()["violations"] == 1, answer.text
    page.wait_for_selector("[data-live-feed] li:has-text('Violation: eu-customers')")
    page.wait_for_function(
        "n => Number(document.querySelector('[data-kpi=\"violations\"]').textContent"
        ".replace(/,/g, '')) > n",
        arg=before,
    )
    assert re.search(r"Incident #\d+ opened", page.inner_text("[data-live-feed]"))
    page.wait_for_selector("[data-fragment=flows_table] td:has-text('US')")
    browser.shot(page, "monitoring-executive-live")
    assert problems == []
