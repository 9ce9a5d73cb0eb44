"""Single sign-on in a real browser: Locus with local passwords off, a real OpenID Connect
provider (oidc-provider, in its own Node.js process). Pia signs in through the login redirect;
her `groups` claim makes her a privacy officer for the EU, and she lands on her queue for the
EU. Her group is removed at the provider; at her next sign-in the role is gone.

The second factor joins here: take `sso_locus` and `sign_in_through_provider` from this module;
`person(..., amr=["pwd"])` makes the provider assert a password only (the session's
`identity_amr`), so Locus asks Pia to enrol TOTP before she approves; `amr=["pwd", "mfa"]` makes
it assert MFA, so it should not."""

from __future__ import annotations

import pytest

from governance.models import LedgerEntry
from tests.browser import _chromium
from tests.live import LiveServer
from tests.oidc_provider import EU_OFFICERS, OidcProvider, person

pytestmark = pytest.mark.live


@pytest.fixture
def sso_locus(django_db_setup, tmp_path_factory, transactional_db, django_db_serialized_rollback):
    """(the provider, Locus's base URL): Locus signs people in through the provider only."""
    directory = tmp_path_factory.mktemp("sso")
    provider = OidcProvider(directory)
    server = LiveServer(directory, env=provider.locus_env() | {"LOCAL_PASSWORD_LOGIN": "0"})
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
def chromium(sso_locus):
    with _chromium(sso_locus[1]) as opened:
        yield opened


def sign_in_through_provider(browser, login: str):
    """A fresh browser: Locus's login page, its one button, the provider's login page, back."""
    page = browser.chromium.new_context(base_url=browser.base_url).new_page()
    page.set_default_timeout(90_000)  # a bound for a broken page, not a speed to reach
    page.goto("/")
    assert page.locator("input[name=password]").count() == 0
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("input[name=login]", login)
    page.get_by_role("button", name="Sign in at the provider").click()
    page.wait_for_url(lambda url: url.startswith(browser.base_url) and "/accounts/" not in url)
    return page


def test_her_groups_at_the_provider_make_and_unmake_her_an_eu_privacy_officer(sso_locus, chromium):
    provider, _ = sso_locus
    provider.people({"pia": person("Pia Officer", [EU_OFFICERS])})

    page = sign_in_through_provider(chromium, "pia")

    assert page.url.endswith("/monitoring/officer/")
    assert page.get_by_text("Your jurisdictions: eu.").is_visible()
    chromium.shot(page, "sso-officer-signed-in")

    provider.people({"pia": person("Pia Officer", [])})
    page = sign_in_through_provider(chromium, "pia")

    assert page.get_by_text("Your account has no role yet").first.is_visible()
    assert page.goto("/monitoring/officer/").status == 403
    chromium.shot(page, "sso-officer-role-gone")
    kinds = list(LedgerEntry.objects.order_by("sequence").values_list("kind", flat=True))
    assert kinds[-2:] == ["identity.linked", "identity.roles_synced"]
