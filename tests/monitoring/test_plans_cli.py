"""`locus check-plan`: the command a CI job runs on `terraform show -json`, in its own process,
against a real Locus server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from governance.models import LocalityDecision
from governance.roles import Role
from monitoring.models import UnregisteredAsset
from tests.factories import UserFactory, make_dataset
from tests.governance.test_cli import locus
from tests.live import shared_live_locus, shared_live_locus_process

# Imported for pytest, which finds the fixture by name in this module.
__all__ = ["shared_live_locus", "shared_live_locus_process"]

PLANS = Path(__file__).parent / "plans"


@pytest.fixture
def live_locus(shared_live_locus) -> str:
    return shared_live_locus


@pytest.fixture
def token(live_locus) -> str:
    engineer = UserFactory(username="eli-engineer", roles=[Role.ENGINEER])
    return Token.objects.create(user=engineer).key


@pytest.fixture
def eu_customers(live_locus):
    """EU personal data in Ireland, which may also be kept in Frankfurt; its exports bucket is
    s3://acme-eu-customers."""
    return make_dataset(
        slug="eu-customers",
        uri="s3://acme-eu-customers/exports",
        lawful_basis="contract",
        storage_region="aws:eu-west-1",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=["aws:eu-central-1"],
    )


def plan_file(tmp_path: Path, name: str) -> str:
    return str(shutil.copy(PLANS / name, tmp_path / "plan.json"))


@pytest.mark.live
def test_a_bucket_for_eu_personal_data_in_a_non_adequate_region_exits_1(
    live_locus, token, eu_customers, tmp_path
):
    plan = plan_file(tmp_path, "aws_bucket_in_mumbai.json")

    result = locus(
        "check-plan", plan, "--purpose", "analytics", url=live_locus, token=token, cwd=tmp_path
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "plan: verdict DENY" in result.stdout
    assert "DENY: aws_s3_bucket.customer_exports (object storage, create)" in result.stdout
    assert "s3://acme-eu-customers in aws:ap-south-1" in result.stdout
    assert "law:      needs_mechanism (eu)" in result.stdout
    decision = LocalityDecision.objects.get()
    assert (decision.context, decision.action, decision.outcome) == ("plan", "store", "deny")
    assert f"decision: #{decision.pk}" in result.stdout


@pytest.mark.live
def test_the_same_bucket_in_frankfurt_exits_0_and_reports_the_gap(
    live_locus, token, eu_customers, tmp_path
):
    plan = plan_file(tmp_path, "aws_bucket_in_frankfurt.json")

    result = locus(
        "check-plan", plan, "--purpose", "analytics", url=live_locus, token=token, cwd=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "plan: verdict ALLOW" in result.stdout
    assert "catalog gap: dynamodb://web-sessions" in result.stdout
    assert LocalityDecision.objects.get().outcome == "allow"
    assert UnregisteredAsset.objects.get().dataset_ref == "dynamodb://web-sessions"


@pytest.mark.live
def test_check_plan_json_prints_the_answer(live_locus, token, eu_customers, tmp_path):
    plan = plan_file(tmp_path, "aws_bucket_in_mumbai.json")

    result = locus(
        "check-plan",
        "--json",
        plan,
        "--purpose",
        "analytics",
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert json.loads(result.stdout)["verdict"] == "deny"


@pytest.mark.live
def test_a_bad_plan_exits_2_naming_the_field(live_locus, token, eu_customers, tmp_path):
    document = json.loads((PLANS / "aws_bucket_in_frankfurt.json").read_text())
    document["resource_changes"][0]["change"]["actions"] = ["destroy"]
    (tmp_path / "plan.json").write_text(json.dumps(document))

    result = locus(
        "check-plan",
        "plan.json",
        "--purpose",
        "analytics",
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )
    unreadable = locus(
        "check-plan",
        "missing.json",
        "--purpose",
        "analytics",
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert "plan.resource_changes[0].change.actions: Not a documented action list" in result.stderr
    assert unreadable.returncode == 2
    assert "cannot read missing.json" in unreadable.stderr
    assert not LocalityDecision.objects.exists()
