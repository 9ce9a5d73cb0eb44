"""A malformed rate setting stops Locus at start-up (the system check locus.E110) with a message
naming the setting and the form it takes, instead of failing every throttled request."""

import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks

from catalog.throttling import RATE_SETTINGS, check_rates, parse_rate
from tests.live import ROOT


def _rate_errors() -> list[str]:
    return [e.msg for e in check_rates(None)]


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("600/minute", (600, 60)),
        ("10/hour", (10, 3600)),
        ("1/s", (1, 1)),
        (" 5 / Day ", (5, 86400)),
        ("", None),
    ],
)
def test_the_forms_a_rate_takes(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize(
    "rate", ["600", "600/fortnight", "many/minute", "0/minute", "-5/minute", "1.5/hour", "/minute"]
)
@pytest.mark.parametrize("name", RATE_SETTINGS)
def test_a_malformed_rate_fails_the_checks_naming_the_setting(settings, name, rate):
    setattr(settings, name, rate)

    assert _rate_errors() == [f"{name} is {rate!r}: not a rate"]


def test_the_default_rates_and_empty_ones_pass(settings):
    assert _rate_errors() == []
    for name in RATE_SETTINGS:
        setattr(settings, name, "")
    assert _rate_errors() == []


def test_the_check_is_registered(settings):
    settings.LINEAGE_RATE = "lots"

    assert [e.id for e in run_checks() if e.id == "locus.E110"] == ["locus.E110"]


def test_manage_py_refuses_to_start_with_a_malformed_rate(tmp_path):
    """As an operator meets it: the environment variable, then any manage.py command."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"API_RATE": "3000/minutes please", "DATABASE_URL": f"sqlite:///{tmp_path}/db"}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode != 0
    assert "(locus.E110) API_RATE is '3000/minutes please': not a rate" in run.stderr
    assert "<n>/second, <n>/minute, <n>/hour or <n>/day" in run.stderr
