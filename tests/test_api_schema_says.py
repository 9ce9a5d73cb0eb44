"""What the API enforces, its schema says, so that a generated client (and schemathesis'
positive and negative data checks, tests/test_api_fuzz.py) and the API agree: JSON types kept
(no number taken as text, no object as a list), empty filters allowed where they are no filter,
lists that may not be empty with minItems, required reasons required, choices as enums."""

import pytest

from tests.fuzz.locus_fuzz_rules import schema_cannot_say

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def parameter(schema, route, name, method="get"):
    found = [p for p in schema["paths"][route][method]["parameters"] if p["name"] == name]
    assert found, f"{route} has no parameter {name}"
    return found[0]


def body(schema, component):
    return schema["components"]["schemas"][component]


@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/api/v1/ledger/entries/", "until"),  # a filter set's
        ("/api/v1/anomaly-alerts/", "page"),  # DRF reads ?page= as the first page
        ("/api/v1/ledger/export", "until"),  # a view's own window
        ("/api/v1/evidence", "since"),
        ("/api/v1/transfer-register/", "source"),
        ("/api/v1/data-map/", "sensitivity"),
    ],
)
def test_a_parameter_read_empty_as_absent_allows_the_empty_value(
    schema, api_client, privacy_officer, route, name
):
    assert parameter(schema, route, name)["allowEmptyValue"] is True
    assert api_client(privacy_officer).get(route, {name: ""}).status_code == 200


@pytest.mark.parametrize(("route", "name"), [("/api/v1/datasets/", "page_size")])
def test_a_parameter_refused_empty_does_not(schema, api_client, privacy_officer, route, name):
    assert "allowEmptyValue" not in parameter(schema, route, name)
    assert api_client(privacy_officer).get(route, {name: ""}).status_code == 400


def test_text_that_may_not_be_blank_needs_a_character_besides_space(
    schema, api_client, privacy_officer
):
    title = body(schema, "RecordedDecisionRequest")["properties"]["title"]
    assert title["pattern"] == "[^\\s\\x1c-\\x1f\\x85]"
    sent = {"title": " \x1f ", "context": "c", "decision": "d"}
    answer = api_client(privacy_officer).post("/api/v1/recorded-decisions/", sent, format="json")
    assert answer.status_code == 400 and "title" in answer.json()


def test_the_csv_register_answers_whole_and_lists_no_page(schema):
    names = {
        p["name"] for p in schema["paths"]["/api/v1/transfer-register.csv"]["get"]["parameters"]
    }
    assert not names & {"page", "page_size", "format"}
    assert "page_size" in {
        p["name"] for p in schema["paths"]["/api/v1/transfer-register/"]["get"]["parameters"]
    }


def test_bounds_and_choices_are_in_the_schema(schema):
    assert parameter(schema, "/api/v1/risk/stream", "limit")["schema"]["minimum"] == 1
    assert (
        parameter(schema, "/api/v1/glossary/terms/{slug}/replay/", "days")["schema"]["minimum"] == 1
    )
    assert (
        parameter(schema, "/api/v1/locality/what-if/adequacy", "country")["schema"]["pattern"]
        == "^[A-Z]{2}$"
    )
    sensitivity = parameter(schema, "/api/v1/data-map/", "sensitivity")["schema"]
    assert "restricted" in sensitivity["items"]["enum"]
    intake = body(schema, "StaffIntakeRequest")["properties"]
    assert "erasure" in str(intake["type"]) and intake["identifiers"]["required"] == ["email"]


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("TrainingRunRequest", "datasets"),
        ("TrainingRunRequest", "compute_regions"),
        ("TransferGrantRequest", "datasets"),
        ("TransferGrantRequest", "destination_regions"),
        ("ReadsRequest", "reads"),
    ],
)
def test_a_list_that_may_not_be_empty_says_so(schema, component, field):
    assert body(schema, component)["properties"][field]["minItems"] == 1


