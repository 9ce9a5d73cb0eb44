"""Journey: single sign-on and a required second factor together. Locus signs people in only
through a real OpenID Connect provider (oidc-provider, its own Node.js process) and requires a
second factor of privacy officers, as a real deployment does.

Pia's `groups` claim makes her a privacy officer for the EU; her provider asserts a password
only (amr ["pwd"]), so Locus sends her to enrol an authenticator (the test computes its codes
from the secret the page shows, as her app would). Later, her last check being older than the
maximum age (moved back in the session store, not waited for), she approves an EU transfer
exception: Locus asks for her code again, then the exception is approved and active.

Mia's provider asserts several factors (amr ["pwd", "mfa"]): she is not asked to enrol, and
her sign-in at the provider stands for the check when she approves."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests.models import ExceptionApproval, TransferException
from tests.identity_journeys import (
    SECOND_FACTOR_ENV,
    approve_with_step_up,
    enrol_authenticator,
    eu_exception_awaiting_decision,
    open_and_approve,
    sign_in_through_provider,
)
from tests.oidc_provider import EU_OFFICERS, person

pytestmark = pytest.mark.live


@pytest.fixture
def sso_environment() -> dict[str, str]:
    """This module's server requires a second factor of privacy officers and superusers."""
    return SECOND_FACTOR_ENV


def test_an_sso_officer_with_a_password_only_enrols_and_steps_up_to_approve(sso_locus, sso_browser):
    provider, _ = sso_locus
    provider.people({"pia": person("Pia Officer", [EU_OFFICERS], amr=["pwd"])})

    page = sign_in_through_provider(sso_browser, "pia")
    secret = enrol_authenticator(sso_browser, page, shots="sso-second-factor")

    # Enrolled, she can open Locus's pages: her queue as the EU's officer.
    page.goto("/monitoring/officer/")
    assert page.get_by_text("Your jurisdictions: eu.").is_visible()

    # An exception for EU data, submitted now that she is the EU's officer: it awaits her.
    exception = eu_exception_awaiting_decision("eu-clicks-sso-2fa")

    approve_with_step_up(sso_browser, page, exception, secret, shots="sso-second-factor")

    sso_browser.shot(page, "sso-second-factor-approved")
    assert TransferException.objects.get(pk=exception.pk).status == "active"
    approval = ExceptionApproval.objects.get(exception=exception)
    assert approval.approver.get_username() == "pia"
    assert TOTPDevice.objects.filter(user=approval.approver, confirmed=True).count() == 1


def test_an_sso_officer_whose_provider_asserts_mfa_is_not_asked_to_enrol(sso_locus, sso_browser):
    provider, _ = sso_locus
    provider.people({"mia": person("Mia Officer", [EU_OFFICERS], amr=["pwd", "mfa"])})

    page = sign_in_through_provider(sso_browser, "mia")

    assert page.url.endswith("/monitoring/officer/")
    assert page.get_by_text("Your jurisdictions: eu.").is_visible()
    sso_browser.shot(page, "sso-mfa-officer-signed-in")

    exception = eu_exception_awaiting_decision("eu-clicks-sso-mfa")
    open_and_approve(page, exception)

    assert page.locator("h1 .badge").inner_text() == "Active"
    sso_browser.shot(page, "sso-mfa-officer-approved")
    approval = ExceptionApproval.objects.get(exception=exception)
    assert approval.approver.get_username() == "mia"
    assert not TOTPDevice.objects.filter(user=approval.approver).exists()
