"""Where each person lands after signing in through the login form."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.models import Responsibility
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def landing(user) -> str:
    """The page the login form finally shows this person (following every redirect)."""
    response = Client().post(
        "/accounts/login/", {"username": user.get_username(), "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200, response.redirect_chain
    return response.redirect_chain[-1][0]


@pytest.mark.parametrize(
    ("roles", "page"),
    [
        (["executive"], "/monitoring/executive/"),
        (["auditor"], "/monitoring/executive/"),
        (["privacy_officer"], "/monitoring/officer/"),
        (["data_owner"], "/monitoring/owner/"),
        (["engineer"], "/catalog/"),
        (["executive", "privacy_officer"], "/monitoring/executive/"),
        (["privacy_officer", "data_owner"], "/monitoring/officer/"),
    ],
)
def test_each_role_lands_on_its_page(roles, page):
    assert landing(UserFactory(roles=roles)) == page


def test_an_officer_for_some_jurisdictions_lands_on_her_queue():
    officer = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=officer, jurisdiction_id="eu")
    assert landing(officer) == "/monitoring/officer/"


def test_someone_without_a_role_is_told_so_not_sent_round_in_circles():
    nobody = UserFactory()
    client = Client()
    client.force_login(nobody)
    assert client.get("/").url == "/monitoring/"
    response = client.get("/monitoring/")
    assert response.status_code == 403


def test_the_landing_is_for_signed_in_people():
    response = Client().get("/monitoring/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
