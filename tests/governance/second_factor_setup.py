"""Helpers for the second-factor tests: an authenticator's code at a chosen time (the device's
clock is injected, never slept on), an enrolled person, a session whose last check was some
seconds ago."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp import models as totp_models

from governance.identity import second_factor
from governance.identity.devices import services

START = 1_900_000_000.0  # the authenticator clock's start (2030-03-17): any fixed time


@pytest.fixture
def authenticator_clock(monkeypatch):
    """The clock TOTP devices check codes against, moved by the test (`clock.now += 30`)."""
    clock = SimpleNamespace(now=START)
    monkeypatch.setattr(totp_models, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


def code_for(key: bytes, at: float) -> str:
    """The 6 digits an authenticator holding `key` shows at `at` (epoch seconds)."""
    generator = TOTP(key)
    generator.time = at
    return f"{generator.token():06d}"


def enrolled(user, clock) -> list[str]:
    """Enrol the person's authenticator through the services; their recovery codes."""
    device = services.authenticator_start(actor=user)
    codes = services.authenticator_confirm(actor=user, code=code_for(device.bin_key, clock.now))
    clock.now += 30  # the next code is a new one (a code is accepted once)
    return codes


def authenticator_code(user, clock) -> str:
    device = totp_models.TOTPDevice.objects.get(user=user, confirmed=True)
    return code_for(device.bin_key, clock.now)


def sign_in(client, user, *, checked_ago: float | None = None, **session) -> None:
    """Sign the person in on `client` (a test client or APIClient) with the second factor
    last checked `checked_ago` seconds ago (None: not in this session) and other session
    keys set as given (the identity provider's `identity_amr`, `identity_auth_time`)."""
    client.force_login(user)
    stored = client.session
    stored.pop(second_factor.SESSION_PENDING, None)
    if checked_ago is not None:
        stored[second_factor.SESSION_CHECKED_AT] = time.time() - checked_ago
    stored.update(session)
    stored.save()
