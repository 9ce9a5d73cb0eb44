"""People and data shared by the workflow tests: privacy officers with jurisdictions, a
GDPR dataset that may be processed only in Ireland, a purpose."""

import pytest

from catalog.models import Jurisdiction
from governance.models import Purpose, Responsibility
from governance.roles import Role
from tests.factories import UserFactory, make_dataset

EU = "aws:eu-west-1"


@pytest.fixture
def eu_officer(db):
    officer = UserFactory(username="eva-eu-officer", roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="eu"))
    return officer


@pytest.fixture
def second_eu_officer(db):
    officer = UserFactory(username="emil-eu-officer", roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="eu"))
    return officer


@pytest.fixture
def cn_officer(db):
    officer = UserFactory(username="chen-cn-officer", roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code="cn"))
    return officer


@pytest.fixture
def purpose(db):
    return Purpose.objects.order_by("code").first()


@pytest.fixture
def eu_dataset(data_owner):
    """Stored in Ireland under the GDPR, processed only there: the US is out of bounds."""
    return make_dataset(
        owner=data_owner, slug="eu-clicks", allowed_processing_regions=[EU], jurisdiction="eu"
    )
