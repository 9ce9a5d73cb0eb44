"""Journeys on the Risk page in a real browser: an executive signs in, lands on it and sees the
top jurisdiction and its change against the previous period without scrolling (at 1366x768 and
1920x1080); a tooltip on a chart stays up while a live update redraws the chart."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from catalog.models import Jurisdiction
from monitoring.telemetry import services
from monitoring.telemetry.ingest import telemetry_ingest
from tests.browser import PASSWORD, browser_user
from tests.factories import make_dataset
from tests.live import shared_live_locus, shared_live_locus_process  # noqa: F401
from tests.monitoring.conftest import event

pytestmark = pytest.mark.live
SCREENS = [(1366, 768), (1920, 1080)]
# The point a reader hovers: the last day of the violations line of the trend chart.
TREND_POINT = """() => {
  const gd = document.querySelector('[data-figure="trend"]');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const trace = gd._fullData.find(t => t.name === 'Violation');
  const i = trace.x.length - 1;
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(xa.d2l(trace.x[i])),
          y: box.top + ya._offset + ya.l2p(trace.y[i])};
}"""


@pytest.fixture
def chromium(shared_browser):
    """The module's Chromium (tests.browser.shared_browser), to open pages at a chosen size."""
    return shared_browser.chromium


def viewport(size: tuple[int, int]) -> dict[str, int]:
    return {"width": size[0], "height": size[1]}


def sign_in(chromium, base_url: str, user, size: tuple[int, int]):
    context = chromium.new_context(base_url=base_url, viewport=viewport(size))
    page = context.new_page()
    page.set_default_timeout(90_000)  # a bound for a broken page, not a speed to reach
    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


@pytest.fixture
def source_and_token(db):
    officer = browser_user("olga-officer", ["privacy_officer"])
    return services.telemetry_source_register(actor=officer, name="pipeline-journey")


@pytest.fixture
def two_months(source_and_token):
    """Personal data of EU subjects sent to the US: twice in the previous 30 days, five times
    in the last 30 (ingested on a clock set back for the older ones)."""
    make_dataset(
        slug="eu-customers",
        storage_region="aws:eu-west-1",
        lawful_basis="consent",
        allowed_processing_regions=["aws:eu-central-1"],
    )
    source = source_and_token[0]
    now = timezone.now()
    # The recent five on today's point of the trend (UTC days), which the tests hover, even
    # in the first minutes of a day.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    recent = max(now - dt.timedelta(minutes=10), today)
    for when, count in ((now - dt.timedelta(days=40), 2), (recent, 5)):
        items = [event("eu-customers", dest="aws:us-east-1", at=when) for _ in range(count)]
        items.append(event("eu-customers", dest="aws:eu-west-1", at=when))
        result = telemetry_ingest(source=source, items=items, now=when + dt.timedelta(minutes=1))
        assert result.stored == len(items), result.errors


def above_the_fold(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, selector
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (selector, box, size)
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (selector, box, size)


def test_an_executive_lands_on_the_risk_page_and_sees_what_changed_without_scrolling(
    chromium,
    shared_live_locus,  # noqa: F811
    two_months,
):
    executive = browser_user("erin-exec", ["executive"])
    eu = Jurisdiction.objects.get(code="eu").name
    page = sign_in(chromium, shared_live_locus, executive, SCREENS[0])
    assert page.url.endswith("/monitoring/executive/")
    top = '[data-drivers="jurisdictions"] li:first-child'
    for size in SCREENS:
        page.set_viewport_size(viewport(size))
        page.goto("/monitoring/executive/")
        assert page.inner_text(f"{top} .driver-name") == eu  # named in full
        assert "▲ 3" in page.inner_text(f"{top} .kpi-delta")  # 5 against 2
        assert "from 2" in page.inner_text(f"{top} .driver-figures")
        above_the_fold(page, f"{top} .driver-name")
        above_the_fold(page, f"{top} .kpi-delta")
        above_the_fold(page, '[data-change="violations"]')
        above_the_fold(page, '[data-decision="open_incidents"]')
    assert page.inner_text('[data-change="violations"]') == "▲ 3"


def test_a_tooltip_stays_up_across_a_live_update(
    chromium,
    shared_live_locus,  # noqa: F811
    two_months,
    source_and_token,
):
    executive = browser_user("erin-hover", ["executive"])
    page = sign_in(chromium, shared_live_locus, executive, SCREENS[0])
    # Its own period (7 days): the server caches numbers per period and stream position, and
    # the previous test's database had the same positions.
    page.goto("/monitoring/executive/?days=7")
    page.wait_for_selector("#risk-live.live-on")
    chart = page.locator('[data-figure="trend"]')
    page.wait_for_selector('[data-figure="trend"] .main-svg')
    chart.scroll_into_view_if_needed()
    point = page.evaluate(TREND_POINT)
    page.mouse.move(point["x"], point["y"])
    page.wait_for_selector('[data-figure="trend"] .hoverlayer .hovertext')
    revision = chart.get_attribute("data-revision")
    shown = page.inner_text('[data-kpi="violations"]')

    answer = httpx.post(
        f"{shared_live_locus}/api/v1/telemetry/events",
        json=[event("eu-customers", dest="aws:us-east-1")],
        headers={"Authorization": f"Bearer {source_and_token[1]}"},
        timeout=30,
    )
    assert answer.json()["violations"] == 1, answer.text
    # The live update arrives and redraws the chart in place...
    page.wait_for_function(
        "r => document.querySelector('[data-figure=\"trend\"]').dataset.revision !== r",
        arg=revision,
    )
    assert page.inner_text('[data-kpi="violations"]') != shown
    # ...and the reader's tooltip is still up, on the point with the new count.
    label = page.locator('[data-figure="trend"] .hoverlayer .hovertext')
    assert label.count() == 1
    assert "6 events" in (label.text_content() or "")
