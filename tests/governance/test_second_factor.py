"""The second factor: enrolling an authenticator with a real TOTP code, recovery codes used
once, throttled wrong codes, who must enrol after signing in, the identity provider's `amr`
rule, and the decision log of every change."""

# ruff: noqa: F811  (the fixtures imported from second_factor_setup are parameters of the tests)

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.urls import reverse
from django_otp import models as otp_models
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.identity import second_factor
from governance.identity.second_factor import second_factor_fresh
from governance.models import LedgerEntry
from tests.factories import UserFactory
from tests.governance.second_factor_setup import (  # noqa: F401  (fixtures)
    authenticator_clock,
    authenticator_code,
    code_for,
    enrolled,
    sign_in,
)
from tests.live import ROOT

pytestmark = pytest.mark.django_db
ENROL = reverse("identity:second-factor-enrol")
CONFIRM = reverse("identity:second-factor-confirm")
PASSWORD = "correct horse battery staple"  # the factories' password


@pytest.fixture
def required(settings):
    settings.SECOND_FACTOR_REQUIRED_ROLES = ["privacy_officer", "superuser"]
    settings.SECOND_FACTOR_MAX_AGE_SECONDS = 900


@pytest.fixture
def throttle_clock(monkeypatch):
    """The clock django-otp's throttling reads (failures are stamped with it)."""
    clock = SimpleNamespace(now=dt.datetime(2030, 3, 17, 12, 0, tzinfo=dt.UTC))
    monkeypatch.setattr(otp_models, "timezone", SimpleNamespace(now=lambda: clock.now))
    return clock


def kinds(user) -> list[str]:
    entries = LedgerEntry.objects.filter(actor_id=user.pk, kind__startswith="second_factor.")
    return list(entries.order_by("sequence").values_list("kind", flat=True))


def shown_secret(page: str) -> bytes:
    """The secret as the enrolment page shows it (groups of four base32 letters)."""
    text = re.search(r"data-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", "")
    return base64.b32decode(text)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def shown_codes(page: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)


# --- Enrolment ------------------------------------------------------------------------------


