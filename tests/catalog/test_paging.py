"""Every API list pages the same way (`page`, `page_size` 1-200, 400 beyond) and orders the
same way (`ordering` over each list's allow-list, `-` for descending, 400 for an unknown
field), including the lists that used to answer bare arrays."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from catalog.models import Country, Jurisdiction
from catalog.paging import MAX_PAGE_SIZE
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

COUNTRIES = "/api/v1/countries/"
DATASETS = "/api/v1/datasets/"


def test_page_size_is_honoured(api_client, auditor):
    answer = api_client(auditor).get(COUNTRIES, {"page_size": 3})

    assert answer.status_code == 200
    body = answer.json()
    assert len(body["results"]) == 3
    assert body["count"] == Country.objects.count()
    assert "page_size=3" in body["next"]


def test_the_default_page_stays_fifty(api_client, auditor):
    assert len(api_client(auditor).get(COUNTRIES).json()["results"]) == 50


@pytest.mark.parametrize("size", ["0", str(MAX_PAGE_SIZE + 1), "ten", "-1", "1.5", ""])
def test_a_page_size_out_of_bounds_is_a_400_naming_it(api_client, auditor, size):
    answer = api_client(auditor).get(COUNTRIES, {"page_size": size})

    assert answer.status_code == 400
    assert answer.json() == {"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]}


def test_the_largest_page_is_allowed(api_client, auditor):
    answer = api_client(auditor).get(COUNTRIES, {"page_size": MAX_PAGE_SIZE})

    assert len(answer.json()["results"]) == min(MAX_PAGE_SIZE, Country.objects.count())


def test_ordering_ascending_and_descending(api_client, auditor):
    client = api_client(auditor)

    ascending = client.get(COUNTRIES, {"ordering": "name", "page_size": 200}).json()["results"]
    descending = client.get(COUNTRIES, {"ordering": "-name", "page_size": 200}).json()["results"]

    names = [row["name"] for row in ascending]
    assert names == sorted(names)
    assert [row["name"] for row in descending] == sorted(names, reverse=True)


def test_ordering_by_several_fields_breaks_ties_by_the_key(api_client, auditor):
    rows = (
        api_client(auditor)
        .get("/api/v1/jurisdictions/", {"ordering": "-regime", "page_size": 200})
        .json()["results"]
    )

    expected = sorted(Jurisdiction.objects.values_list("regime", "code"), key=lambda r: r[1])
    expected.sort(key=lambda r: r[0], reverse=True)
    assert [(row["regime"], row["code"]) for row in rows] == expected


def test_pages_of_an_ordered_list_never_overlap(api_client, auditor, data_owner):
    for number in range(5):
        make_dataset(data_owner, slug=f"same-{number}", sensitivity="internal")
    client = api_client(auditor)

    slugs = []
    for page in (1, 2, 3):
        answer = client.get(DATASETS, {"ordering": "sensitivity", "page_size": 2, "page": page})
        slugs += [row["slug"] for row in answer.json()["results"]]

    assert sorted(slugs) == [f"same-{number}" for number in range(5)]


@pytest.mark.parametrize("ordering", ["owner", "-password", "name,nope", "", "name,"])
def test_an_unknown_ordering_field_is_a_400_naming_ordering(api_client, auditor, ordering):
    answer = api_client(auditor).get(DATASETS, {"ordering": ordering})

    assert answer.status_code == 400
    assert list(answer.json()) == ["ordering"]
    assert "order by name, slug, sensitivity" in answer.json()["ordering"][0]


def test_a_detail_lookup_ignores_ordering(api_client, auditor, data_owner):
    make_dataset(data_owner, slug="one")

    assert api_client(auditor).get(f"{DATASETS}one/", {"ordering": "version"}).status_code == 200


def test_a_list_built_in_python_is_ordered_and_paged(api_client, executive, data_owner):
    for slug, region in [("a", "aws:eu-west-1"), ("b", "aws:us-east-1"), ("c", "aws:us-east-1")]:
        make_dataset(data_owner, slug=slug, storage_region=region)

    body = (
        api_client(executive)
        .get("/api/v1/data-map/", {"ordering": "-total", "page_size": 1})
        .json()
    )

    assert body["count"] == 2
    assert [(row["country"], row["total"]) for row in body["results"]] == [("US", 2)]


def _list_operations() -> list[dict]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        {"path": path, **operation["get"]}
        for path, operation in schema["paths"].items()
        if "get" in operation and _answers_a_list(operation["get"])
    ]


def _answers_a_list(operation: dict) -> bool:
    body = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    return schema.get("type") == "array" or "Paginated" in schema.get("$ref", "")


def test_every_list_in_the_schema_is_paged_with_page_size_and_ordering():
    operations = _list_operations()
    assert len(operations) > 35

    # The CSV register answers every row (its route says the format): not a page.
    operations = [op for op in operations if not op["path"].endswith(".csv")]
    bare = [op["path"] for op in operations if "Paginated" not in str(op["responses"]["200"])]
    assert bare == []
    for op in operations:
        names = {parameter["name"] for parameter in op.get("parameters", [])}
        assert {"page", "page_size"} <= names, op["path"]
        # A run's rows are grouped by run id in the database: they keep their own order.
        if op["path"] != "/api/v1/incidents/{id}/runs/":
            assert "ordering" in names, op["path"]


def test_every_ordering_field_the_schema_offers_works(api_client, privacy_officer):
    """Each list without a path parameter, ordered by each value its schema offers."""
    client = api_client(privacy_officer)
    for op in _list_operations():
        if "{" in op["path"]:
            continue
        ordering = next(p for p in op["parameters"] if p["name"] == "ordering")
        for value in ordering["schema"]["items"]["enum"]:
            answer = client.get(op["path"], {"ordering": value})
            assert answer.status_code in (200, 403), (op["path"], value, answer.content)


def test_the_browsable_api_offers_the_allow_list(client, auditor):
    client.force_login(auditor)

    page = client.get(DATASETS, HTTP_ACCEPT="text/html")

    assert page.status_code == 200
    assert "?ordering=-sensitivity" in page.content.decode()
    assert "?ordering=owner" not in page.content.decode()


def test_a_paged_reference_list_costs_a_count_and_its_own_queries(
    api_client, auditor, django_assert_num_queries
):
    client = api_client(auditor)
    client.get("/api/v1/jurisdictions/")  # the permission cache warmed

    with django_assert_num_queries(3):  # the count, the page, its countries (prefetched)
        answer = client.get("/api/v1/jurisdictions/", {"page_size": MAX_PAGE_SIZE})

    assert answer.json()["count"] == Jurisdiction.objects.count()
