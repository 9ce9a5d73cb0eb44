"""Production transport rules: with the HTTPS redirect on, the health probes still answer plain
HTTP (load balancers probe inside the network); the CSP lets pages connect to Locus only (its
live sockets included) and to no other host."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def https_only(settings):
    """What DJANGO_DEBUG=0 sets (the exemptions come from the settings file itself)."""
    settings.SECURE_SSL_REDIRECT = True
    return Client()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_answer_plain_http(https_only, path):
    assert https_only.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/v1/datasets/", "/healthz/x"])
def test_everything_else_is_redirected_to_https(https_only, path):
    response = https_only.get(path)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_pages_connect_only_to_locus(client):
    policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]*)", policy).group(1).split()
    assert connect == ["'self'"]
