"""JSON bodies keep their types (catalog/strict_types.py): a number, a boolean, a list or an object
where the schema says text is a 400 naming the field, an object where it says a list is one too;
a text's maxLength counts the text as sent, spaces around it included."""

from __future__ import annotations

import pytest

from catalog.models import Dataset

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/datasets/"


def new_dataset(**overrides) -> dict:
    return {
        "slug": "web-sessions",
        "name": "Web sessions",
        "storage_region": "aws:eu-west-1",
        "sensitivity": "internal",
        "retention_days": 30,
        **overrides,
    }


@pytest.mark.parametrize("value", [0, 1.5, True, ["Web"], {"name": "Web"}])
def test_text_given_as_another_json_type_is_a_400_naming_the_field(api_client, data_owner, value):
    answer = api_client(data_owner).post(DATASETS, new_dataset(name=value), format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["name"]
    assert not Dataset.objects.exists()


def test_a_slug_given_as_a_number_is_refused(api_client, data_owner):
    answer = api_client(data_owner).post(DATASETS, new_dataset(storage_region=7), format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["storage_region"]


def test_an_object_where_a_list_is_expected_is_refused(api_client, data_owner):
    body = new_dataset(allowed_processing_regions={"aws:eu-west-1": True})

    answer = api_client(data_owner).post(DATASETS, body, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == ["allowed_processing_regions"]


def test_max_length_counts_the_spaces_around_the_text(api_client, data_owner):
    limit = Dataset._meta.get_field("name").max_length
    padded = "  " + "n" * (limit - 1) + "  "  # within the limit once trimmed, over it as sent

    refused = api_client(data_owner).post(DATASETS, new_dataset(name=padded), format="json")
    taken = api_client(data_owner).post(
        DATASETS, new_dataset(name=" " + "n" * (limit - 1)), format="json"
    )

    assert refused.status_code == 400
    assert str(limit) in refused.json()["name"][0]
    assert taken.status_code == 201, taken.content
    assert Dataset.objects.get().name == "n" * (limit - 1)  # still trimmed
