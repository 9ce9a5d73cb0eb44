"""With debug off, Locus refuses to start without keys of its own for subjects' data, the
ledger's pseudonyms and its signatures; with debug on (development, tests, `make run`) it
derives them from SECRET_KEY."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.governance.test_security import PRODUCTION_KEYS
from tests.live import ROOT

SECRET = "x" * 20 + "a-long-random-production-secret-key-0123456789"
PROBE = "import django; django.setup(); from django.conf import settings; print('started')"


def start(**env: str) -> subprocess.CompletedProcess[str]:
    """Django's setup in a fresh process with exactly these settings in the environment."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "SUBJECT_", "LEDGER_"))
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "governance.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**changes: str | None) -> dict[str, str]:
    env = {"DJANGO_DEBUG": "0", "SECRET_KEY": SECRET, "ALLOWED_HOSTS": "locus.example.com"}
    env |= PRODUCTION_KEYS
    env |= changes
    return {key: value for key, value in env.items() if value is not None}


def test_production_starts_with_its_own_keys():
    started = start(**production())

    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout


@pytest.mark.parametrize("name", ["SUBJECT_DATA_KEY", "LEDGER_PSEUDONYM_KEY", "LEDGER_SIGNING_KEY"])
@pytest.mark.parametrize("how", ["missing", "empty", "SECRET_KEY"])
def test_production_refuses_to_start_without_a_key_of_its_own(name, how):
    value = {"missing": None, "empty": "", "SECRET_KEY": SECRET}[how]

    started = start(**production(**{name: value}))

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert f"DJANGO_DEBUG=0 needs {name} in the environment, a key of its own" in started.stderr


@pytest.mark.parametrize("seed", ["not base64 at all!", "c2hvcnQ="])
def test_a_signing_key_that_is_not_an_ed25519_seed_is_refused(seed):
    started = start(**production(LEDGER_SIGNING_KEY=seed))

    assert started.returncode != 0
    assert "LEDGER_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed" in started.stderr


def test_debug_derives_the_keys_from_secret_key():
    """What `make run` and the tests rely on: nothing to set."""
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SUBJECT_DATA_KEY == s.SECRET_KEY == s.LEDGER_PSEUDONYM_KEY, "
        "len(s.LEDGER_SIGNING_KEY))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SUBJECT_", "LEDGER_"))}
    started = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "governance.settings", "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["True", "44"]
