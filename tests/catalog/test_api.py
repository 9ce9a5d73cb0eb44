"""The catalog API under /api/v1/: who may do what, bad input, filters, lineage, history, map."""

import re
from itertools import pairwise
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.pagination import PageNumberPagination

from catalog import services
from catalog.models import Dataset, DatasetChange, LineageEdge
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/datasets/"
EDGES = "/api/v1/lineage-edges/"
DATA_MAP = "/api/v1/data-map/"
READERS = ["privacy_officer", "executive", "data_owner", "other_owner", "engineer", "auditor"]
WRITERS_BY_MODEL_PERMISSION = ["privacy_officer"]
NON_CREATORS = ["executive", "auditor", "engineer"]


def detail(slug: str) -> str:
    return f"{DATASETS}{slug}/"


def result_slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    slugs = [item["slug"] for item in body["results"]]
    assert body["count"] == len(slugs)
    return sorted(slugs)


def new_dataset(**overrides) -> dict:
    data = {
        "slug": "web-sessions",
        "name": "Web sessions",
        "storage_region": "aws:eu-west-1",
        "sensitivity": "internal",
        "retention_days": 30,
    }
    data.update(overrides)
    return data


def fresh(user):
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def owned(data_owner):
    """A dataset of data_owner's."""
    return make_dataset(
        data_owner,
        slug="claims",
        name="Claims",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=["aws:eu-central-1"],
        tags=["insurance"],
    )


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_role_lists_and_reads(role, request, api_client, owned):
    client = api_client(request.getfixturevalue(role))

    assert result_slugs(client.get(DATASETS)) == ["claims"]
    response = client.get(detail("claims"))

    assert response.status_code == 200
    body = response.json()
    assert body["owner"] == "olga-owner"
    assert body["storage_region"] == "aws:eu-west-1"
    assert body["country"] == "IE"
    assert body["jurisdiction"] == "eu"
    assert body["personal_data_categories"] == ["health"]
    assert body["subject_jurisdictions"] == ["eu"]
    assert body["allowed_processing_regions"] == ["aws:eu-central-1"]
    assert body["tags"] == ["insurance"]
    assert body["retention_days"] == 365


@pytest.mark.parametrize(
    "url",
    [
        DATASETS,
        detail("claims"),
        detail("claims") + "history/",
        detail("claims") + "lineage/",
        EDGES,
        DATA_MAP,
        "/api/v1/regions/",
        "/api/v1/jurisdictions/",
    ],
)
def test_a_user_without_a_role_is_refused(url, api_client, outsider, owned):
    response = api_client(outsider).get(url)

    assert response.status_code == 403
    assert "claims" not in response.content.decode()


@pytest.mark.parametrize("url", [DATASETS, detail("claims"), DATA_MAP])
def test_anonymous_is_refused(url, api_client, owned):
    response = api_client().get(url)

    assert response.status_code in (401, 403)
    assert "claims" not in response.content.decode()


def test_unknown_slug_is_404(api_client, executive):
    assert api_client(executive).get(detail("no-such-dataset")).status_code == 404


# --- creating -------------------------------------------------------------------------------


