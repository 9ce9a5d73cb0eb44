"""People, datasets and helpers shared by the transfer-exception API and page tests.

Import the fixtures into a test module with `from tests.requests.transfer_setup import *`.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Jurisdiction, Region
from governance.models import Purpose, Responsibility
from governance.roles import Role
from requests.transfers import services
from tests.factories import UserFactory, make_dataset

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
VIRGINIA = "aws:us-east-1"
PURPOSE = "model-training"

__all__ = [
    "GERMANY",
    "IRELAND",
    "PURPOSE",
    "VIRGINIA",
    "ask",
    "cn_officer",
    "eu_customers",
    "eu_officer",
    "fresh",
    "restricted_records",
    "second_eu_officer",
    "terms",
]


def _officer(username: str, jurisdiction: str):
    officer = UserFactory(username=username, roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(
        user=officer, jurisdiction=Jurisdiction.objects.get(code=jurisdiction)
    )
    return officer


@pytest.fixture
def eu_officer(db):
    """A privacy officer who answers for the EU (the datasets' source jurisdiction)."""
    return _officer("eva-eu-officer", "eu")


@pytest.fixture
def second_eu_officer(db):
    return _officer("emil-eu-officer", "eu")


@pytest.fixture
def cn_officer(db):
    """A privacy officer of another jurisdiction: sees none of the EU's exceptions."""
    return _officer("chen-cn-officer", "cn")


@pytest.fixture
def eu_customers(data_owner, eu_officer):
    """EU personal data stored in Ireland, processed in Germany: Virginia is out of bounds."""
    return make_dataset(
        data_owner,
        slug="eu-customers",
        jurisdiction="eu",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY],
    )


@pytest.fixture
def restricted_records(data_owner, eu_officer):
    """Restricted data: its exceptions need two approvers."""
    return make_dataset(
        data_owner,
        slug="restricted-records",
        jurisdiction="eu",
        sensitivity="restricted",
        allowed_processing_regions=[IRELAND],
    )


def terms(**overrides) -> dict:
    """An API body for a valid exception of eu-customers to Virginia under SCCs."""
    start = timezone.now() + dt.timedelta(minutes=1)
    body = {
        "datasets": ["eu-customers"],
        "destination_regions": [VIRGINIA],
        "purpose": PURPOSE,
        "mechanism": "scc",
        "scc_module": "c2p",
        "justification": "Train the ranking model on US GPUs for two weeks",
        "tia_risks": ["US surveillance law (FISA 702)"],
        "tia_measures": ["encryption_in_transit", "pseudonymisation"],
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(days=14)).isoformat(),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def ask(requester, datasets, *, submit=False, regions=(VIRGINIA,), days=14, **overrides):
    """File an exception through the service (the API tests' starting point)."""
    start = timezone.now()
    fields = {
        "mechanism": "scc",
        "scc_module": "c2p",
        "justification": "Train the ranking model on US GPUs",
        "tia_risks": ["US surveillance law"],
        "tia_measures": ["encryption_in_transit"],
        "starts_at": start,
        "ends_at": start + dt.timedelta(days=days),
        **overrides,
    }
    return services.exception_create(
        actor=requester,
        datasets=list(datasets),
        destination_regions=[Region.objects.get(code=code) for code in regions],
        purpose=Purpose.objects.get(code=PURPOSE),
        submit=submit,
        **fields,
    )


def fresh(user):
    """The same person without the permission cache of an earlier request."""
    return get_user_model().objects.get(pk=user.pk)
