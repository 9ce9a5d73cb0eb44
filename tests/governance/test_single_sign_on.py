"""Single sign-on against a real OpenID Connect provider (oidc-provider in its own Node.js
process): roles and jurisdictions from the `groups` claim at every sign-in, with ledger rows;
people matched by issuer and `sub`; bad callbacks answered 4xx; local passwords turned off."""

from __future__ import annotations

import json
import time
from urllib.parse import urljoin

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from governance.identity import oidc
from governance.identity.backends import NoPasswordBackend
from governance.identity.claims import grants_from
from governance.identity.oidc import PENDING_KEY, SignInError, _refuse_claim_elsewhere
from governance.models import ExternalIdentity, LedgerEntry, Responsibility
from governance.roles import Role, roles_of
from tests.factories import UserFactory
from tests.oidc_provider import EU_OFFICERS, OidcProvider, person

CALLBACK = "http://testserver/accounts/oidc/callback/"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    running = OidcProvider(tmp_path_factory.mktemp("oidc"))
    running.start([CALLBACK])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sso(provider, settings, db):
    """Locus configured for the provider; Pia is an EU privacy officer there."""
    for name, value in provider.locus_settings().items():
        setattr(settings, name, value)
    provider.people({"pia": person("Pia Officer", [EU_OFFICERS], amr=["pwd", "otp"])})
    return provider


def at_provider(start_url: str, login: str) -> str:
    """Sign in at the provider as `login`, as a browser would; the callback URL it sends back."""
    with httpx.Client(timeout=10) as browser:
        url = start_url
        for _ in range(10):
            answer = browser.get(url)
            if "/interaction/" in url and answer.status_code == 200:
                answer = browser.post(f"{url}/login", data={"login": login})
            location = urljoin(url, answer.headers.get("location", ""))
            if location.startswith(CALLBACK):
                return location
            assert answer.is_redirect, answer.text
            url = location
    raise AssertionError("the provider never sent the browser back")


def sign_in(client: Client, login: str = "pia"):
    """The whole redirect round trip; Locus's answer to the callback."""
    start = client.get("/accounts/oidc/login/")
    assert start.status_code == 302, start.content
    return client.get(at_provider(start["Location"], login))


def pia() -> User:
    return ExternalIdentity.objects.get(subject="pia").user


def ledger(kind: str) -> list[dict]:
    return [json.loads(bytes(e.payload))["data"] for e in LedgerEntry.objects.filter(kind=kind)]


def test_first_sign_in_makes_her_an_eu_privacy_officer(sso, client):
    answer = sign_in(client)

    assert answer.status_code == 302 and answer["Location"] == "/"
    user = pia()
    assert roles_of(user) == {Role.PRIVACY_OFFICER}
    assert [r.jurisdiction_id for r in Responsibility.objects.filter(user=user)] == ["eu"]
    assert (user.email, user.first_name, user.has_usable_password()) == (
        "pia.officer@example.org",
        "Pia Officer",
        False,
    )
    [linked] = ledger("identity.linked")
    assert linked["roles_added"] == ["privacy_officer"]
    assert linked["jurisdictions_added"] == ["eu"]
    assert client.get("/monitoring/officer/").status_code == 200


def test_the_session_keeps_how_the_provider_authenticated_her(sso, client):
    sign_in(client)

    assert client.session["identity_amr"] == ["pwd", "otp"]
    assert isinstance(client.session["identity_auth_time"], int)


def test_a_group_removed_at_the_provider_is_a_role_lost_at_next_sign_in(sso, client):
    sign_in(client)
    hand_given = pia()
    hand_given.groups.add(hand_given.groups.model.objects.get(name=Role.AUDITOR))
    sso.people({"pia": person("Pia Officer", ["some-other-group"])})

    again = Client()
    sign_in(again)

    user = pia()
    assert roles_of(user) == {Role.AUDITOR}  # the provider's role went; the admin's stayed
    assert not Responsibility.objects.filter(user=user).exists()
    [synced] = ledger("identity.roles_synced")
    assert synced["roles_removed"] == ["privacy_officer"]
    assert synced["jurisdictions_removed"] == ["eu"]
    assert again.get("/monitoring/officer/").status_code == 403


def test_a_sign_in_that_changes_nothing_writes_no_ledger_row(sso, client):
    sign_in(client)
    before = LedgerEntry.objects.count()

    sign_in(Client())

    assert LedgerEntry.objects.count() == before


def test_a_local_account_with_her_address_is_not_taken_over(sso, client):
    local = UserFactory(username="pia", email="pia.officer@example.org", roles=[Role.EXECUTIVE])

    sign_in(client)

    assert pia().pk != local.pk and pia().username == "pia-2"
    assert roles_of(User.objects.get(pk=local.pk)) == {Role.EXECUTIVE}


def test_a_wrong_state_is_refused(sso, client):
    client.get("/accounts/oidc/login/")

    answer = client.get("/accounts/oidc/callback/", {"state": "forged", "code": "x"})

    assert answer.status_code == 400
    assert b"state:" in answer.content


def test_a_replayed_callback_is_refused(sso, client):
    start = client.get("/accounts/oidc/login/")
    callback = at_provider(start["Location"], "pia")
    pending = dict(client.session[PENDING_KEY])
    assert client.get(callback).status_code == 302

    again = client.get(callback)
    # Even with the sign-in's state put back, the provider refuses the used code.
    session = client.session
    session[PENDING_KEY] = pending
    session.save()
    with_state = client.get(callback)

    assert again.status_code == 400 and b"state:" in again.content
    assert with_state.status_code == 400 and b"code:" in with_state.content


