"""First sign-ins at the same moment on PostgreSQL: the same person in several tabs gets one
account and one link; two people who want the same username both get in, under two names."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from governance.identity.services import identity_sync
from governance.models import ExternalIdentity, LedgerEntry
from tests.governance.test_ledger_concurrency import in_own_connection
from tests.oidc_provider import EU_OFFICERS, GROUP_JURISDICTIONS, GROUP_ROLES

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
ISSUER = "https://idp.example.org"
TABS = 6

pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def mapping(settings):
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_GROUP_ROLES = GROUP_ROLES
    settings.OIDC_GROUP_JURISDICTIONS = GROUP_JURISDICTIONS


def all_at_once(claims_list: list[dict]) -> list[BaseException]:
    start, errors = threading.Barrier(len(claims_list)), []

    def sign_in(claims: dict) -> None:
        start.wait()
        identity_sync(issuer=ISSUER, claims=claims)

    threads = [
        threading.Thread(target=in_own_connection, args=(lambda c=c: sign_in(c), errors))
        for c in claims_list
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_one_person_in_several_tabs_gets_one_account():
    claims = {"sub": "pia", "preferred_username": "pia", "groups": [EU_OFFICERS]}

    assert all_at_once([claims] * TABS) == []

    assert ExternalIdentity.objects.filter(subject="pia").count() == 1
    assert User.objects.filter(username__startswith="pia").count() == 1
    assert LedgerEntry.objects.filter(kind="identity.linked").count() == 1
    assert not LedgerEntry.objects.filter(kind="identity.roles_synced").exists()


def test_two_people_wanting_one_username_both_get_in():
    people = [{"sub": sub, "preferred_username": "sam"} for sub in ("sam-a", "sam-b")]

    assert all_at_once(people) == []

    names = {identity.user.username for identity in ExternalIdentity.objects.all()}
    assert len(names) == 2 and "sam" in names
