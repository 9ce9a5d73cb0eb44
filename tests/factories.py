"""factory_boy factories and helpers shared by the test suite."""

import itertools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from catalog import services
from catalog.models import Dataset, Jurisdiction, Region

DEFAULT_REGION = "aws:eu-west-1"
_dataset_numbers = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `UserFactory(roles=["data_owner"])` puts them in those role groups."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        # Group.objects.get: a missing role group is a setup error the test must not hide.
        self.groups.add(*(Group.objects.get(name=role) for role in extracted))


def _region(value) -> Region:
    return value if isinstance(value, Region) else Region.objects.get(code=value)


def _jurisdiction(value) -> Jurisdiction | None:
    if value is None or isinstance(value, Jurisdiction):
        return value
    return Jurisdiction.objects.get(code=value)


def _catalog_admin():
    return UserFactory(username="factory-privacy-officer", roles=["privacy_officer"])


def make_dataset(owner=None, **overrides) -> Dataset:
    """Register a dataset through catalog.services.dataset_create, with sensible defaults.

    The owner registers it when their role allows; otherwise a privacy officer registers it
    for them. Regions and jurisdictions may be given by code; `actor=` overrides who acts.
    """
    number = next(_dataset_numbers)
    actor = overrides.pop("actor", None)
    if actor is None:
        can_register = owner is not None and owner.has_perm("catalog.add_dataset")
        actor = owner if can_register else _catalog_admin()
    fields = {
        "name": f"Dataset {number}",
        "slug": f"dataset-{number}",
        "storage_region": DEFAULT_REGION,
        "sensitivity": "confidential",
        "retention_days": 365,
    }
    if owner is not None:
        fields["owner"] = owner
    fields.update(overrides)
    fields["storage_region"] = _region(fields["storage_region"])
    if "jurisdiction" in fields:
        fields["jurisdiction"] = _jurisdiction(fields["jurisdiction"])
    if "allowed_processing_regions" in fields:
        fields["allowed_processing_regions"] = [
            _region(r) for r in fields["allowed_processing_regions"]
        ]
    return services.dataset_create(actor=actor, **fields)