def test_data_owner_registers_a_dataset_and_owns_it(api_client, data_owner):
    client = api_client(data_owner)

    response = client.post(
        DATASETS,
        new_dataset(personal_data_categories=["contact"], tags=["web", "ml"]),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == "olga-owner"
    assert body["jurisdiction"] == "eu"  # the storage region's
    assert body["country"] == "IE"
    assert sorted(body["tags"]) == ["ml", "web"]
    dataset = Dataset.objects.get(slug="web-sessions")
    assert dataset.owner == data_owner
    assert [c.action for c in DatasetChange.objects.filter(dataset_slug="web-sessions")] == [
        DatasetChange.Action.CREATED
    ]
    patched = api_client(fresh(data_owner)).patch(
        detail("web-sessions"), {"retention_days": 60}, format="json"
    )
    assert patched.status_code == 200, patched.content


def test_privacy_officer_registers_a_dataset_for_an_owner(api_client, privacy_officer, data_owner):
    response = api_client(privacy_officer).post(
        DATASETS, new_dataset(owner="olga-owner", jurisdiction="eu"), format="json"
    )

    assert response.status_code == 201, response.content
    assert Dataset.objects.get(slug="web-sessions").owner == data_owner


def test_data_owner_cannot_register_a_dataset_for_a_colleague(api_client, data_owner, other_owner):
    response = api_client(data_owner).post(
        DATASETS, new_dataset(owner="oscar-owner"), format="json"
    )

    assert response.status_code == 403
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("role", NON_CREATORS)
def test_other_roles_cannot_register(role, request, api_client):
    response = api_client(request.getfixturevalue(role)).post(
        DATASETS, new_dataset(), format="json"
    )

    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_outsider_cannot_register(api_client, outsider):
    assert api_client(outsider).post(DATASETS, new_dataset(), format="json").status_code == 403
    assert not Dataset.objects.exists()


# --- updating and deleting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("data_owner", 200),
        ("privacy_officer", 200),
        ("other_owner", 403),
        ("executive", 403),
        ("engineer", 403),
        ("auditor", 403),
        ("outsider", 403),
    ],
)
def test_update_permissions(role, status, request, api_client, owned):
    response = api_client(request.getfixturevalue(role)).patch(
        detail("claims"), {"name": "Renamed claims"}, format="json"
    )

    assert response.status_code == status, response.content
    owned.refresh_from_db()
    assert (owned.name == "Renamed claims") is (status == 200)
    updates = DatasetChange.objects.filter(dataset_slug="claims", action="updated").count()
    assert updates == (1 if status == 200 else 0)


def test_owner_hands_a_dataset_over_to_a_colleague(api_client, data_owner, other_owner, owned):
    response = api_client(data_owner).patch(
        detail("claims"), {"owner": "oscar-owner"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["owner"] == "oscar-owner"
    # The previous owner has lost the dataset; the new one has it.
    assert (
        api_client(fresh(data_owner))
        .patch(detail("claims"), {"name": "Mine again?"}, format="json")
        .status_code
        == 403
    )
    assert (
        api_client(fresh(other_owner))
        .patch(detail("claims"), {"name": "Oscar's claims"}, format="json")
        .status_code
        == 200
    )


def test_owner_replaces_the_entry_with_put(api_client, data_owner, owned):
    response = api_client(data_owner).put(
        detail("claims"),
        new_dataset(slug="claims", name="Claims v2", storage_region="aws:eu-west-2"),
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["jurisdiction"] == "uk"  # follows the new storage region
    assert body["country"] == "GB"


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("data_owner", 204),
        ("privacy_officer", 204),
        ("other_owner", 403),
        ("executive", 403),
        ("engineer", 403),
        ("auditor", 403),
        ("outsider", 403),
    ],
)
def test_delete_permissions(role, status, request, api_client, owned):
    response = api_client(request.getfixturevalue(role)).delete(detail("claims"))

    assert response.status_code == status, response.content
    assert Dataset.objects.filter(slug="claims").exists() is (status != 204)
    deletions = DatasetChange.objects.filter(dataset_slug="claims", action="deleted").count()
    assert deletions == (1 if status == 204 else 0)


def test_a_dataset_a_training_run_read_is_not_deleted_409(api_client, owned, engineer):
    from catalog.models import Region
    from governance.checks.services import training_run_register
    from governance.models import Purpose

    training_run_register(
        actor=engineer,
        name="fraud-model",
        purpose=Purpose.objects.get(code="model-training"),
        compute_regions=[Region.objects.get(code="aws:eu-central-1")],
        inputs=[(owned, "v1")],
    )
    response = api_client(owned.owner).delete(detail("claims"))

    assert response.status_code == 409, response.content
    assert "still referred to by" in response.json()["dataset"][0]
    assert Dataset.objects.filter(slug="claims").exists()
    assert not DatasetChange.objects.filter(dataset_slug="claims", action="deleted").exists()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"storage_region": "aws:mars-north-1"}, "storage_region"),
        ({"jurisdiction": "atlantis"}, "jurisdiction"),
        ({"storage_region": "aws:eu-west-1", "jurisdiction": "uk"}, "jurisdiction"),
        ({"storage_region": "aws:eu-west-2", "jurisdiction": "eu"}, "jurisdiction"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": -5}, "retention_days"),
        ({"retention_days": "abc"}, "retention_days"),
        ({"personal_data_categories": ["astrology"]}, "personal_data_categories"),
        ({"sensitivity": "top-secret"}, "sensitivity"),
        ({"owner": "nobody-by-that-name"}, "owner"),
        ({"slug": "Not A Slug!"}, "slug"),
        ({"slug": "new"}, "slug"),  # reserved for the catalog's own page
    ],
    ids=lambda value: str(value),
)
def test_bad_input_is_a_400_naming_the_field(overrides, field, api_client, data_owner):
    response = api_client(data_owner).post(DATASETS, new_dataset(**overrides), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "missing", ["slug", "name", "storage_region", "sensitivity", "retention_days"]
)
def test_missing_required_field_is_a_400_naming_it(missing, api_client, data_owner):
    data = new_dataset()
    del data[missing]

    response = api_client(data_owner).post(DATASETS, data, format="json")

    assert response.status_code == 400
    assert missing in response.json()


