"""The steps the identity journeys share (tests/journeys/test_single_sign_on.py,
test_second_factor.py, test_sso_second_factor.py): a Locus that signs people in through a real
OpenID Connect provider, signing in there, enrolling an authenticator, and approving a transfer
exception when the second factor is asked again.

Fixtures (registered for the journeys in tests/journeys/conftest.py): `sso_locus` is (the
provider, Locus's base URL), local passwords off; a module that needs more of that server
overrides `sso_environment` (e.g. with `SECOND_FACTOR_ENV`); `sso_browser` is a browser on it.
"""

from __future__ import annotations

import base64
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from django_otp.oath import TOTP

from catalog.models import Region
from governance.identity.second_factor import SESSION_CHECKED_AT
from governance.models import Purpose
from governance.roles import Role
from requests.models import TransferException
from requests.transfers import services
from tests.browser import _chromium, browser_user
from tests.factories import make_dataset
from tests.live import LiveServer
from tests.navigation import follow
from tests.oidc_provider import OidcProvider

US = "aws:us-east-1"
MAX_AGE = 900
# A server that requires a second factor of privacy officers and superusers, as a real
# deployment does (the live servers' default environment turns it off).
SECOND_FACTOR_ENV = {
    "SECOND_FACTOR_REQUIRED_ROLES": "privacy_officer,superuser",
    "SECOND_FACTOR_MAX_AGE_SECONDS": str(MAX_AGE),
}
ENROL_PATH = "/accounts/second-factor/enrol/"
REASON = "SCCs module 2 with pseudonymisation: fine"


# --- Single sign-on -------------------------------------------------------------------------


@pytest.fixture
def sso_environment() -> dict[str, str]:
    """More of the `sso_locus` server's environment: a module overrides this fixture."""
    return {}


@pytest.fixture
def sso_locus(
    django_db_setup,
    tmp_path_factory,
    transactional_db,
    django_db_serialized_rollback,
    sso_environment,
):
    """(the provider, Locus's base URL): Locus signs people in through the provider only."""
    directory = tmp_path_factory.mktemp("sso")
    provider = OidcProvider(directory)
    environment = provider.locus_env() | {"LOCAL_PASSWORD_LOGIN": "0"} | sso_environment
    server = LiveServer(directory, env=environment)
    server.launch()
    try:
        base_url = server.ready()
        # The provider knows Locus's callback, so it starts once Locus has its port.
        provider.start([f"{base_url}/accounts/oidc/callback/"])
        yield provider, base_url
    finally:
        server.stop()  # before transactional_db flushes the tables it was using
        provider.stop()


@pytest.fixture
def sso_browser(sso_locus):
    with _chromium(sso_locus[1]) as opened:
        yield opened


def sign_in_through_provider(browser, login: str):
    """A fresh browser: Locus's login page, its one button, the provider's login page, back to
    the first page of Locus after the sign-in (the enrolment page, if Locus asks for it)."""
    page = browser.chromium.new_context(base_url=browser.base_url).new_page()
    page.set_default_timeout(90_000)  # a bound for a broken page, not a speed to reach
    page.goto("/")
    assert page.locator("input[name=password]").count() == 0
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("input[name=login]", login)
    page.get_by_role("button", name="Sign in at the provider").click()
    signing_in = (f"{browser.base_url}/accounts/login/", f"{browser.base_url}/accounts/oidc/")
    page.wait_for_url(
        lambda url: url.startswith(browser.base_url) and not url.startswith(signing_in)
    )
    return page


# --- The second factor ----------------------------------------------------------------------


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


def enrol_authenticator(browser, page, *, shots: str) -> str:
    """On the enrolment page Locus sent her to (and keeps her on): set up the authenticator
    from the secret shown, confirm its code, keep the recovery codes, continue. Returns the
    secret, which her authenticator app holds from now on."""
    assert ENROL_PATH in page.url
    assert page.locator(".qr-code svg").count() == 1
    browser.shot(page, f"{shots}-enrol")
    page.goto("/workflows/review/")
    assert ENROL_PATH in page.url

    secret = page.locator("[data-secret]").inner_text()
    page.get_by_label("Code from your authenticator").fill(authenticator_code(secret))
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    browser.shot(page, f"{shots}-recovery-codes")
    page.get_by_role("link", name="I have saved them: continue").click()
    return secret


# --- A transfer exception awaiting an EU privacy officer ------------------------------------


def eu_exception_awaiting_decision(slug: str) -> TransferException:
    """An EU dataset's owner asks to train on it in the US; it waits for an officer."""
    owner = browser_user(f"omar-{slug}", [Role.DATA_OWNER])
    dataset = make_dataset(
        owner=owner,
        slug=slug,
        jurisdiction="eu",
        allowed_processing_regions=["aws:eu-west-1"],
    )
    return services.exception_create(
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


def open_and_approve(page, exception: TransferException) -> None:
    """From her queue: the exception, the approval's reason, Approve."""
    follow(page, "Workflows", "Exceptions to review")
    page.get_by_role("link", name=exception.reference).click()
    approve(page)


def approve(page) -> None:
    form = page.locator("form.step-form", has=page.get_by_role("button", name="Approve"))
    form.locator("textarea").fill(REASON)
    form.get_by_role("button", name="Approve").click()


def approve_with_step_up(browser, page, exception: TransferException, secret: str, *, shots: str):
    """Later (her last check older than the maximum age) she approves: Locus asks for her code
    first and approves nothing meanwhile; she confirms, is back on the exception, approves."""
    age_the_check(page)
    open_and_approve(page, exception)

    assert page.get_by_role("heading", name="Confirm with your code").is_visible()
    assert TransferException.objects.get(pk=exception.pk).status == "submitted"
    browser.shot(page, f"{shots}-step-up")
    page.get_by_label("Code").fill(authenticator_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Confirm").click()

    assert page.url.endswith(f"/workflows/exceptions/{exception.pk}/")
    assert TransferException.objects.get(pk=exception.pk).status == "submitted"
    approve(page)
    assert page.locator("h1 .badge").inner_text() == "Active"
