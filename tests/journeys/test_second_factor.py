"""Journey: on a server that requires a second factor of privacy officers, an officer signs in,
is sent to enrol, sets up her authenticator from the secret the page shows (the test computes
the codes, as her app would), keeps her recovery codes, and approves an exception: her last
check being older than the maximum age, she is asked for a code again, then approves."""

import pytest

from catalog.models import Jurisdiction
from governance.models import Responsibility
from governance.roles import Role
from tests.browser import browser_user
from tests.identity_journeys import (
    SECOND_FACTOR_ENV,
    approve_with_step_up,
    enrol_authenticator,
    eu_exception_awaiting_decision,
)
from tests.live import LiveServer

pytestmark = pytest.mark.live


@pytest.fixture
def live_locus_process(django_db_setup, tmp_path_factory):
    """This module's server requires a second factor of privacy officers and superusers."""
    with LiveServer(tmp_path_factory.mktemp("live-locus"), env=SECOND_FACTOR_ENV) as server:
        yield server


def test_an_officer_enrols_then_is_asked_again_before_approving(browser):
    officer = browser_user("priya-second-factor", [Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="eu"))
    exception = eu_exception_awaiting_decision("eu-clicks-2fa")

    # Signing in with her password leads to the enrolment page, and nowhere else.
    page = browser.page_as(officer)
    secret = enrol_authenticator(browser, page, shots="second-factor")

    # Later: the check is older than the maximum age when she approves.
    approve_with_step_up(browser, page, exception, secret, shots="second-factor")