def test_duplicate_slug_is_a_400(api_client, data_owner, owned):
    response = api_client(data_owner).post(DATASETS, new_dataset(slug="claims"), format="json")

    assert response.status_code == 400
    assert "slug" in response.json()
    assert Dataset.objects.filter(slug="claims").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"jurisdiction": "cn"}, "jurisdiction"),
        ({"retention_days": 0}, "retention_days"),
        ({"slug": "renamed"}, "slug"),
        ({"storage_region": "nowhere:at-all"}, "storage_region"),
    ],
)
def test_bad_update_is_a_400_and_changes_nothing(change, field, api_client, data_owner, owned):
    response = api_client(data_owner).patch(detail("claims"), change, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    owned.refresh_from_db()
    assert (owned.jurisdiction_id, owned.retention_days) == ("eu", 365)
    assert DatasetChange.objects.filter(dataset_slug="claims").count() == 1


def test_malformed_json_is_a_400(api_client, data_owner):
    response = api_client(data_owner).post(
        DATASETS, data='{"slug": "half-written", ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert not Dataset.objects.exists()


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def catalogue(data_owner, other_owner):
    """Five datasets spread over regions, laws, sensitivities, owners, categories and tags."""
    make_dataset(
        data_owner,
        slug="eu-health",
        name="Hospital admissions",
        description="Inpatient stays by ward",
        sensitivity="restricted",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        tags=["ml"],
    )
    make_dataset(
        other_owner,
        slug="de-contact",
        name="CRM contacts",
        storage_region="aws:eu-central-1",
        sensitivity="confidential",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu", "uk"],
        tags=["crm"],
    )
    make_dataset(
        data_owner,
        slug="uk-public",
        name="Open statistics",
        storage_region="aws:eu-west-2",
        sensitivity="public",
        tags=["ml", "open"],
    )
    make_dataset(
        other_owner,
        slug="us-internal",
        name="Web events",
        storage_region="aws:us-east-1",
        description="Clickstream used for recommendation models",
        sensitivity="internal",
        personal_data_categories=["contact"],
        subject_jurisdictions=["us-ca"],
    )
    make_dataset(
        data_owner,
        slug="us-west",
        name="Wearables",
        storage_region="aws:us-west-1",
        sensitivity="restricted",
        personal_data_categories=["contact", "health"],
        tags=["ml"],
    )


ALL = ["de-contact", "eu-health", "uk-public", "us-internal", "us-west"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ("jurisdiction=eu", ["de-contact", "eu-health"]),
        ("jurisdiction=uk", ["de-contact", "uk-public"]),  # de-contact: subjects in the UK
        ("jurisdiction=us-ca", ["us-internal", "us-west"]),  # us-internal: subjects in CA
        ("jurisdiction=us-va", ["us-internal"]),
        ("jurisdiction=atlantis", []),
        ("region=aws:eu-central-1", ["de-contact"]),
        ("region=aws:us-east-1", ["us-internal"]),
        ("country=US", ["us-internal", "us-west"]),
        ("country=us", ["us-internal", "us-west"]),
        ("country=GB", ["uk-public"]),
        ("sensitivity=restricted", ["eu-health", "us-west"]),
        ("sensitivity=restricted&sensitivity=public", ["eu-health", "uk-public", "us-west"]),
        ("owner=olga-owner", ["eu-health", "uk-public", "us-west"]),
        ("owner=oscar-owner", ["de-contact", "us-internal"]),
        ("category=contact", ["de-contact", "us-internal", "us-west"]),
        ("category=health", ["eu-health", "us-west"]),
        ("tag=ml", ["eu-health", "uk-public", "us-west"]),
        ("tag=crm", ["de-contact"]),
        ("tag=nothing", []),
        ("q=hospital", ["eu-health"]),
        ("q=Clickstream", ["us-internal"]),
        ("q=recommendation", ["us-internal"]),
        ("q=wearables", ["us-west"]),
        ("jurisdiction=eu&category=contact", ["de-contact"]),
        ("jurisdiction=uk&sensitivity=public", ["uk-public"]),
        ("tag=ml&country=US", ["us-west"]),
        ("category=health&tag=ml&owner=olga-owner", ["eu-health", "us-west"]),
        ("q=hospital&jurisdiction=eu", ["eu-health"]),
    ],
)
def test_filters(query, expected, api_client, auditor, catalogue):
    assert result_slugs(api_client(auditor).get(f"{DATASETS}?{query}")) == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admission hospital", ["eu-health"]),
        ("recommendations", ["us-internal"]),
        ("ward -hospital", []),
    ],
)
def test_full_text_search_on_postgresql(text, expected, api_client, auditor, catalogue):
    # Words in any order, stemmed, with websearch operators: more than a substring match.
    assert result_slugs(api_client(auditor).get(DATASETS, {"q": text})) == expected