def test_an_id_token_for_another_nonce_is_refused(sso, client):
    start = client.get("/accounts/oidc/login/")
    callback = at_provider(start["Location"], "pia")
    session = client.session
    pending = session[PENDING_KEY]
    for started in pending.values():
        started["nonce"] = "not-the-nonce-the-provider-saw"
    session[PENDING_KEY] = pending
    session.save()

    answer = client.get(callback)

    assert answer.status_code == 400
    assert b"id_token: not valid" in answer.content and b"nonce" in answer.content
    assert not ExternalIdentity.objects.exists()


def test_a_refusal_at_the_provider_is_shown(sso, client):
    answer = client.get(
        "/accounts/oidc/callback/", {"error": "access_denied", "error_description": "No way"}
    )

    assert answer.status_code == 403 and b"No way" in answer.content


def test_a_deactivated_account_is_refused(sso, client):
    sign_in(client)
    User.objects.filter(pk=pia().pk).update(is_active=False)

    answer = sign_in(Client())

    assert answer.status_code == 403 and b"deactivated" in answer.content


def test_without_settings_nothing_changes(client, db, settings):
    settings.OIDC_ISSUER = ""

    page = client.get("/accounts/login/")

    assert b"Sign in with" not in page.content and b'name="password"' in page.content
    assert client.get("/accounts/oidc/login/").status_code == 404
    assert client.get("/accounts/oidc/callback/").status_code == 404


@pytest.fixture
def passwords_off(sso, settings):
    settings.LOCAL_PASSWORD_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "governance.identity.backends.NoPasswordBackend",
        "guardian.backends.ObjectPermissionBackend",
    ]


def test_with_local_passwords_off_only_the_provider_is_offered(passwords_off, client):
    UserFactory(username="ada", password=PASSWORD, is_staff=True)

    page = client.get("/accounts/login/")
    posted = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    admin = client.get("/admin/login/?next=/admin/")
    admin_post = client.post("/admin/login/", {"username": "ada", "password": PASSWORD})

    assert b"Sign in with Test IdP" in page.content and b'name="password"' not in page.content
    assert posted.status_code == 403
    assert admin.status_code == 302 and admin["Location"].startswith("/accounts/login/?next=")
    assert admin_post.status_code == 302 and "_auth_user_id" not in client.session
    assert NoPasswordBackend().authenticate(None, username="ada", password=PASSWORD) is None


def test_with_local_passwords_off_the_provider_still_signs_her_in(passwords_off, client):
    assert sign_in(client).status_code == 302
    assert client.get("/monitoring/officer/").status_code == 200


def test_a_string_claim_maps_like_one_group(settings):
    settings.OIDC_ROLE_CLAIM = "hd"
    settings.OIDC_GROUP_ROLES = {"example.org": "engineer"}
    settings.OIDC_GROUP_JURISDICTIONS = {}

    assert grants_from({"hd": "example.org"}).roles == {"engineer"}
    assert grants_from({"hd": "elsewhere.org"}).roles == frozenset()
    assert grants_from({}).roles == frozenset()


def test_groups_sent_as_a_reference_refuse_the_sign_in_rather_than_take_roles_away(settings):
    settings.OIDC_ROLE_CLAIM = "groups"
    overage = {"sub": "x", "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}}

    with pytest.raises(SignInError) as refused:
        _refuse_claim_elsewhere(overage)

    assert refused.value.status == 403 and str(refused.value).startswith("groups:")


def test_a_mapping_to_no_locus_role_fails_the_checks(settings):
    settings.OIDC_GROUP_ROLES = {"admins": "administrator"}

    assert [e.id for e in run_checks() if e.id == "locus.E101"] == ["locus.E101"]


@pytest.fixture
def provider_key(monkeypatch, settings):
    """The ID token checks alone, with a key of the test's own standing for the provider's."""
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = "https://idp.example.org", "locus"
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    monkeypatch.setattr(oidc, "_key_set", lambda fresh=False: KeySet([key]))
    return key


def id_token(key, **changes) -> str:
    now = int(time.time())
    claims = {"iss": "https://idp.example.org", "aud": "locus", "sub": "pia", "nonce": "n1"}
    claims |= {"iat": now, "exp": now + 300, **changes}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"iss": "https://elsewhere.example.org"}, "iss"),
        ({"aud": "another-client"}, "aud"),
        ({"exp": 1_000_000}, "expired"),
        ({"nonce": "n2"}, "nonce"),
    ],
)
def test_an_id_token_with_a_wrong_claim_is_refused(provider_key, changes, named):
    with pytest.raises(SignInError) as refused:
        oidc._checked_id_token(id_token(provider_key, **changes), nonce="n1")

    assert refused.value.status == 400 and named in str(refused.value)


def test_an_id_token_signed_by_another_key_is_refused(provider_key):
    forged = id_token(RSAKey.generate_key(2048, parameters={"kid": "k1"}))

    with pytest.raises(SignInError, match="id_token: not valid"):
        oidc._checked_id_token(forged, nonce="n1")


def test_a_good_id_token_gives_its_claims(provider_key):
    assert oidc._checked_id_token(id_token(provider_key), nonce="n1")["sub"] == "pia"
