"""Single sign-on in a real browser: Locus with local passwords off, a real OpenID Connect
provider (oidc-provider, in its own Node.js process). Pia signs in through the login redirect;
her `groups` claim makes her a privacy officer for the EU, and she lands on her queue for the
EU. Her group is removed at the provider; at her next sign-in the role is gone.

The same sign-in on a server that requires a second factor: test_sso_second_factor.py."""

from __future__ import annotations

import pytest

from governance.models import LedgerEntry
from tests.identity_journeys import sign_in_through_provider
from tests.oidc_provider import EU_OFFICERS, person

pytestmark = pytest.mark.live


def test_her_groups_at_the_provider_make_and_unmake_her_an_eu_privacy_officer(
    sso_locus, sso_browser
):
    provider, _ = sso_locus
    provider.people({"pia": person("Pia Officer", [EU_OFFICERS])})

    page = sign_in_through_provider(sso_browser, "pia")

    assert page.url.endswith("/monitoring/officer/")
    assert page.get_by_text("Your jurisdictions: eu.").is_visible()
    sso_browser.shot(page, "sso-officer-signed-in")

    provider.people({"pia": person("Pia Officer", [])})
    page = sign_in_through_provider(sso_browser, "pia")

    assert page.get_by_text("Your account has no role yet").first.is_visible()
    assert page.goto("/monitoring/officer/").status == 403
    sso_browser.shot(page, "sso-officer-role-gone")
    kinds = list(LedgerEntry.objects.order_by("sequence").values_list("kind", flat=True))
    assert kinds[-2:] == ["identity.linked", "identity.roles_synced"]
