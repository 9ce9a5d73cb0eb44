"""Journey: a privacy officer approves a transfer exception in the browser; the requester sees
it active, and the policy check for that dataset and destination flips to allow-with-grant."""

import pytest
from django.utils import timezone

from catalog.models import Jurisdiction, Region
from governance.models import Purpose, Responsibility
from governance.roles import Role
from requests.transfers import services
from tests.browser import browser_user
from tests.factories import make_dataset
from tests.navigation import follow

pytestmark = pytest.mark.live

US = "aws:us-east-1"


def test_an_officer_approves_and_the_check_flips_to_allow_with_grant(browser):
    officer = browser_user("priya-eu", [Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="eu"))
    owner = browser_user("omar-owner", [Role.DATA_OWNER])
    dataset = make_dataset(
        owner=owner,
        slug="eu-clicks",
        jurisdiction="eu",
        allowed_processing_regions=["aws:eu-west-1"],
    )
    purpose = Purpose.objects.get(code="model-training")
    exception = services.exception_create(
        actor=owner,
        datasets=[dataset],
        destination_regions=[Region.objects.get(code=US)],
        purpose=purpose,
        mechanism="scc",
        scc_module="c2p",
        justification="Train the ranking model on US GPUs",
        starts_at=timezone.now(),
        submit=True,
    )

    # The requester's check says no before the decision.
    requester = browser.page_as(owner)
    check_url = (
        f"/governance/check/?dataset={dataset.slug}&action=train&region={US}&purpose={purpose.code}"
    )
    requester.goto(check_url)
    requester.get_by_role("button", name="Check").click()
    assert requester.locator(".check-result .badge").inner_text() == "Deny"

    page = browser.page_as(officer)
    follow(page, "Workflows", "Exceptions to review")
    page.get_by_role("link", name=exception.reference).click()
    page.locator("form.step-form", has=page.get_by_role("button", name="Approve")).locator(
        "textarea"
    ).fill("SCCs module 2 with pseudonymisation: fine for two weeks")
    page.get_by_role("button", name="Approve").click()
    assert page.locator("h1 .badge").inner_text() == "Active"

    follow(requester, "Workflows", "Transfer exceptions")
    row = requester.locator("tr", has=requester.get_by_text(exception.reference))
    assert "Active" in row.inner_text()
    requester.goto(check_url)
    requester.get_by_role("button", name="Check").click()
    assert requester.locator(".check-result .badge").inner_text() == "Allow with grant"
    browser.shot(requester, "transfer-exception-check-allows-with-grant")
    browser.shot(page, "transfer-exception-approved")


def test_a_four_eyes_exception_is_completed_by_two_officers(browser):
    """Restricted data needs two approvers: the first officer's approval leaves it under review,
    she cannot approve twice, and a second officer's makes it active."""
    first = browser_user("priya-four-eyes", [Role.PRIVACY_OFFICER])
    second = browser_user("marco-four-eyes", [Role.PRIVACY_OFFICER])
    eu = Jurisdiction.objects.get(code="eu")
    for officer in (first, second):
        Responsibility.objects.create(user=officer, jurisdiction=eu)
    owner = browser_user("omar-four-eyes", [Role.DATA_OWNER])
    dataset = make_dataset(
        owner=owner,
        slug="eu-card-payments",
        jurisdiction="eu",
        sensitivity="restricted",
        allowed_processing_regions=["aws:eu-west-1"],
    )
    exception = services.exception_create(
        actor=owner,
        datasets=[dataset],
        destination_regions=[Region.objects.get(code=US)],
        purpose=Purpose.objects.get(code="model-training"),
        mechanism="scc",
        scc_module="c2p",
        justification="Fraud model on US GPUs",
        starts_at=timezone.now(),
        submit=True,
    )
    assert exception.approvals_required == 2

    def approve(page, why: str) -> None:
        follow(page, "Workflows", "Exceptions to review")
        page.get_by_role("link", name=exception.reference).click()
        form = page.locator("form.step-form", has=page.get_by_role("button", name="Approve"))
        form.locator("textarea").fill(why)
        form.get_by_role("button", name="Approve").click()

    page = browser.page_as(first)
    approve(page, "SCCs module 2, tokenised card numbers: fine")
    assert page.locator("h1 .badge").inner_text() == "Under review"
    approvals = page.locator("section[aria-labelledby=approvals-heading]").inner_text()
    assert "1 of 2 needed" in approvals and first.get_full_name() in approvals
    # Her queue says the exception waits for another officer, not for her.
    follow(page, "Workflows", "Exceptions to review")
    assert "you approved; another officer must" in page.content()

    other = browser.page_as(second)
    approve(other, "Agreed: the measures hold for restricted data")
    assert other.locator("h1 .badge").inner_text() == "Active"
    exception.refresh_from_db()
    names = {a.approver_name for a in exception.approvals.all()}
    assert names == {first.get_full_name(), second.get_full_name()}
    browser.shot(other, "transfer-exception-four-eyes-active")
