"""Security gates: production settings pass `check --deploy`, logins are throttled, every page
carries a Content-Security-Policy without inline scripts, and forms need their CSRF token."""

import os
import re
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.live import ROOT

PASSWORD = "correct horse battery staple"
# The keys production must be given besides SECRET_KEY (see test_production_keys.py).
PRODUCTION_KEYS = {
    "SUBJECT_DATA_KEY": "a-subject-data-key-of-its-own-0123456789",
    "LEDGER_PSEUDONYM_KEY": "a-pseudonym-key-of-its-own-0123456789",
    "LEDGER_SIGNING_KEY": "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
}


def test_production_settings_pass_check_deploy():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS"))
    }
    env |= {
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "locus.example.com",
        **PRODUCTION_KEYS,
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def _login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_logins_are_throttled_per_username_and_address(db, settings):
    UserFactory(username="vic-victim", password=PASSWORD)
    UserFactory(username="bystander", password=PASSWORD)
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(attacker, "vic-victim", "guess").status_code == 200  # the form again
    assert _login(attacker, "vic-victim", "guess").status_code == 429  # the last allowed failure
    locked = _login(attacker, "vic-victim", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert "_auth_user_id" not in attacker.session
    # Another account from the same address is not locked out with it.
    assert _login(attacker, "bystander", PASSWORD).status_code == 302


def test_a_successful_login_clears_earlier_failures(db, settings):
    UserFactory(username="forgetful", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "forgetful", "wrong")
    assert _login(client, "forgetful", PASSWORD).status_code == 302
    client.logout()
    _login(client, "forgetful", "wrong")
    assert _login(client, "forgetful", PASSWORD).status_code == 302


PAGES = [
    "catalog:dataset-list",
    "catalog:data-map",
    "governance:rule-list",
    "governance:ledger-list",
    "governance:glossary-list",
    "swagger-ui",
]


@pytest.mark.parametrize("name", PAGES)
def test_pages_forbid_inline_scripts(name, client, privacy_officer):
    client.force_login(privacy_officer)
    response = client.get(reverse(name))
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        # Data islands (json_script) are not run; everything else must come from a file.
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_the_login_form_needs_its_csrf_token(db):
    UserFactory(username="carol", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    assert _login(client, "carol", PASSWORD).status_code == 403
    page = client.get(reverse("login"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        reverse("login"),
        {"username": "carol", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert answer.status_code == 302
