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
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from catalog.paging import MAX_PAGE_SIZE
from governance.roles import Role
from tests.factories import UserFactory
from tests.live import ROOT, LiveServer, live_locus, web_command  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.live, pytest.mark.fuzz]  # make fuzz, not make test: about eight minutes

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


UNREACHED_RATES = {name: "1000000/minute" for name in ("API_RATE", "TELEMETRY_RATE", "LINEAGE_RATE")}


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
QUICK_PHASES = "examples,fuzzing,stateful"
ARTIFACTS = ROOT / "test-artifacts" / "fuzz"


def phases() -> str:
    """Every run takes the examples, fuzzing and stateful phases: every operation, its links,
    under each role's permissions. The coverage phase (every boundary and bad value of every
    field, a request without each required header, each method a path lacks) takes about ten
    times as long; LOCUS_FUZZ_COVERAGE=1 (`make fuzz`) adds it to every role's run.
    LOCUS_FUZZ_PHASES overrides both."""
    if override := os.environ.get("LOCUS_FUZZ_PHASES"):
        return override
    return ALL_PHASES if os.environ.get("LOCUS_FUZZ_COVERAGE") == "1" else QUICK_PHASES


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
    the public intake's."""
    if role is None:
        return {}
    user = UserFactory(username=f"fuzz-{role}", roles=[role])
    token = Token.objects.create(user=user)
    return {"Authorization": f"Token {token.key}"}


# A path parameter takes one of the role's own objects this often; otherwise what the schema
# allows (almost always nothing: a 404).
KNOWN_OBJECT_SHARE = 0.8


def known_objects(schema: dict, base_url: str, headers: dict[str, str]) -> dict[str, list]:
    """For each path with a parameter ("/api/v1/models/{id}/..."), the values of that parameter
    the role can reach: the `id`, `slug` or `code` of every item its list answers (up to a page
    of MAX_PAGE_SIZE). A random id is a 404, which never reaches the operation's code; with
    these, the operations on one object (its steps, history, PATCH, DELETE) are fuzzed on
    objects that exist. Only the API's own answers are read, so each role gets what its
    permissions let it see, and the anonymous run nothing."""
    found: dict[str, list] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for path in schema["paths"]:
            match = PATH_PARAMETER.search(path)
            if match is None or path[: match.end()] in found:
                continue
            answer = client.get(path[: match.start()], params={"page_size": MAX_PAGE_SIZE})
            if answer.status_code != 200:
                continue
            body = answer.json()
            items = body.get("results", []) if isinstance(body, dict) else body
            name = match.group(1)
            values = [item[name] for item in items if isinstance(item, dict) and name in item]
            if values:
                found[path[: match.end()]] = values
    return found


PATH_PARAMETER = re.compile(r"\{(\w+)\}")


def fuzz_config(directory: Path, objects: dict[str, list]) -> Path:
    """tests/fuzz/schemathesis.toml, and a dictionary of known objects for each parameter."""
    lines = [(FUZZ / "schemathesis.toml").read_text()]
    for number, (prefix, values) in enumerate(sorted(objects.items())):
        name = PATH_PARAMETER.search(prefix).group(1)
        lines += [
            f"[dictionaries.objects{number}]",
            f"values = {json.dumps(values)}",
            "[[operations]]",
            f"include-path-regex = {json.dumps('^' + re.escape(prefix))}",
            "parameters = { %s = { dictionary = %s, probability = %s } }"
            % (json.dumps(f"path.{name}"), json.dumps(f"objects{number}"), KNOWN_OBJECT_SHARE),
        ]
    config = directory / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
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
