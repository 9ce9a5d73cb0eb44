"""The API's contract as a client generator reads it: one error shape, every error in the schema,
strict and consistently named filters, the docs' access."""

import json

import pytest
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from rest_framework import permissions, serializers, viewsets
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from catalog.models import Dataset
from governance.checks.services import Check, locality_check
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(api_client):
    response = api_client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for route, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method != "parameters":
                yield route, method.upper(), operation


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("route", ["/api/v1/no-such-thing/", "/api/v1/datasets/x/nope/", "/api/x"])
def test_an_unknown_api_path_is_a_json_404(api_client, privacy_officer, method, route):
    response = getattr(api_client(privacy_officer), method)(route)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"] == f"No such API path: {route}"


def test_a_known_path_without_its_slash_is_still_redirected_for_a_get(api_client, executive):
    response = api_client(executive).get("/api/v1/datasets")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/datasets/"


def test_a_post_to_a_known_path_without_its_slash_says_where_to_go(api_client, privacy_officer):
    response = api_client(privacy_officer).post("/api/v1/datasets", {}, format="json")

    assert response.status_code == 404
    assert "/api/v1/datasets/" in response.json()["detail"]


@pytest.mark.parametrize(
    "route", ["/api/v1/transfer-register.csv", "/api/v1/transfer-register/?format=csv"]
)
def test_an_error_of_a_file_download_is_json_still(api_client, privacy_officer, route):
    response = api_client(privacy_officer).get(route, {"status": "bogus"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["status"]


def test_every_error_of_every_operation_is_documented_in_the_one_shape(schema):
    assert schema["components"]["schemas"]["Error"]["properties"]["detail"]["type"] == "string"
    for route, method, operation in operations(schema):
        codes = set(operation["responses"])
        public = route.startswith("/api/v1/subject-intake/")
        assert public or {"401", "403"} <= codes, (method, route)
        if "{" in route:
            assert "404" in codes, (method, route)
        if method in {"POST", "PUT", "PATCH", "DELETE"}:
            assert {"400", "409"} <= codes, (method, route)
        for code, answer in operation["responses"].items():
            if code.startswith("4"):
                assert answer["content"]["application/json"]["schema"]["$ref"] == ERROR_REF


def test_idempotent_creates_document_the_reused_key_and_throttled_views_429(schema):
    create = schema["paths"]["/api/v1/training-runs/"]["post"]["responses"]
    intake = schema["paths"]["/api/v1/subject-intake/"]["post"]["responses"]

    assert "422" in create
    assert "429" in intake and "Retry-After" in intake["429"]["headers"]
    assert "401" not in intake and "403" not in intake  # anyone may ask


def test_every_answer_documents_the_headers_it_carries(schema, api_client, privacy_officer):
    shared = schema["components"]["headers"]
    for route, method, operation in operations(schema):
        for code, answer in operation["responses"].items():
            assert "X-Request-ID" in answer["headers"], (method, route, code)
    datasets = schema["paths"]["/api/v1/datasets/"]
    created = datasets["post"]["responses"]["201"]["headers"]
    assert {"Location", "Idempotent-Replayed", "RateLimit-Remaining"} <= set(created)
    assert (
        "ETag" in schema["paths"]["/api/v1/datasets/{slug}/"]["get"]["responses"]["200"]["headers"]
    )
    answer = api_client(privacy_officer).get("/api/v1/datasets/")
    for name in ("X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert name in answer.headers and name in shared
        assert name in datasets["get"]["responses"]["200"]["headers"]


def test_writes_advertise_json_only_but_the_task_answer_takes_files(schema):
    for route, method, operation in operations(schema):
        media = set(operation.get("requestBody", {}).get("content", {}))
        if route == "/api/v1/subject-tasks/{id}/complete/":
            assert media == {"application/json", "multipart/form-data"}
        elif route == "/api/v1/telemetry/events":
            assert media == {"application/json", "application/x-ndjson"}
        elif media:
            assert media == {"application/json"}, (method, route)


def test_a_form_body_is_refused_with_415(api_client, privacy_officer):
    response = api_client(privacy_officer).post(
        "/api/v1/locality/check", "dataset=x", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert "detail" in response.json()


def test_the_source_token_is_in_the_create_and_rotate_answers(schema, api_client, privacy_officer):
    token_schema = schema["components"]["schemas"]["TelemetrySourceToken"]
    sources = schema["paths"]["/api/v1/telemetry/sources/"]["post"]["responses"]
    rotate = schema["paths"]["/api/v1/telemetry/sources/{id}/rotate/"]["post"]["responses"]
    token_ref = "#/components/schemas/TelemetrySourceToken"

    assert "token" in token_schema["required"]
    assert sources["201"]["content"]["application/json"]["schema"]["$ref"] == token_ref
    assert rotate["200"]["content"]["application/json"]["schema"]["$ref"] == token_ref
    assert "token" not in schema["components"]["schemas"]["TelemetrySource"]["properties"]
    created = api_client(privacy_officer).post(
        "/api/v1/telemetry/sources/", {"name": "warehouse"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["token"]
    read = api_client(privacy_officer).get(f"/api/v1/telemetry/sources/{created.json()['id']}/")
    assert "token" not in read.json()


# --- a view's declarations ------------------------------------------------------------------


class _Thing(serializers.Serializer):
    name = serializers.CharField()


class _GuardedViewSet(viewsets.ViewSet):
    """A view that honours If-Match and is throttled, as a view declares it."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [AnonRateThrottle]
    checks_if_match = True
    error_statuses = {405: "Not in this state"}
    serializer_class = _Thing

    def retrieve(self, request, pk=None):
        return Response({"name": "x"})

    def partial_update(self, request, pk=None):
        return Response({"name": "x"})


def test_a_view_declares_412_429_and_its_own_statuses():
    view = _GuardedViewSet.as_view
    patterns = [
        path("things/<int:pk>/", view({"get": "retrieve", "patch": "partial_update"})),
    ]
    generated = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    read = generated["paths"]["/things/{id}/"]["get"]["responses"]
    write = generated["paths"]["/things/{id}/"]["patch"]["responses"]

    assert {"404", "405", "429"} <= set(read) and "412" not in read
    assert {"400", "404", "405", "409", "412", "413", "429"} <= set(write)
    assert write["412"]["content"]["application/json"]["schema"]["$ref"] == ERROR_REF


# --- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "parameter", "value"),
    [
        ("/api/v1/countries/", "in_eea", "yes"),
        ("/api/v1/locality-rules/", "enabled", "maybe"),
        ("/api/v1/transfer-exceptions/", "mine", "yes"),
        ("/api/v1/incidents/", "status", "bogus"),
        ("/api/v1/decisions/", "outcome", "perhaps"),
        ("/api/v1/violations/", "since", "last tuesday"),
        ("/api/v1/datasets/", "sensitivity", "secretish"),
        ("/api/v1/ledger/entries/", "until", "soon"),
        ("/api/v1/ledger/export", "since", "soon"),
        ("/api/v1/risk/stream", "limit", "lots"),
        ("/api/v1/risk/stream", "after", "-1"),
        ("/api/v1/notifications/", "unread", "yes"),
        ("/api/v1/retention/runs/", "state", "soon"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(
    api_client, privacy_officer, route, parameter, value
):
    response = api_client(privacy_officer).get(route, {parameter: value})

    assert response.status_code == 400, response.content
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize(
    ("route", "parameter"),
    [
        ("/api/v1/datasets/", "sensitivity"),
        ("/api/v1/countries/", "in_eea"),
        ("/api/v1/incidents/", "status"),
        ("/api/v1/transfer-exceptions/", "mine"),
        ("/api/v1/retention/runs/", "state"),
    ],
)
def test_an_empty_filter_is_no_filter(api_client, privacy_officer, route, parameter):
    client = api_client(privacy_officer)

    filtered = client.get(route, {parameter: ""})

    assert filtered.status_code == 200, filtered.content
    assert _rows(filtered.json()) == _rows(client.get(route).json())


def _rows(body):
    """A paged list's rows (the links of a page keep the query as given)."""
    return body["results"] if isinstance(body, dict) and "results" in body else body


def test_a_boolean_filter_takes_true_and_false(api_client, executive):
    client = api_client(executive)

    in_eea = _rows(client.get("/api/v1/countries/", {"in_eea": "TRUE"}).json())
    outside = _rows(client.get("/api/v1/countries/", {"in_eea": "false"}).json())

    assert in_eea and all(c["in_eea"] for c in in_eea)
    assert outside and not any(c["in_eea"] for c in outside)


@pytest.fixture
def two_decisions(data_owner, engineer):
    for slug in ["claims", "clicks"]:
        make_dataset(data_owner, slug=slug)
    checks = [
        Check("claims", "process", "aws:eu-west-1", "analytics"),
        Check("clicks", "process", "aws:us-east-1", "analytics"),
    ]
    locality_check(actor=engineer, checks=checks)


@pytest.mark.parametrize(
    ("current", "deprecated", "value"),
    [("dataset", "dataset_slug", "claims"), ("region", "region_code", "aws:us-east-1")],
)
def test_a_deprecated_filter_name_still_works(
    api_client, privacy_officer, two_decisions, current, deprecated, value
):
    client = api_client(privacy_officer)

    by_name = client.get("/api/v1/decisions/", {current: value}).json()
    by_alias = client.get("/api/v1/decisions/", {deprecated: value}).json()

    assert by_name["count"] == 1
    assert by_alias == by_name


def test_deprecated_filter_names_are_in_the_schema_as_deprecated(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/decisions/"]["get"]["parameters"]}
    export = {p["name"]: p for p in schema["paths"]["/api/v1/ledger/export"]["get"]["parameters"]}

    assert parameters["dataset_slug"]["deprecated"] and not parameters["dataset"].get("deprecated")
    assert parameters["region_code"]["deprecated"]
    assert export["from"]["deprecated"] and not export["since"].get("deprecated")


def test_the_window_alias_still_slices_the_export(api_client, auditor):
    client = api_client(auditor)

    old = client.get("/api/v1/ledger/export", {"from": "2999-01-01T00:00:00Z"})
    new = client.get("/api/v1/ledger/export", {"since": "2999-01-01T00:00:00Z"})

    assert old.status_code == new.status_code == 200
    headers = [json.loads(b"".join(r.streaming_content).splitlines()[0]) for r in (old, new)]
    assert [h["from"] for h in headers] == ["2999-01-01T00:00:00+00:00"] * 2
    assert headers[0]["entries"] == headers[1]["entries"] == 0


def test_a_history_takes_no_list_filter(api_client, privacy_officer, schema, data_owner):
    make_dataset(data_owner, slug="claims")
    history = schema["paths"]["/api/v1/datasets/{slug}/history/"]["get"]
    timeline = schema["paths"]["/api/v1/subject-requests/{id}/timeline/"]["get"]

    response = api_client(privacy_officer).get(
        "/api/v1/datasets/claims/history/", {"sensitivity": "public"}
    )

    assert response.status_code == 200, response.content
    assert Dataset.objects.get(slug="claims").sensitivity != "public"
    paging = {"page", "page_size", "ordering"}  # an object's history is paged and ordered
    assert {p["name"] for p in history.get("parameters", []) if p["in"] == "query"} <= paging
    assert {p["name"] for p in timeline.get("parameters", []) if p["in"] == "query"} <= paging


# --- the docs -------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/schema/", "/api/docs/"])
def test_the_docs_are_public(api_client, route):
    assert api_client().get(route).status_code == 200


def test_an_inclusion_proof_of_a_leaf_not_in_the_tree_is_a_documented_404(
    schema, api_client, privacy_officer
):
    answer = api_client(privacy_officer).get(
        "/api/v1/ledger/proof/inclusion", {"leaf_hash": "0" * 64}
    )
    documented = schema["paths"]["/api/v1/ledger/proof/inclusion"]["get"]["responses"]

    assert answer.status_code == 404
    assert "tree" in documented["404"]["description"]


@pytest.mark.parametrize("route", ["/api/v1/violations/", "/api/v1/ledger/entries/"])
def test_a_moment_with_any_rfc3339_offset_filters_as_the_same_moment_in_utc(
    api_client, privacy_officer, route
):
    client = api_client(privacy_officer)

    far = client.get(route, {"since": "1712-05-25T06:13:00+23:18"})
    before_year_1 = client.get(route, {"since": "0001-01-01T00:00:00+23:00"})

    assert far.status_code == 200
    assert before_year_1.status_code == 400 and "since" in before_year_1.json()
