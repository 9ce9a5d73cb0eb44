"""Schemathesis against a live Locus, every check it has (`--checks all`): every operation of the
OpenAPI schema, authenticated, with stateful links, must never answer 5xx nor a status, content
type, header or body its schema does not document, must refuse every request its schema calls
invalid, and take every request its schema calls valid (what a schema cannot say, such as which
slugs exist, is forgiven narrowly and explained in tests/fuzz/locus_fuzz_rules.py;
tests/fuzz/schemathesis.toml counts 412 as a refusal), answer a method a path lacks with 405 and
`Allow`, forget what it deleted, have what it created, and refuse a request without credentials.

Schemathesis needs PyPI's `requests`, which the app folder `requests/` shadows wherever the
project root is on sys.path, so its command runs from a folder outside the root.
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from catalog.models import Dataset
from catalog.paging import MAX_PAGE_SIZE
from catalog.services import dataset_update
from governance.roles import Role
from tests.factories import UserFactory
from tests.live import ROOT, LiveServer, live_locus, web_command  # noqa: F401  (fixtures)

User = get_user_model()

pytestmark = [pytest.mark.live, pytest.mark.fuzz]  # in make test; make fuzz runs these alone

# Every check schemathesis has (`--checks all`): every answer documented (its status, content
# type, headers and body), invalid input refused and valid input taken, a request without a
# required header or with a method the path lacks refused, a deleted object gone and a created one
# there at once, and no operation that needs credentials answering without them.
# LOCUS_FUZZ_EXCLUDE_CHECKS (comma-separated names) leaves some out, to look at one kind of
# failure at a time; LOCUS_FUZZ_ACCEPTANCE=0 leaves out the two acceptance checks, which judge the
# answers the run gets anyway (no request of their own).
ACCEPTANCE = ("negative_data_rejection", "positive_data_acceptance")


def excluded_checks() -> list[str]:
    names = [n for n in os.environ.get("LOCUS_FUZZ_EXCLUDE_CHECKS", "").split(",") if n]
    if os.environ.get("LOCUS_FUZZ_ACCEPTANCE") == "0":
        names += ACCEPTANCE
    return ["--exclude-checks", ",".join(names)] if names else []


UNREACHED_RATES = {
    name: "1000000/minute" for name in ("API_RATE", "TELEMETRY_RATE", "LINEAGE_RATE")
}


@pytest.fixture
def live_locus_process(django_db_setup, tmp_path_factory):
    """granian, the Procfile's `web`: the process that serves the API in production (Daphne
    keeps `/ws/`, which the schema does not describe). It spends less CPU per request than
    Daphne, and so the run takes less time.

    Its rate limits are far above the run's pace: at the default 3,000 a minute, one role's run
    (about 100 requests a second) was answered 429 for most of 120 operations, which then never
    reached their code. The limits still count, and every answer still carries its `RateLimit`
    headers; tests/catalog/test_throttling.py tests the refusals."""
    with LiveServer(
        tmp_path_factory.mktemp("live-locus"), env=UNREACHED_RATES, command=web_command
    ) as server:
        yield server


FUZZ = ROOT / "tests" / "fuzz"  # the hooks and settings; alone on the command's path
MAX_EXAMPLES = int(os.environ.get("LOCUS_FUZZ_EXAMPLES", "8"))
ALL_PHASES = "examples,coverage,fuzzing,stateful"
ARTIFACTS = ROOT / "test-artifacts" / "fuzz"


def phases() -> str:
    """Every phase: the schema's examples; coverage (every boundary and bad value of every
    field, a request without each required header, each method a path lacks: two thirds of the
    run's time); fuzzing; stateful (chains of calls along the links schemathesis infers).
    LOCUS_FUZZ_PHASES (comma-separated) runs only some, to iterate."""
    return os.environ.get("LOCUS_FUZZ_PHASES") or ALL_PHASES


def narrowed() -> list[str]:
    """LOCUS_FUZZ_PATHS (a regular expression) runs only the paths it matches, to iterate on a
    few operations; unset, every operation runs."""
    paths = os.environ.get("LOCUS_FUZZ_PATHS")
    return ["--include-path-regex", paths] if paths else []


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("schemathesis is missing: make install puts it in the virtualenv")
    return [found]


def authorization(role: Role | None) -> dict[str, str]:
    """A token of a user with the role; anonymous (None): none, so every answer is a 401, or
    the public intake's. The data owner is given OWNED_DATASETS of the demo's datasets: a new
    owner owns nothing, and would meet 404 on every dataset, violation, incident and exception
    it could only see through one of its own."""
    if role is None:
        return {}
    user = UserFactory(username=f"fuzz-{role}", roles=[role])
    if role == Role.DATA_OWNER:
        officer = User.objects.filter(groups__name=Role.PRIVACY_OFFICER).exclude(pk=user.pk)[0]
        for dataset in Dataset.objects.order_by("slug")[:OWNED_DATASETS]:
            dataset_update(actor=officer, dataset=dataset, owner=user)
    token = Token.objects.create(user=user)
    return {"Authorization": f"Token {token.key}"}


OWNED_DATASETS = 6


# A path parameter or a body field that names an object takes one that exists this often;
# otherwise what the schema allows (for a path, almost always nothing: a 404).
KNOWN_OBJECT_SHARE = 0.8
PATH_PARAMETER = re.compile(r"\{(\w+)\}")

# Body fields that name an object (their leaf in schemathesis' `body.` notation), by the list
# that gives the objects and the item's field they take: a create or a step whose references
# exist reaches its code, and the stateful phase gets objects to follow its links from.
BODY_REFERENCES = {
    ("/api/v1/datasets/", "slug"): ["dataset", "datasets[*]", "upstream", "downstream"],
    ("/api/v1/regions/", "code"): [
        "region",
        "regions[*]",
        "storage_region",
        "source_regions[*]",
        "destination_regions[*]",
        "allowed_processing_regions[*]",
    ],
    ("/api/v1/jurisdictions/", "code"): ["jurisdiction", "subject_jurisdictions[*]"],
    ("/api/v1/countries/", "code"): ["countries[*]"],
    ("/api/v1/purposes/", "code"): ["purpose", "default_purpose"],
    ("/api/v1/personal-data-categories/", "code"): [
        "category",
        "categories[*]",
        "personal_data_categories[*]",
    ],
    ("/api/v1/glossary/terms/", "slug"): ["term"],
    ("/api/v1/training-runs/", "id"): ["training_runs[*]"],
}


def listed(client: httpx.Client, path: str, field: str) -> list:
    """The `field` of every item a list answers the caller (one page of MAX_PAGE_SIZE)."""
    answer = client.get(path, params={"page_size": MAX_PAGE_SIZE})
    if answer.status_code != 200:
        return []
    body = answer.json()
    items = body.get("results", []) if isinstance(body, dict) else body
    return [item[field] for item in items if isinstance(item, dict) and field in item]


def known_objects(schema: dict, base_url: str, headers: dict[str, str]) -> dict[str, list]:
    """The objects the role can reach, by where schemathesis puts them: for each path with a
    parameter ("/api/v1/models/{id}"), the `id`, `slug` or `code` of every item its list
    answers; for each body field of BODY_REFERENCES (`body.dataset`), its list's. A random id is
    a 404 and a random slug a 400, which never reach the operation's code; with these, the
    operations on one object (its steps, history, PATCH, DELETE) and the creates that name
    others run on objects that exist. Only the API's answers are read, so each role gets what
    its permissions let it see, and the anonymous run nothing. Owners and stewards are the
    demo's data owners (no list names people)."""
    parameters: dict[str, tuple[str, str]] = {}  # "/api/v1/models/{id}" -> its list, "id"
    for path in schema["paths"]:
        if match := PATH_PARAMETER.search(path):
            parameters[path[: match.end()]] = (path[: match.start()], match.group(1))
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        lists = {key: listed(client, *key) for key in {*parameters.values(), *BODY_REFERENCES}}
    found = {where: lists[key] for where, key in parameters.items()}
    found |= {
        f"body.{leaf}": lists[key] for key, leaves in BODY_REFERENCES.items() for leaf in leaves
    }
    if headers:
        owners = list(
            User.objects.filter(groups__name=Role.DATA_OWNER).values_list("username", flat=True)
        )
        found |= {"body.owner": owners, "body.steward": owners}
    return {where: values for where, values in found.items() if values}


