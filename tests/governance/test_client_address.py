"""One rule names the client's address, from PROXY_COUNT: X-Forwarded-For is ignored without
proxies and read only as far as the proxies wrote it; the sign-in lock-out follows the rule."""

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from governance.client_address import client_address
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "10.0.0.1"),
        (0, "198.51.100.7", "10.0.0.1"),  # no proxy: the header is the client's own words
        (1, None, "10.0.0.1"),
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # only the last hop is the proxy's
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        (2, "198.51.100.7", "198.51.100.7"),
    ],
)
def test_the_client_is_the_address_the_trusted_proxies_saw(
    rf, settings, proxies, forwarded, expected
):
    settings.PROXY_COUNT = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", **extra)
    assert client_address(request) == expected


def test_throttles_and_the_lockout_are_configured_from_the_same_setting():
    assert django_settings.REST_FRAMEWORK["NUM_PROXIES"] == django_settings.PROXY_COUNT
    assert django_settings.AXES_IPWARE_PROXY_COUNT == django_settings.PROXY_COUNT
    assert django_settings.AXES_CLIENT_IP_CALLABLE == "governance.client_address.client_address"


def _login(client: Client, forwarded: str, password: str = "guess"):
    return client.post(
        reverse("login"),
        {"username": "vic-victim", "password": password},
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.parametrize("proxies", [0, 1])
def test_rotating_x_forwarded_for_does_not_escape_the_login_lockout(db, settings, proxies):
    settings.PROXY_COUNT = proxies
    UserFactory(username="vic-victim", password=PASSWORD)
    attacker = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, f"6.6.6.{attempt}, 198.51.100.7")
    assert _login(attacker, "6.6.6.99, 198.51.100.7", PASSWORD).status_code == 429


def test_behind_one_proxy_another_last_hop_is_another_client(db, settings):
    settings.PROXY_COUNT = 1
    UserFactory(username="vic-victim", password=PASSWORD)
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "198.51.100.7")
    assert _login(Client(), "198.51.100.7", PASSWORD).status_code == 429
    assert _login(Client(), "192.0.2.44", PASSWORD).status_code == 302  # the victim elsewhere
