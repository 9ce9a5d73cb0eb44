"""An outside engineer's client: generated from Locus's OpenAPI schema by openapi-python-client
(in its own process, outside the project root), then used against a live Locus for one journey:
a privacy officer registers a telemetry source and keeps the token it answers with once; the
pipeline sends events with that token; an engineer asks a locality check."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from governance.roles import Role
from tests.factories import UserFactory, make_dataset
from tests.live import shared_live_locus, shared_live_locus_process

__all__ = ["shared_live_locus", "shared_live_locus_process"]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "locus_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> object:
    """The client package, generated from the schema as `manage.py spectacular` writes it."""
    where = tmp_path_factory.mktemp("client")
    schema = where / "schema.yaml"
    call_command("spectacular", "--file", str(schema), "--validate", "--fail-on-warn")
    subprocess.run(
        [
            str(GENERATOR),
            *("generate", "--path", str(schema), "--meta", "none"),
            *("--output-path", str(where / PACKAGE)),
        ],
        cwd=where,  # outside the project root, whose requests/ app shadows PyPI's requests
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _api(name: str):
    return importlib.import_module(f"{PACKAGE}.api.v1.{name}")


def _model(name: str, module: str):
    return getattr(importlib.import_module(f"{PACKAGE}.models.{module}"), name)


@pytest.mark.live
def test_a_generated_client_registers_a_source_sends_events_and_asks_a_check(
    generated, shared_live_locus, privacy_officer, data_owner
):
    make_dataset(data_owner, slug="web-logs", storage_region="aws:eu-west-1")
    officer = Token.objects.create(user=privacy_officer).key
    engineer = Token.objects.create(user=UserFactory(roles=[Role.ENGINEER])).key
    as_officer = generated.AuthenticatedClient(shared_live_locus, token=officer, prefix="Token")

    source_request = _model("TelemetrySourceRequest", "telemetry_source_request")
    created = _api("v1_telemetry_sources_create").sync_detailed(
        client=as_officer, body=source_request(name="etl-eu", description="The EU pipelines")
    )

    assert created.status_code == 201, created.content
    token = created.parsed.token  # returned once: the generated model must carry it
    assert token and created.headers["Location"].endswith(f"/{created.parsed.id}/")
    as_pipeline = generated.AuthenticatedClient(shared_live_locus, token=token, prefix="Bearer")
    batch = _model("V1TelemetryEventsCreateJsonBody", "v1_telemetry_events_create_json_body")
    read = {
        "id": uuid.uuid4().hex,
        "time": (timezone.now() - dt.timedelta(minutes=1)).isoformat(),
        "kind": "read",
        "dataset": "web-logs",
        "destination_region": "aws:eu-west-1",
    }
    sent = _api("v1_telemetry_events_create").sync_detailed(
        client=as_pipeline, body=batch.from_dict({"events": [read]})
    )
    assert sent.status_code == 200, sent.content
    assert sent.parsed.stored == 1
    as_engineer = generated.AuthenticatedClient(shared_live_locus, token=engineer, prefix="Token")
    check = _model("CheckRequest", "check_request")
    train = _model("LocalityActionEnum", "locality_action_enum")("train")
    answer = _api("v1_locality_check_create").sync(
        client=as_engineer,
        body=check(dataset="web-logs", action=train, region="aws:eu-west-1", purpose="analytics"),
    )
    assert answer.outcome == "allow" and answer.decision_id