def test_unknown_sensitivity_filter_is_a_400(api_client, auditor, catalogue):
    response = api_client(auditor).get(f"{DATASETS}?sensitivity=secret")

    assert response.status_code == 400
    assert "sensitivity" in response.json()


def test_list_is_ordered_by_name(api_client, auditor, catalogue):
    names = [d["name"] for d in api_client(auditor).get(DATASETS).json()["results"]]

    assert names == sorted(names)
    assert len(names) == 5


def test_pagination(api_client, auditor, catalogue, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    client = api_client(auditor)

    pages = [client.get(f"{DATASETS}?page={n}").json() for n in (1, 2, 3)]

    assert [p["count"] for p in pages] == [5, 5, 5]
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert "page=2" in pages[0]["next"] and pages[0]["previous"] is None
    assert pages[2]["next"] is None
    seen = [d["slug"] for p in pages for d in p["results"]]
    assert sorted(seen) == ALL
    assert client.get(f"{DATASETS}?page=4").status_code == 404


def test_default_page_holds_fifty(api_client, auditor, catalogue):
    body = api_client(auditor).get(DATASETS).json()

    assert body["next"] is None
    assert len(body["results"]) == 5


# --- query count ----------------------------------------------------------------------------


def _rich_datasets(owner, count: int, start: int) -> None:
    for n in range(start, start + count):
        make_dataset(
            owner,
            slug=f"bulk-{n}",
            steward=owner,
            personal_data_categories=["contact", "health"],
            subject_jurisdictions=["eu", "uk"],
            allowed_processing_regions=["aws:eu-central-1", "aws:eu-west-2"],
            tags=["bulk", f"t{n}"],
        )


def _count_list_queries(client, query: str, expected_rows: int) -> int:
    """The queries of the list with the person's permissions already cached (the cache's own
    cold and warm counts are tests/governance/test_auth_cache.py's)."""
    client.get(DATASETS)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{DATASETS}{query}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected_rows
    return len(captured)


@pytest.mark.parametrize("query", ["", "?jurisdiction=uk&tag=bulk&q=dataset"])
def test_list_query_count_does_not_grow_with_rows(query, api_client, data_owner, engineer):
    _rich_datasets(data_owner, 3, start=0)
    with_three = _count_list_queries(api_client(fresh(engineer)), query, expected_rows=3)

    _rich_datasets(data_owner, 27, start=3)
    with_thirty = _count_list_queries(api_client(fresh(engineer)), query, expected_rows=30)

    assert with_thirty == with_three
    assert with_three <= 10


def test_list_of_thirty_stays_within_the_query_budget(
    api_client, data_owner, engineer, django_assert_max_num_queries
):
    _rich_datasets(data_owner, 30, start=0)
    client = api_client(engineer)

    with django_assert_max_num_queries(10):
        response = client.get(DATASETS)

    assert len(response.json()["results"]) == 30


# --- lineage --------------------------------------------------------------------------------


@pytest.fixture
def lineage(data_owner):
    """raw -> clean -> features -> model, and vendor -> clean."""
    made = {
        slug: make_dataset(data_owner, slug=slug, name=slug.title())
        for slug in ("raw", "vendor", "clean", "features", "model", "unrelated")
    }
    for up, down in [
        ("raw", "clean"),
        ("vendor", "clean"),
        ("clean", "features"),
        ("features", "model"),
    ]:
        services.lineage_edge_create(actor=data_owner, upstream=made[up], downstream=made[down])
    return made


def _graph(client, slug, query=""):
    response = client.get(f"{detail(slug)}lineage/{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    nodes = sorted(n["slug"] for n in body["nodes"])
    edges = sorted((e["upstream"], e["downstream"]) for e in body["edges"])
    return body, nodes, edges


@pytest.mark.parametrize(
    ("query", "nodes", "edges"),
    [
        (
            "?direction=upstream",
            ["clean", "features", "raw", "vendor"],
            [("clean", "features"), ("raw", "clean"), ("vendor", "clean")],
        ),
        ("?direction=upstream&depth=1", ["clean", "features"], [("clean", "features")]),
        ("?direction=downstream", ["features", "model"], [("features", "model")]),
        (
            "?direction=both",
            ["clean", "features", "model", "raw", "vendor"],
            [("clean", "features"), ("features", "model"), ("raw", "clean"), ("vendor", "clean")],
        ),
        (
            "",
            ["clean", "features", "model", "raw", "vendor"],
            [("clean", "features"), ("features", "model"), ("raw", "clean"), ("vendor", "clean")],
        ),
        (
            "?depth=1",
            ["clean", "features", "model"],
            [("clean", "features"), ("features", "model")],
        ),
        (
            "?depth=0",
            ["clean", "features", "model"],
            [("clean", "features"), ("features", "model")],
        ),
    ],
)
def test_lineage_graph(query, nodes, edges, api_client, engineer, lineage):
    body, got_nodes, got_edges = _graph(api_client(engineer), "features", query)

    assert body["root"] == "features"
    assert got_nodes == nodes
    assert got_edges == edges
    assert [n["slug"] for n in body["nodes"] if n["root"]] == ["features"]


def test_lineage_depth_follows_the_levels(api_client, engineer, lineage):
    client = api_client(engineer)

    _, one, _ = _graph(client, "model", "?direction=upstream&depth=1")
    _, two, _ = _graph(client, "model", "?direction=upstream&depth=2")
    _, three, _ = _graph(client, "model", "?direction=upstream&depth=3")

    assert one == ["features", "model"]
    assert two == ["clean", "features", "model"]
    assert three == ["clean", "features", "model", "raw", "vendor"]


def test_lineage_depth_is_capped_at_ten_levels(api_client, data_owner, engineer):
    chain = [make_dataset(data_owner, slug=f"step-{n:02d}") for n in range(13)]
    for up, down in pairwise(chain):
        services.lineage_edge_create(actor=data_owner, upstream=up, downstream=down)

    _, nodes, edges = _graph(api_client(engineer), "step-00", "?direction=downstream&depth=50")

    assert nodes == [f"step-{n:02d}" for n in range(11)]
    assert len(edges) == 10


def test_lineage_of_an_isolated_dataset_is_itself(api_client, engineer, lineage):
    body, nodes, edges = _graph(api_client(engineer), "unrelated")

    assert nodes == ["unrelated"]
    assert edges == []
    assert body["nodes"][0]["country"] == "IE"


@pytest.mark.parametrize(
    ("query", "field"), [("?direction=sideways", "direction"), ("?depth=deep", "depth")]
)
def test_lineage_bad_parameters_are_a_400(query, field, api_client, engineer, lineage):
    response = api_client(engineer).get(f"{detail('features')}lineage/{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_owner_records_lineage_through_the_api(api_client, data_owner, lineage):
    response = api_client(data_owner).post(
        EDGES,
        {"upstream": "raw", "downstream": "unrelated", "transformation": "copy"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert LineageEdge.objects.filter(
        upstream__slug="raw", downstream__slug="unrelated", transformation="copy"
    ).exists()


def test_lineage_cycle_via_the_api_is_a_400_naming_the_path(api_client, data_owner, lineage):
    response = api_client(data_owner).post(
        EDGES, {"upstream": "model", "downstream": "raw"}, format="json"
    )

    assert response.status_code == 400, response.content
    [message] = response.json()["downstream"]
    assert "model -> raw -> clean -> features -> model" in message
    assert not LineageEdge.objects.filter(upstream__slug="model").exists()


@pytest.mark.parametrize(
    ("edge", "field"),
    [
        ({"upstream": "raw", "downstream": "raw"}, "downstream"),
        ({"upstream": "raw", "downstream": "clean"}, "downstream"),
        ({"upstream": "no-such", "downstream": "clean"}, "upstream"),
    ],
)
def test_bad_lineage_edges_are_a_400(edge, field, api_client, data_owner, lineage):
    response = api_client(data_owner).post(EDGES, edge, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert LineageEdge.objects.count() == 4


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("data_owner", 201),
        ("privacy_officer", 201),
        ("other_owner", 403),
        ("engineer", 403),
        ("executive", 403),
        ("outsider", 403),
    ],
)
def test_lineage_create_permissions(role, status, request, api_client, lineage):
    response = api_client(request.getfixturevalue(role)).post(
        EDGES, {"upstream": "raw", "downstream": "unrelated"}, format="json"
    )

    assert response.status_code == status
    assert LineageEdge.objects.count() == (5 if status == 201 else 4)


@pytest.mark.parametrize(
    ("role", "status"),
    [("data_owner", 204), ("privacy_officer", 204), ("other_owner", 403), ("auditor", 403)],
)
def test_lineage_delete_permissions(role, status, request, api_client, lineage):
    edge = LineageEdge.objects.get(upstream__slug="raw", downstream__slug="clean")

    response = api_client(request.getfixturevalue(role)).delete(f"{EDGES}{edge.pk}/")

    assert response.status_code == status
    assert LineageEdge.objects.filter(pk=edge.pk).exists() is (status != 204)


def test_lineage_edges_filter_by_dataset(api_client, auditor, lineage):
    response = api_client(auditor).get(f"{EDGES}?downstream__slug=clean")

    assert response.status_code == 200
    upstreams = sorted(e["upstream"] for e in response.json()["results"])
    assert upstreams == ["raw", "vendor"]


# --- history --------------------------------------------------------------------------------


def test_history_lists_versions_newest_first(api_client, data_owner, auditor):
    owner_client = api_client(data_owner)
    assert owner_client.post(DATASETS, new_dataset(), format="json").status_code == 201
    patched = owner_client.patch(
        detail("web-sessions"), {"retention_days": 90, "sensitivity": "restricted"}, format="json"
    )
    assert patched.status_code == 200

    response = api_client(auditor).get(f"{detail('web-sessions')}history/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    latest, first = body["results"]
    assert (latest["version"], latest["action"]) == (2, "updated")
    assert (first["version"], first["action"]) == (1, "created")
    assert latest["changed_fields"] == ["retention_days", "sensitivity"]
    assert latest["before"]["retention_days"] == 30
    assert latest["after"]["retention_days"] == 90
    assert latest["after"]["sensitivity"] == "restricted"
    assert first["before"] is None
    assert latest["actor_name"] == data_owner.get_full_name()
    oldest_first = api_client(auditor).get(
        f"{detail('web-sessions')}history/", {"ordering": "version", "page_size": 1}
    )
    assert [row["version"] for row in oldest_first.json()["results"]] == [1]
    assert oldest_first.json()["next"] is not None


def test_history_is_read_only(api_client, privacy_officer, owned):
    response = api_client(privacy_officer).post(f"{detail('claims')}history/", {}, format="json")

    assert response.status_code == 405
    assert DatasetChange.objects.filter(dataset_slug="claims").count() == 1


# --- data map -------------------------------------------------------------------------------


def _by_country(response) -> dict:
    assert response.status_code == 200, response.content
    return {row["country"]: row for row in response.json()["results"]}


def test_data_map_counts_per_country_and_sensitivity(api_client, executive, catalogue):
    make_dataset(UserFactory(roles=["data_owner"]), slug="ie-public", sensitivity="public")

    rows = _by_country(api_client(executive).get(DATA_MAP))

    assert sorted(rows) == ["DE", "GB", "IE", "US"]
    assert rows["IE"]["total"] == 2
    assert rows["IE"]["by_sensitivity"] == {
        "public": 1,
        "internal": 0,
        "confidential": 0,
        "restricted": 1,
    }
    assert rows["IE"]["highest_sensitivity"] == "restricted"
    assert rows["IE"]["iso3"] == "IRL"
    assert rows["US"]["total"] == 2
    assert rows["US"]["by_sensitivity"] == {
        "public": 0,
        "internal": 1,
        "confidential": 0,
        "restricted": 1,
    }
    assert rows["DE"]["by_sensitivity"]["confidential"] == 1
    assert rows["DE"]["highest_sensitivity"] == "confidential"
    assert rows["GB"]["highest_sensitivity"] == "public"
    assert sum(row["total"] for row in rows.values()) == 6
    names = [row["name"] for row in api_client(executive).get(DATA_MAP).json()["results"]]
    assert names == sorted(names)


@pytest.mark.parametrize(
    ("query", "totals"),
    [
        ("sensitivity=restricted", {"IE": 1, "US": 1}),
        ("jurisdiction=uk", {"DE": 1, "GB": 1}),
        ("owner=oscar-owner", {"DE": 1, "US": 1}),
        ("category=contact", {"DE": 1, "US": 2}),
        ("tag=ml&country=US", {"US": 1}),
        ("tag=nothing", {}),
        ("q=hospital", {"IE": 1}),
        ("q=recommendation&sensitivity=internal", {"US": 1}),
    ],
)
def test_data_map_with_a_filter(query, totals, api_client, executive, catalogue):
    rows = _by_country(api_client(executive).get(f"{DATA_MAP}?{query}"))

    assert {code: row["total"] for code, row in rows.items()} == totals


def test_data_map_bad_filter_is_a_400(api_client, executive, catalogue):
    response = api_client(executive).get(f"{DATA_MAP}?sensitivity=secret")

    assert response.status_code == 400
    assert "sensitivity" in response.json()


# --- machines -------------------------------------------------------------------------------


def test_machine_reads_and_writes_with_a_token(token_client, owned):
    pipeline = UserFactory(username="pipeline-bot", roles=["data_owner"])
    client = token_client(pipeline)

    assert result_slugs(client.get(DATASETS)) == ["claims"]
    created = client.post(DATASETS, new_dataset(slug="bot-output"), format="json")

    assert created.status_code == 201, created.content
    assert Dataset.objects.get(slug="bot-output").owner == pipeline


def test_a_wrong_token_is_refused(api_client, owned):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(DATASETS)

    assert response.status_code in (401, 403)
    assert "claims" not in response.content.decode()


def test_a_token_of_a_user_without_a_role_is_refused(token_client, outsider, owned):
    assert token_client(outsider).get(DATASETS).status_code == 403


# --- schema and docs ------------------------------------------------------------------------


def test_openapi_schema_describes_the_catalog(api_client, auditor):
    GENERATOR_STATS.reset()

    response = api_client(auditor).get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert dict(GENERATOR_STATS._error_cache) == {}  # no view the generator could not describe
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in [
        "/api/v1/datasets/",
        "/api/v1/datasets/{slug}/",
        "/api/v1/datasets/{slug}/lineage/",
        "/api/v1/datasets/{slug}/history/",
        "/api/v1/lineage-edges/",
        "/api/v1/data-map/",
    ]:
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/datasets/"])
    list_parameters = {p["name"] for p in paths["/api/v1/datasets/"]["get"]["parameters"]}
    assert {"q", "jurisdiction", "region", "country", "sensitivity", "page"} <= list_parameters


def test_api_docs_are_served_from_local_assets(api_client, auditor):
    client = api_client(auditor)

    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    foreign = [
        url
        for url in re.findall(r"""https?://[^\s"'<>)]+""", html)
        if urlsplit(url).hostname not in ("testserver", "localhost", "127.0.0.1")
    ]
    assert foreign == []
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    # Swagger UI's start-up script is a file of its own (no inline script under the CSP).
    starter = client.get("/api/docs/?script=")
    assert starter.status_code == 200
    assert '"/api/schema/"' in starter.content.decode()
    assert "<script>" not in html
    for asset in [a for a in assets if a != "/api/docs/?script="]:
        assert asset.startswith("/static/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        served.close()
