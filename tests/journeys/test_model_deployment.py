"""Journey: a data owner registers a model trained by a run, deploys it to a region the law of
its training data does not allow, and sees the deny with the law and the data that cause it."""

import pytest

from governance.roles import Role
from tests.browser import browser_user
from tests.governance.model_setup import MUMBAI, clicks_data, health_data, training_run
from tests.navigation import follow

pytestmark = pytest.mark.live


def test_an_owner_deploys_a_model_where_the_law_of_its_data_denies_it(shared_browser):
    owner = browser_user("olivia-models", [Role.DATA_OWNER])
    training_run(owner, [health_data(owner), clicks_data(owner)], name="triage-training")

    page = shared_browser.page_as(owner)
    follow(page, "Governance", "Models")
    page.get_by_role("link", name="Register a model").click()
    page.get_by_label("Name").fill("triage")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("Artefact URI").fill("s3://models/triage/1.0.0")
    page.get_by_label("triage-training").check()
    page.get_by_role("button", name="Register").click()

    assert page.locator("h1").inner_text() == "triage 1.0.0"
    lineage = page.locator(".lineage-runs")
    assert "eu-health" in lineage.inner_text() and "clicks" in lineage.inner_text()

    page.get_by_label("Region").select_option(MUMBAI)
    page.get_by_label("Purpose").select_option("model-training")
    page.get_by_label("Endpoint").fill("https://triage.example/in")
    page.get_by_role("button", name="Deploy").click()

    assert f"Deployment to {MUMBAI} denied" in page.locator(".messages").inner_text()
    row = page.locator("tr.deployment-denied")
    assert row.locator(".status").inner_text() == "Denied"
    assert row.locator(".badge").inner_text() == "Deny"
    legal = row.locator(".legal").inner_text()
    assert "Needs a transfer mechanism" in legal
    assert "GDPR" in legal
    assert row.locator(".causes").inner_text().split() == ["eu-health"]
    assert "allow" in row.locator(".house").inner_text()  # the house rules allow it: the law denies
    assert page.locator("dl.facts").get_by_text("not served").is_visible()
    shared_browser.shot(page, "model-deployment-denied")