def test_a_step_that_needs_a_reason_requires_it(schema, api_client, privacy_officer):
    steps = schema["paths"]["/api/v1/subject-requests/{id}/extend/"]["post"]
    ref = steps["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert body(schema, ref)["required"] == ["reason"]
    assert body(schema, ref)["properties"]["reason"]["minLength"] == 1


@pytest.mark.parametrize(
    ("route", "sent", "field"),
    [
        ("/api/v1/incidents/bulk/", {"incidents": [1], "action": "assign", "owner": 7}, "owner"),
        ("/api/v1/recorded-decisions/", {"title": 0, "context": "c", "decision": "d"}, "title"),
        ("/api/v1/recorded-decisions/", {"title": "t", "rules": {}}, "rules"),
        ("/api/v1/recorded-decisions/", {"title": "t", "links": [5]}, "links"),
        ("/api/v1/recorded-decisions/", {"title": "t", "datasets": [0]}, "datasets"),
    ],
)
def test_json_types_are_kept(api_client, privacy_officer, route, sent, field):
    answer = api_client(privacy_officer).post(route, sent, format="json")

    assert answer.status_code == 400
    assert field in answer.json(), answer.json()


# --- what the fuzz run forgives (tests/fuzz/locus_fuzz_rules.py) ------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "answer"),
    [
        ("PATCH", "/api/v1/datasets/{slug}/", 412, {"If-Match": ["It changed since you read it"]}),
        ("POST", "/api/v1/datasets/", 400, {"owner": ["Object with username=0 does not exist."]}),
        (
            "GET",
            "/api/v1/decisions/",
            400,
            {
                "training_run": [
                    "Select a valid choice. That choice is not one of the available choices."
                ]
            },
        ),
        (
            "PUT",
            "/api/v1/datasets/{slug}/",
            400,
            {"slug": ["dataset with this slug already exists."]},
        ),
        (
            "POST",
            "/api/v1/glossary/terms/",
            400,
            {
                "categories": ["No personal-data category has the code 00"],
                "steward": ["Object with username=0 does not exist."],
            },
        ),
        ("POST", "/api/v1/transfer-exceptions/", 400, {"datasets": ["No dataset has the slug 00"]}),
        ("POST", "/api/v1/incidents/bulk/", 400, {"incidents": "No incident #74213703"}),
        (
            "POST",
            "/api/v1/transfer-exceptions/",
            400,
            {"ends_at": ["The end must be after the start"]},
        ),
        (
            "POST",
            "/api/v1/training-runs/{id}/reads/",
            400,
            {"reads": {"0": {"dataset": ["Null characters are not allowed."]}}},
        ),
        (
            "POST",
            "/api/v1/training-runs/",
            400,
            {"techniques": ["techniques: A technique is declared twice"]},
        ),
        (
            "POST",
            "/api/v1/lineage-edges/",
            400,
            {"techniques[3].source": ["The source is the upstream, events"]},
        ),
        ("GET", "/api/v1/ledger/proof/consistency", 400, {"first": ["must not be larger"]}),
        ("POST", "/api/v1/models/", 400, {"version": ["churn 1.0 is registered already"]}),
        ("POST", "/api/v1/subject-tasks/{id}/complete/", 400, {"note": ["Say what was done"]}),
        (
            "POST",
            "/api/v1/subject-tasks/{id}/complete/",
            400,
            {"upload": ["Upload a .json, .csv or .zip file"]},
        ),
        ("PUT", "/api/v1/dataset-connectors/{id}/", 400, {"table": ["'?' is not a table name"]}),
    ],
)
def test_the_fuzz_run_forgives_what_no_schema_can_say(method, path, status, answer):
    assert schema_cannot_say(method, path, status, answer)


