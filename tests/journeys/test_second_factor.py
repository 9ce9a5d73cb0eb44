"""Journey: on a server that requires a second factor of privacy officers, an officer signs in,
is sent to enrol, sets up her authenticator from the secret the page shows (the test computes
the codes, as her app would), keeps her recovery codes, and approves an exception: her last
check being older than the maximum age, she is asked for a code again, then approves."""

import base64
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from django_otp.oath import TOTP

from catalog.models import Jurisdiction, Region
from governance.identity.second_factor import SESSION_CHECKED_AT
from governance.models import Purpose, Responsibility
from governance.roles import Role
from requests.models import TransferException
from requests.transfers import services
from tests.browser import browser_user
from tests.factories import make_dataset
from tests.live import LiveServer
from tests.navigation import follow

pytestmark = pytest.mark.live

US = "aws:us-east-1"
MAX_AGE = 900


@pytest.fixture
def live_locus_process(django_db_setup, tmp_path_factory):
    """This module's server requires a second factor of privacy officers and superusers."""
    environment = {
        "SECOND_FACTOR_REQUIRED_ROLES": "privacy_officer,superuser",
        "SECOND_FACTOR_MAX_AGE_SECONDS": str(MAX_AGE),
    }
    server = LiveServer(tmp_path_factory.mktemp("live-locus"), env=environment)
    server.launch()
    try:
        yield server
    finally:
        server.stop()


def authenticator_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app holding the shown secret displays (`steps_ahead` periods of
    30 s on: a code is accepted once, and the server takes the next period's too)."""
    generator = TOTP(base64.b32decode(secret.replace(" ", "")))
    generator.time = time.time() + 30 * steps_ahead
    return f"{generator.token():06d}"


def age_the_check(page) -> None:
    """Move the session's last check back past the maximum age (time injected, not waited)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=cookie["value"])
    session[SESSION_CHECKED_AT] = time.time() - MAX_AGE - 60
    session.save()


def test_an_officer_enrols_then_is_asked_again_before_approving(browser):
    officer = browser_user("priya-second-factor", [Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="eu"))
    owner = browser_user("omar-second-factor", [Role.DATA_OWNER])
    dataset = make_dataset(
        owner=owner,
        slug="eu-clicks-2fa",
        jurisdiction="eu",
        allowed_processing_regions=["aws:eu-west-1"],
    )
    exception = services.exception_create(
        actor=owner,
        datasets=[dataset],
        destination_regions=[Region.objects.get(code=US)],
        purpose=Purpose.objects.get(code="model-training"),
        mechanism="scc",
        scc_module="c2p",
        justification="Train the ranking model on US GPUs",
        starts_at=timezone.now(),
        submit=True,
    )

    # Signing in with her password leads to the enrolment page, and nowhere else.
    page = browser.page_as(officer)
    assert "/accounts/second-factor/enrol/" in page.url
    assert page.locator(".qr-code svg").count() == 1
    browser.shot(page, "second-factor-enrol")
    page.goto("/workflows/review/")
    assert "/accounts/second-factor/enrol/" in page.url

    secret = page.locator("[data-secret]").inner_text()
    page.get_by_label("Code from your authenticator").fill(authenticator_code(secret))
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    browser.shot(page, "second-factor-recovery-codes")
    page.get_by_role("link", name="I have saved them: continue").click()

    # Later: the check is older than the maximum age when she approves.
    age_the_check(page)
    follow(page, "Workflows", "Exceptions to review")
    page.get_by_role("link", name=exception.reference).click()
    form = page.locator("form.step-form", has=page.get_by_role("button", name="Approve"))
    form.locator("textarea").fill("SCCs module 2 with pseudonymisation: fine")
    form.get_by_role("button", name="Approve").click()

    assert page.get_by_role("heading", name="Confirm with your code").is_visible()
    assert TransferException.objects.get(pk=exception.pk).status == "submitted"
    browser.shot(page, "second-factor-step-up")
    page.get_by_label("Code").fill(authenticator_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Confirm").click()

    # Back on the exception: nothing was approved behind her back; she approves again.
    assert page.url.endswith(f"/workflows/exceptions/{exception.pk}/")
    assert TransferException.objects.get(pk=exception.pk).status == "submitted"
    form = page.locator("form.step-form", has=page.get_by_role("button", name="Approve"))
    form.locator("textarea").fill("SCCs module 2 with pseudonymisation: fine")
    form.get_by_role("button", name="Approve").click()
    assert page.locator("h1 .badge").inner_text() == "Active"