def fuzz_config(directory: Path, objects: dict[str, list]) -> Path:
    """tests/fuzz/schemathesis.toml, and a dictionary of known objects for each path parameter
    (an operation setting) and body field (a project one)."""
    lines = [(FUZZ / "schemathesis.toml").read_text()]
    body: list[str] = []
    for number, (where, values) in enumerate(sorted(objects.items())):
        binding = f'{{ dictionary = "objects{number}", probability = {KNOWN_OBJECT_SHARE} }}'
        lines += [f"[dictionaries.objects{number}]", f"values = {json.dumps(values)}"]
        if where.startswith("body."):
            body.append(f"{json.dumps(where)} = {binding}")
            continue
        name = PATH_PARAMETER.search(where).group(1)
        lines += [
            "[[operations]]",
            f"include-path-regex = {json.dumps('^' + re.escape(where))}",
            f"parameters = {{ {json.dumps(f'path.{name}')} = {binding} }}",
        ]
    config = directory / "schemathesis.toml"
    config.write_text("\n".join([*lines, "[parameters]", *body]) + "\n")
    return config


@pytest.mark.parametrize(
    "role",
    [Role.PRIVACY_OFFICER, Role.DATA_OWNER, Role.EXECUTIVE, None],
    ids=["privacy_officer", "data_owner", "executive", "anonymous"],
)
def test_no_operation_answers_5xx_or_breaks_its_schema(
    live_locus,  # noqa: F811
    live_locus_process,
    role,
    tmp_path,
):
    call_command("seed_demo", "--datasets", "30", "--allow-production", stdout=io.StringIO())
    headers = authorization(role)
    schema = httpx.get(f"{live_locus}/api/schema/?format=json", timeout=30).json()
    config = fuzz_config(tmp_path, known_objects(schema, live_locus, headers))
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"}}
    env |= {"PYTHONPATH": str(FUZZ), "SCHEMATHESIS_HOOKS": "locus_fuzz_hooks"}
    run = subprocess.run(
        [
            *schemathesis_command(),
            "--config-file",
            str(config),
            "run",
            f"{live_locus}/api/schema/",
            "--checks",
            "all",
            *excluded_checks(),
            *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
            "--phases",
            phases(),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--generation-deterministic",
            "--no-color",
            *narrowed(),
        ],
        cwd=tmp_path,  # outside the project root: PyPI's requests, not the app
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    # The whole report, and the server's tracebacks, for whoever reads a failure.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = role or "anonymous"
    (ARTIFACTS / f"schemathesis-{name}.txt").write_text(run.stdout + run.stderr)
    server_log = live_locus_process.log_path.read_text(errors="replace")
    (ARTIFACTS / f"server-{name}.log").write_text(server_log)
    # Django logs every 500 as "Internal Server Error: <path>" (a refused request, such as one
    # with too many fields, is logged with its traceback too, but answered 400).
    server_errors = server_log.count("Internal Server Error:")
    assert run.returncode == 0, run.stdout[-15000:] + run.stderr[-3000:] + server_log[-5000:]
    assert server_errors == 0, server_log[-8000:]