@pytest.mark.parametrize(
    ("method", "path", "status", "answer"),
    [
        # a length, a bound or a choice the schema allows: the schema or the API is wrong
        ("POST", "/api/v1/datasets/", 400, {"name": ["Ensure this field has no more than 200"]}),
        ("GET", "/api/v1/risk/stream", 400, {"limit": ["Ensure this value is greater than"]}),
        (
            "GET",
            "/api/v1/data-map/",
            400,
            {"sensitivity": ["Select a valid choice. zz is not one of the available choices."]},
        ),
        # a reference to nothing beside a real refusal
        (
            "POST",
            "/api/v1/datasets/",
            400,
            {
                "owner": ["Object with username=0 does not exist."],
                "retention_days": ["Ensure this value is greater than or equal to 1."],
            },
        ),
        # a cross-field rule on another operation than the one it belongs to
        ("POST", "/api/v1/transfer-grants/", 400, {"ends_at": ["The end must be after the start"]}),
        ("POST", "/api/v1/training-runs/", 400, {"techniques[0].source": ["The source is"]}),
        # what one technique's schema says (differential privacy's parameters)
        (
            "POST",
            "/api/v1/locality/check",
            400,
            {"techniques": ["techniques[0].epsilon: A finite number is required"]},
        ),
        # a glossary step the term's state does not allow is a 409 now, never a 400
        ("POST", "/api/v1/glossary/terms/{slug}/approve/", 400, {"status": ["Nothing awaits"]}),
        # a 412 that says more than If-Match, and other statuses
        ("PATCH", "/api/v1/datasets/{slug}/", 412, {"If-Match": ["x"], "name": ["y"]}),
        ("POST", "/api/v1/datasets/", 403, {"detail": "Object with username=0 does not exist."}),
        ("POST", "/api/v1/datasets/", 400, ["not an object"]),
    ],
)
def test_the_fuzz_run_forgives_nothing_else(method, path, status, answer):
    assert not schema_cannot_say(method, path, status, answer)


# --- an optional reference: null or "" is none ------------------------------------------------


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("TermWriteRequest", "steward"),
        ("PatchedTermWriteRequest", "steward"),
        ("DatasetRequest", "steward"),
        ("LocalityRuleRequest", "term"),
        ("TransferGrantRequest", "purpose"),
    ],
)
def test_an_optional_reference_takes_null_and_the_empty_string_as_none(schema, component, field):
    said = body(schema, component)["properties"][field]
    assert said["nullable"] is True
    assert "minLength" not in said  # "" is valid: DRF takes it as null for every relation
    assert said["description"].endswith("Null or an empty string: none.")


@pytest.mark.parametrize("none", [None, ""])
def test_a_glossary_terms_steward_of_null_or_empty_is_none(api_client, data_owner, none):
    client = api_client(data_owner)
    created = client.post(
        "/api/v1/glossary/terms/",
        {"name": "Steward-less", "definition": "d", "steward": data_owner.username},
        format="json",
    )
    assert created.status_code == 201 and created.json()["steward"] == data_owner.username

    slug = created.json()["slug"]
    cleared = client.patch(f"/api/v1/glossary/terms/{slug}/", {"steward": none}, format="json")

    assert cleared.status_code == 200, cleared.json()
    assert cleared.json()["steward"] is None
    made = client.post(
        "/api/v1/glossary/terms/",
        {"name": "Other", "definition": "d", "steward": none},
        format="json",
    )
    assert made.status_code == 201 and made.json()["steward"] is None


def test_a_glossary_terms_steward_of_spaces_is_a_400_naming_it(api_client, data_owner):
    answer = api_client(data_owner).post(
        "/api/v1/glossary/terms/", {"name": "T", "definition": "d", "steward": "  "}, format="json"
    )
    assert answer.status_code == 400 and list(answer.json()) == ["steward"]


def test_a_technique_is_a_name_differential_privacy_with_its_parameters_or_another_without(
    schema, api_client, privacy_officer
):
    said = body(schema, "TrainingRunRequest")["properties"]["techniques"]["items"]["oneOf"]
    name, private, other = said
    assert name["type"] == "string"
    assert private["required"] == ["technique", "epsilon", "delta"]
    assert "epsilon" not in other["properties"] and other["additionalProperties"] is False
    sent = {"techniques": [{"technique": "synthetic", "epsilon": 1.0}]}
    answer = api_client(privacy_officer).post("/api/v1/locality/check", sent, format="json")
    assert answer.status_code == 400 and "techniques" in answer.json()
