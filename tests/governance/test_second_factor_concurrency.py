"""One code is accepted once: requests that give the same authenticator code, or the same
recovery code, at the same moment on PostgreSQL (one connection each) find the device locked,
and only the first is let in."""

# ruff: noqa: F811  (the fixtures imported from second_factor_setup are parameters of the tests)

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from governance.identity.devices.services import second_factor_verify
from tests.factories import UserFactory
from tests.governance.second_factor_setup import (  # noqa: F401  (fixtures)
    authenticator_clock,
    authenticator_code,
    enrolled,
)

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
THREADS = 4

pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers; the row lock is PostgreSQL's"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _at_once(person, code: str) -> list[str]:
    """THREADS requests give `code` together; what each got ("totp", "recovery", "refused")."""
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            start.wait()
            outcomes.append(second_factor_verify(actor=person, code=code))
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.parametrize("kind", ["totp", "recovery"])
def test_a_code_given_by_several_requests_at_once_is_accepted_once(authenticator_clock, kind):
    person = UserFactory(username=f"race-{kind}")
    codes = enrolled(person, authenticator_clock)
    code = authenticator_code(person, authenticator_clock) if kind == "totp" else codes[0]

    assert _at_once(person, code) == sorted([kind] + ["refused"] * (THREADS - 1))