def test_enrolment_confirms_the_authenticator_with_its_code_then_shows_recovery_codes_once(
    client, privacy_officer, authenticator_clock
):
    sign_in(client, privacy_officer)
    page = client.get(ENROL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "QR code of your authenticator" in html  # drawn here, inline
    assert not TOTPDevice.objects.filter(user=privacy_officer, confirmed=True).exists()
    # The same secret until confirmed: reloading does not change what was scanned.
    assert shown_secret(client.get(ENROL).content.decode()) == shown_secret(html)

    code = code_for(shown_secret(html), authenticator_clock.now)
    done = client.post(ENROL, {"code": code, "next": "/catalog/"})

    assert done.status_code == 200
    codes = shown_codes(done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/catalog/"' in done.content.decode()
    assert TOTPDevice.objects.get(user=privacy_officer).confirmed
    assert StaticToken.objects.filter(device__user=privacy_officer).count() == 10
    assert second_factor.SESSION_CHECKED_AT in client.session
    assert kinds(privacy_officer) == ["second_factor.enrolled"]
    # The codes are not shown again: the factor's page counts them only.
    again = client.get(reverse("identity:second-factor")).content.decode()
    assert shown_codes(again) == [] and "data-codes-left>10<" in again


def test_a_wrong_code_at_enrolment_is_named_on_the_form_and_enrols_nothing(
    client, privacy_officer, authenticator_clock
):
    sign_in(client, privacy_officer)
    secret = shown_secret(client.get(ENROL).content.decode())

    refused = client.post(ENROL, {"code": wrong(code_for(secret, authenticator_clock.now))})

    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert 'id="id_code_error"' in refused.content.decode()
    empty = client.post(ENROL, {"code": ""})
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    assert not TOTPDevice.objects.filter(user=privacy_officer, confirmed=True).exists()
    assert kinds(privacy_officer) == []


def test_wrong_codes_are_throttled(client, engineer, authenticator_clock, throttle_clock):
    """django-otp's throttling is on: after a wrong code even the right one waits 1 s, after
    two 2 s, and so on."""
    enrolled(engineer, authenticator_clock)
    sign_in(client, engineer)
    right = authenticator_code(engineer, authenticator_clock)

    assert client.post(CONFIRM, {"code": wrong(right)}).status_code == 400
    throttled = client.post(CONFIRM, {"code": right})
    assert throttled.status_code == 429
    assert "Too many wrong codes: try again after 12:00:01 UTC" in throttled.content.decode()
    assert second_factor.SESSION_CHECKED_AT not in client.session

    throttle_clock.now += dt.timedelta(seconds=1)
    accepted = client.post(CONFIRM, {"code": right, "next": "/catalog/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/catalog/"
    assert second_factor.SESSION_CHECKED_AT in client.session


# --- Recovery codes, regeneration, removal --------------------------------------------------


def test_a_recovery_code_works_once(client, engineer, authenticator_clock):
    codes = enrolled(engineer, authenticator_clock)
    sign_in(client, engineer)

    used = client.post(CONFIRM, {"code": codes[0].upper(), "next": "/catalog/"})
    assert used.status_code == 302 and used["Location"] == "/catalog/"
    assert StaticToken.objects.filter(device__user=engineer).count() == 9

    sign_in(client, engineer)
    assert client.post(CONFIRM, {"code": codes[0]}).status_code == 400
    assert kinds(engineer) == ["second_factor.enrolled", "second_factor.recovery_code_used"]
    entry = LedgerEntry.objects.get(kind="second_factor.recovery_code_used")
    assert b'"recovery_codes_left":9' in bytes(entry.payload)


def test_new_recovery_codes_ask_for_a_code_and_retire_the_old_ones(
    client, engineer, authenticator_clock
):
    old = enrolled(engineer, authenticator_clock)
    sign_in(client, engineer, checked_ago=0)
    url = reverse("identity:second-factor-recovery-codes")

    refused = client.post(url, {"code": ""})
    assert refused.status_code == 400
    made = client.post(url, {"code": authenticator_code(engineer, authenticator_clock)})

    assert made.status_code == 200
    new = shown_codes(made.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    tokens = set(StaticToken.objects.filter(device__user=engineer).values_list("token", flat=True))
    assert tokens == set(new)
    assert kinds(engineer)[-1] == "second_factor.recovery_codes_regenerated"


def test_removing_the_factor_asks_for_a_code_and_a_required_role_must_enrol_again(
    client, privacy_officer, authenticator_clock, throttle_clock, required
):
    codes = enrolled(privacy_officer, authenticator_clock)
    sign_in(client, privacy_officer, checked_ago=0)
    url = reverse("identity:second-factor-remove")

    assert client.post(url, {"code": "wrongcod"}).status_code == 400
    assert TOTPDevice.objects.filter(user=privacy_officer).exists()
    throttle_clock.now += dt.timedelta(seconds=1)  # the wrong code's wait
    removed = client.post(url, {"code": codes[1]})

    assert removed.status_code == 302
    assert not TOTPDevice.objects.filter(user=privacy_officer).exists()
    assert not StaticToken.objects.filter(device__user=privacy_officer).exists()
    assert kinds(privacy_officer)[-1] == "second_factor.removed"
    home = client.get("/catalog/")
    assert home.status_code == 302 and home["Location"].startswith(ENROL)


# --- Who must enrol or confirm after signing in ---------------------------------------------


def test_a_required_role_without_a_device_is_sent_to_enrol_and_can_use_nothing_else(
    client, privacy_officer, required, authenticator_clock
):
    signed_in = client.post(
        reverse("login"), {"username": privacy_officer.username, "password": PASSWORD}
    )
    assert signed_in.status_code == 302

    page = client.get("/catalog/map/")
    assert page.status_code == 302 and page["Location"] == f"{ENROL}?next=%2Fcatalog%2Fmap%2F"
    api = client.get("/api/v1/datasets/")
    assert api.status_code == 403
    assert api.json()["code"] == "second_factor_required" and ENROL in api.json()["confirm_url"]
    # An Authorization header does not open pages to the session (only a token, in the API).
    assert client.get("/catalog/map/", HTTP_AUTHORIZATION="Token x").status_code == 302
    assert client.get("/api/v1/datasets/", HTTP_AUTHORIZATION="Basic eDp5").status_code == 403
    assert client.get("/api/v1/datasets/", HTTP_AUTHORIZATION="Token x").status_code == 401
    # Open: the enrolment itself, health checks, signing out.
    assert client.get(ENROL).status_code == 200
    assert client.get("/healthz").status_code == 200

    secret = shown_secret(client.get(ENROL).content.decode())
    client.post(ENROL, {"code": code_for(secret, authenticator_clock.now)})
    assert client.get("/catalog/map/").status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_a_superuser_must_enrol_and_other_roles_need_not(required, executive):
    superuser = UserFactory(username="sue-super", is_superuser=True, is_staff=True)
    assert second_factor.second_factor_required_of(superuser)
    assert not second_factor.second_factor_required_of(executive)


def test_nobody_must_enrol_when_no_role_is_required(client, privacy_officer, settings):
    settings.SECOND_FACTOR_REQUIRED_ROLES = []
    client.post(reverse("login"), {"username": privacy_officer.username, "password": PASSWORD})
    assert client.get("/catalog/map/").status_code == 200


def test_whoever_has_an_authenticator_confirms_a_code_after_signing_in(
    client, engineer, authenticator_clock
):
    enrolled(engineer, authenticator_clock)
    client.post(reverse("login"), {"username": engineer.username, "password": PASSWORD})

    page = client.get("/catalog/map/")
    assert page.status_code == 302 and page["Location"].startswith(CONFIRM)
    confirmed = client.post(
        CONFIRM,
        {"code": authenticator_code(engineer, authenticator_clock), "next": "/catalog/map/"},
    )
    assert confirmed["Location"] == "/catalog/map/"
    assert client.get("/catalog/map/").status_code == 200


def test_the_confirm_page_sends_a_required_role_without_a_device_to_enrol(
    client, privacy_officer, required
):
    sign_in(client, privacy_officer)
    answer = client.get(CONFIRM, {"next": "/catalog/"})
    assert answer.status_code == 302 and answer["Location"] == f"{ENROL}?next=%2Fcatalog%2F"
    # An address elsewhere is never where the page returns.
    assert client.get(CONFIRM, {"next": "https://evil.example/"})["Location"] == (
        f"{ENROL}?next=%2F"
    )


# --- The identity provider's multi-factor sign-in (RFC 8176 amr) ----------------------------


def _request(**session):
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session.update(session)
    return request


@pytest.mark.parametrize(
    ("amr", "fresh"),
    [
        (["mfa"], True),
        (["pwd", "otp"], True),
        (["hwk", "pin"], True),
        (["swk", "fpt"], True),
        (["pwd"], False),
        (["otp"], False),
        (["pwd", "kba"], False),
        ([], False),
        ("mfa", False),  # not a list: not what an ID token's amr is
    ],
)
def test_the_identity_providers_amr_stands_for_the_check(settings, amr, fresh):
    settings.SECOND_FACTOR_MAX_AGE_SECONDS = 900
    now = time.time()
    request = _request(identity_amr=amr, identity_auth_time=int(now) - 60)
    assert second_factor_fresh(request, now=now) is fresh


def test_the_identity_providers_check_ages_like_ours(settings):
    settings.SECOND_FACTOR_MAX_AGE_SECONDS = 900
    now = 2_000_000_000.0
    at = int(now) - 600
    request = _request(identity_amr=["mfa"], identity_auth_time=at)
    assert second_factor_fresh(request, now=now)
    assert not second_factor_fresh(request, now=now + 301)
    assert not second_factor_fresh(_request(identity_amr=["mfa"]), now=now)  # no auth_time
    # A time far ahead of our clock is not believed.
    ahead = _request(identity_amr=["mfa"], identity_auth_time=int(now) + 3600)
    assert not second_factor_fresh(ahead, now=now)


def test_a_local_check_ages_out(settings):
    settings.SECOND_FACTOR_MAX_AGE_SECONDS = 900
    now = 2_000_000_000.0
    request = _request(second_factor_at=now - 900)
    assert second_factor_fresh(request, now=now)
    assert not second_factor_fresh(request, now=now + 1)


def _signed_in_by_provider(client, user, amr: list[str]) -> None:
    """As the provider's callback does: login(), then the ID token's amr and auth_time."""
    client.force_login(user)
    session = client.session
    session.update({"identity_amr": amr, "identity_auth_time": int(time.time())})
    session.save()


def test_a_multi_factor_sign_in_at_the_provider_needs_no_enrolment(
    client, privacy_officer, required
):
    _signed_in_by_provider(client, privacy_officer, ["pwd", "otp"])
    assert client.get("/catalog/map/").status_code == 200


def test_a_password_only_sign_in_at_the_provider_is_sent_to_enrol(
    client, privacy_officer, required
):
    _signed_in_by_provider(client, privacy_officer, ["pwd"])
    page = client.get("/catalog/map/")
    assert page.status_code == 302 and page["Location"].startswith(ENROL)


# --- The default -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, []),
        ({"DATABASE_URL": "sqlite:///unused.sqlite3"}, ["privacy_officer", "superuser"]),
        (
            {"DJANGO_DEBUG": "0", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "locus.example"},
            ["privacy_officer", "superuser"],
        ),
        ({"DATABASE_URL": "sqlite:///x.sqlite3", "SECOND_FACTOR_REQUIRED_ROLES": ""}, []),
    ],
)
def test_required_by_default_in_a_real_deployment_only(environment, expected):
    """The embedded default (nothing set) requires no second factor; DATABASE_URL or debug off
    does, unless SECOND_FACTOR_REQUIRED_ROLES says otherwise."""
    keep = {"PATH", "HOME", "LANG"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env |= {"DJANGO_SETTINGS_MODULE": "governance.settings", "PYTHONPATH": str(ROOT)}
    env |= {"LEDGER_PSEUDONYM_KEY": "p" * 40, "SUBJECT_DATA_KEY": "s" * 40}
    env |= {"LEDGER_SIGNING_KEY": base64.b64encode(b"l" * 32).decode()}
    script = "from django.conf import settings; print(settings.SECOND_FACTOR_REQUIRED_ROLES)"
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env | environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == repr(expected)


# --- The admin ------------------------------------------------------------------------------


def test_the_admin_shows_no_secret_and_a_superusers_reset_is_on_the_record(
    client, engineer, authenticator_clock
):
    codes = enrolled(engineer, authenticator_clock)
    root = UserFactory(username="root-second-factor", is_superuser=True, is_staff=True)
    client.force_login(root)
    device = TOTPDevice.objects.get(user=engineer)
    recovery = StaticDevice.objects.get(user=engineer)

    shown = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    listed = client.get(reverse("admin:otp_static_staticdevice_change", args=[recovery.pk]))
    assert shown.status_code == 200 and device.key not in shown.content.decode()
    assert listed.status_code == 200 and not set(codes) & set(
        re.findall(r"\w+", listed.content.decode())
    )

    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302

    assert not TOTPDevice.objects.filter(user=engineer).exists()
    assert not StaticDevice.objects.filter(user=engineer).exists()
    entry = LedgerEntry.objects.filter(kind="second_factor.removed").get()
    assert entry.actor_id == root.pk
