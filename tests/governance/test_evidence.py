"""The auditor's evidence package: its files and manifest, the offline verifier run on it (as a
separate process, intact and tampered), the period, contributed sections, the API and the page."""

import base64
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from catalog.models import Region
from governance.checks.services import Check, locality_check
from governance.grants.services import grant_create
from governance.ledger import evidence, signing
from governance.ledger.chain import ledger_append
from governance.ledger.export import checkpoint_create
from governance.ledger.records import recorded_decision_create
from governance.ledger.verification import signing_document, verify_ledger
from governance.models import LedgerCheckpoint, LedgerEntry, Outcome
from governance.policy.rules import rule_create
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]
VERIFY = [
    sys.executable,
    "-m",
    "governance.ledger.verify",
    "ledger.jsonl",
    "--checkpoint",
    "checkpoints.json",
    # In the tests the package's own key is the published one an auditor would trust.
    "--trusted-keys-file",
    "signing-key.txt",
]
EVIDENCE_URL = "/api/v1/evidence"
CORE = {
    "manifest.json",
    "README.txt",
    "ledger.jsonl",
    "checkpoints.json",
    "signing-key.txt",
    "checkpoints-later.json",
    "verification.json",
    "rules.json",
    "grants.json",
    "decisions-summary.json",
    "recorded-decisions.json",
    "verifier/governance/__init__.py",
    "verifier/governance/ledger/__init__.py",
    "verifier/governance/ledger/verify.py",
    "verifier/governance/ledger/proofcheck.py",
    "verifier/locus_client/__init__.py",
    "verifier/locus_client/merkle.py",
    "verifier/locus_client/proofcheck.py",
    "verifier/locus_client/signatures.py",
    "tree-head.json",
}


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def as_json(files: dict[str, bytes], name: str):
    return json.loads(files[name])


def extract(data: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(into)
    return into


def run_verifier(directory: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        VERIFY, cwd=directory, env=environment, capture_output=True, text=True, timeout=60
    )


def period(days: int = 1) -> tuple[dt.datetime, dt.datetime]:
    """[days ago, now): it ends when it is asked for, after all the work the test did before."""
    until = timezone.now()
    return until - dt.timedelta(days=days), until


@pytest.fixture
def payments(privacy_officer):
    return make_dataset(
        privacy_officer, slug="payments", allowed_processing_regions=["aws:eu-central-1"]
    )


@pytest.fixture
def history(privacy_officer, auditor, payments):
    """A dataset, a grant, a recorded decision, a checkpoint, then two more entries."""
    now = timezone.now()
    grant_create(
        actor=privacy_officer,
        datasets=[payments],
        destination_regions=[Region.objects.get(code="aws:us-east-1")],
        mechanism="scc",
        valid_from=now - dt.timedelta(days=2),
        valid_until=now + dt.timedelta(days=30),
    )
    recorded_decision_create(
        actor=privacy_officer, title="Keep payments in the EU", context="c", decision="d"
    )
    checkpoint_create(actor=auditor)
    ledger_append(actor=None, kind="test.after-checkpoint", subjects=["dataset:payments"])
    ledger_append(actor=None, kind="test.last")


# --- the package -----------------------------------------------------------------------------------


def test_the_manifest_lists_every_file_with_its_sha256_and_size(history, settings):
    settings.EVIDENCE_SECTIONS = []  # the core files alone; other apps' sections are tested apart
    since, until = period()

    files = unzip(evidence.build_evidence(since, until))

    manifest = as_json(files, "manifest.json")
    assert set(files) == CORE
    listed = {item["name"]: item for item in manifest["files"]}
    assert set(listed) == CORE - {"manifest.json"}
    for name, item in listed.items():
        assert item["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert item["size"] == len(files[name]), name
    head = LedgerEntry.objects.order_by("-sequence").first()
    assert manifest["ledger_head"] == {"sequence": head.sequence, "hash": head.hash}
    assert manifest["period"] == {"from": since.isoformat(), "to": until.isoformat()}
    assert manifest["policy_version"].startswith("c")
    assert manifest["format"] == "locus-evidence/1" and manifest["generated_at"]
    assert (
        "python -m governance.ledger.verify ledger.jsonl --checkpoint checkpoints.json"
        in files["README.txt"].decode()
    )


def test_the_package_holds_the_ledger_and_a_verification_that_says_ok(history):
    files = unzip(evidence.build_evidence(*period()))

    header, *lines = files["ledger.jsonl"].decode().splitlines()
    verification = as_json(files, "verification.json")
    checkpoints = as_json(files, "checkpoints.json")
    assert [json.loads(line)["sequence"] for line in lines] == list(
        LedgerEntry.objects.order_by("sequence").values_list("sequence", flat=True)
    )
    assert json.loads(header)["genesis"] is True
    assert verification["offline"]["first_link"] == "genesis"
    assert verification["ok"] is True
    assert verification["offline"]["ok"] and verification["offline"]["chain_ok"]
    assert verification["offline"]["entries"] == len(lines)
    assert [cp["signature"] for cp in verification["offline"]["checkpoints"]] == [True]
    assert verification["offline"]["header_signed"] is True
    assert verification["database"]["ok"] and verification["database"]["entries"] == len(lines)
    assert [cp["algorithm"] for cp in checkpoints] == ["ed25519"]
    assert files["signing-key.txt"].decode().strip() == signing.public_key_b64()
    assert checkpoints[0] == signing_document(LedgerCheckpoint.objects.get())


def test_the_offline_verifier_passes_the_package_and_fails_it_when_a_line_is_tampered(
    history, tmp_path
):
    directory = extract(evidence.build_evidence(*period()), tmp_path)

    intact = run_verifier(directory)

    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert json.loads(intact.stdout)["ok"] is True
    ledger_file = directory / "ledger.jsonl"
    lines = ledger_file.read_text().splitlines(keepends=True)
    entry = json.loads(lines[2])  # the second entry, after the header
    entry["kind"] = "grant.revoked"
    lines[2] = json.dumps(entry) + "\n"
    ledger_file.write_text("".join(lines))
    tampered = run_verifier(directory)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    report = json.loads(tampered.stdout)
    assert report["first_broken_sequence"] == entry["sequence"]


def test_the_shipped_copy_of_the_verifier_runs_without_locus(history, tmp_path):
    directory = extract(evidence.build_evidence(*period()), tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(directory / "verifier")}

    result = subprocess.run(
        VERIFY, cwd=directory, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert (directory / "verifier/governance/ledger/verify.py").read_bytes() == (
        REPO_ROOT / "governance/ledger/verify.py"
    ).read_bytes()


def test_ed25519_checkpoints_are_verified_offline_by_their_signature(
    settings, privacy_officer, auditor, payments, tmp_path
):
    settings.LEDGER_SIGNING_KEY = base64.b64encode(os.urandom(32)).decode()
    ledger_append(actor=privacy_officer, kind="test.signed")
    checkpoint_create(actor=auditor)

    data = evidence.build_evidence(*period())

    files = unzip(data)
    (checkpoint,) = as_json(files, "checkpoints.json")
    assert checkpoint["algorithm"] == "ed25519" and checkpoint["public_key"]
    assert as_json(files, "verification.json")["offline"]["checkpoints"][0]["signature"] is True
    result = run_verifier(extract(data, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["checkpoints"][0]["signature"] is True


def test_the_period_selects_the_entries_and_later_checkpoints_do_not_break_the_slice(
    privacy_officer, auditor, payments, tmp_path
):
    ledger_append(actor=None, kind="test.before")
    time.sleep(0.002)
    since = timezone.now()
    inside = [ledger_append(actor=None, kind="test.inside") for _ in range(3)]
    checkpoint_create(actor=auditor)
    time.sleep(0.002)
    until = timezone.now()
    ledger_append(actor=None, kind="test.after")
    checkpoint_create(actor=auditor)

    data = evidence.build_evidence(since, until)

    files = unzip(data)
    header, *lines = files["ledger.jsonl"].decode().splitlines()
    sequences = [json.loads(line)["sequence"] for line in lines]
    assert sequences == [entry.sequence for entry in inside]
    assert json.loads(header)["from_sequence"] == inside[0].sequence
    assert [cp["sequence"] for cp in as_json(files, "checkpoints.json")] == [inside[-1].sequence]
    assert [cp["sequence"] for cp in as_json(files, "checkpoints-later.json")] == [
        LedgerEntry.objects.order_by("-sequence").first().sequence
    ]
    manifest = as_json(files, "manifest.json")
    assert manifest["ledger_export"] == {
        "entries": 3,
        "genesis": False,
        "first_sequence": inside[0].sequence,
        "last_sequence": inside[-1].sequence,
    }
    assert as_json(files, "verification.json")["ok"] is True
    result = run_verifier(extract(data, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_grants_rules_decisions_and_recorded_decisions_are_in_the_package(
    privacy_officer, engineer, payments
):
    rule = rule_create(
        actor=privacy_officer,
        name="no payments in London",
        effect="deny",
        dataset=payments,
        regions=[Region.objects.get(code="aws:eu-west-2")],
        countries=[],
    )
    now = timezone.now()
    grant = grant_create(
        actor=privacy_officer,
        datasets=[payments],
        destination_regions=[Region.objects.get(code="aws:us-east-1")],
        mechanism="scc",
        valid_from=now - dt.timedelta(days=3),
        valid_until=now + dt.timedelta(days=3),
    )
    ended = grant_create(
        actor=privacy_officer,
        datasets=[payments],
        destination_regions=[Region.objects.get(code="aws:us-east-1")],
        mechanism="scc",
        valid_from=now - dt.timedelta(days=30),
        valid_until=now - dt.timedelta(days=20),
    )
    locality_check(
        actor=engineer,
        checks=[
            Check("payments", "process", "aws:eu-central-1", "analytics"),
            Check("payments", "process", "aws:eu-west-2", "analytics"),
            Check("payments", "process", "aws:eu-west-2", "analytics"),
        ],
    )
    record = recorded_decision_create(
        actor=privacy_officer,
        title="T",
        context="c",
        decision="d",
        datasets=[payments],
        rules=[rule],
    )

    files = unzip(evidence.build_evidence(*period(days=1)))

    rules = as_json(files, "rules.json")
    assert [r["rule"] for r in rules["rules"]] == [f"rule:{rule.pk}"]
    assert rules["rules"][0]["snapshot"]["regions"] == ["aws:eu-west-2"]
    assert [c["action"] for c in rules["changes_in_period"]] == ["created"]
    grants = as_json(files, "grants.json")
    assert [g["id"] for g in grants["grants"]] == [grant.pk]  # the ended one is outside the period
    assert grants["in_force_at_end"] == [f"grant:{grant.pk}"]
    assert ended.pk not in [g["id"] for g in grants["grants"]]
    summary = as_json(files, "decisions-summary.json")
    assert summary["total"] == 3
    assert summary["by_outcome"] == {Outcome.ALLOW: 1, Outcome.ALLOW_WITH_GRANT: 0, Outcome.DENY: 2}
    assert summary["by_rule"][f"rule:{rule.pk}"] == {Outcome.DENY: 2}
    assert sum(sum(c.values()) for c in summary["by_country"].values()) == 3
    assert set(summary["by_country"]) == {"DE", "GB"}
    recorded = as_json(files, "recorded-decisions.json")["recorded_decisions"]
    assert [(r["id"], r["datasets"], r["rules"]) for r in recorded] == [
        (record.pk, ["payments"], [rule.pk])
    ]


def test_an_old_period_counts_no_decision_and_no_grant(privacy_officer, engineer, payments):
    locality_check(
        actor=engineer, checks=[Check("payments", "process", "aws:eu-central-1", "analytics")]
    )
    until = timezone.now() - dt.timedelta(days=100)

    files = unzip(evidence.build_evidence(until - dt.timedelta(days=30), until))

    assert as_json(files, "decisions-summary.json")["total"] == 0
    assert as_json(files, "grants.json")["grants"] == []
    (header,) = files["ledger.jsonl"].decode().splitlines()
    assert json.loads(header)["entries"] == 0
    assert as_json(files, "verification.json")["offline"]["ok"] is True


# --- contributed sections --------------------------------------------------------------------------


def exception_records(since, until) -> dict[str, bytes]:
    """A stand-in for the workflows app's section."""
    return {"exceptions/records.json": json.dumps({"from": since.isoformat()}).encode()}


def clashing_section(since, until) -> dict[str, bytes]:
    return {"ledger.jsonl": b"forged"}


def escaping_section(since, until) -> dict[str, bytes]:
    return {"../outside.txt": b"x"}


def test_sections_named_in_the_settings_join_the_package_and_its_manifest(settings, history):
    settings.EVIDENCE_SECTIONS = ["tests.governance.test_evidence.exception_records"]
    since, until = period()

    files = unzip(evidence.build_evidence(since, until))

    assert json.loads(files["exceptions/records.json"]) == {"from": since.isoformat()}
    listed = {item["name"]: item["sha256"] for item in as_json(files, "manifest.json")["files"]}
    assert (
        listed["exceptions/records.json"]
        == hashlib.sha256(files["exceptions/records.json"]).hexdigest()
    )


@pytest.mark.parametrize("section", ["clashing_section", "escaping_section"])
def test_a_section_may_not_replace_a_file_or_escape_the_package(settings, history, section):
    settings.EVIDENCE_SECTIONS = [f"tests.governance.test_evidence.{section}"]

    with pytest.raises(ImproperlyConfigured):
        evidence.build_evidence(*period())


# --- the API ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "privacy_officer"])
def test_auditors_and_privacy_officers_download_the_package_and_the_export_is_logged(
    api_client, request, role, history
):
    user = request.getfixturevalue(role)
    head_before = LedgerEntry.objects.order_by("-sequence").first()

    response = api_client(user).get(EVIDENCE_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="locus-evidence-')
    files = unzip(response.content)
    manifest = as_json(files, "manifest.json")
    since = dt.datetime.fromisoformat(manifest["period"]["from"])
    until = dt.datetime.fromisoformat(manifest["period"]["to"])
    assert until - since == dt.timedelta(days=30)
    entry = LedgerEntry.objects.order_by("-sequence").first()
    assert entry.sequence == head_before.sequence + 1
    assert entry.kind == "evidence.exported" and entry.actor_id == user.pk
    data = json.loads(bytes(entry.payload))["data"]
    assert data["manifest_sha256"] == hashlib.sha256(files["manifest.json"]).hexdigest()
    assert data["package_sha256"] == hashlib.sha256(response.content).hexdigest()
    assert (data["from"], data["to"]) == (manifest["period"]["from"], manifest["period"]["to"])
    assert data["via"] == "api"
    assert verify_ledger().ok


def test_the_api_takes_the_period_from_the_query(api_client, auditor, history):
    response = api_client(auditor).get(
        EVIDENCE_URL, {"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}
    )

    manifest = as_json(unzip(response.content), "manifest.json")
    assert manifest["period"] == {
        "from": "2020-01-01T00:00:00+00:00",
        "to": "2020-02-01T00:00:00+00:00",
    }
    assert manifest["ledger_export"]["entries"] == 0
    assert (
        'filename="locus-evidence-20200101T000000Z-20200201T000000Z.zip"'
        in response["Content-Disposition"]
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "last tuesday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_parameter(api_client, auditor, query, field):
    response = api_client(auditor).get(EVIDENCE_URL, query)

    assert response.status_code == 400
    assert field in response.json()
    assert not LedgerEntry.objects.filter(kind="evidence.exported").exists()


@pytest.mark.parametrize("role", ["executive", "data_owner", "engineer", "outsider"])
def test_other_roles_may_not_export_evidence(api_client, request, role):
    response = api_client(request.getfixturevalue(role)).get(EVIDENCE_URL)

    assert response.status_code == 403
    assert not LedgerEntry.objects.filter(kind="evidence.exported").exists()


def test_anonymous_callers_must_authenticate(api_client):
    assert api_client(None).get(EVIDENCE_URL).status_code == 401


def test_the_service_refuses_other_roles(executive):
    with pytest.raises(evidence.PermissionDenied):
        evidence.evidence_export(actor=executive, since=period()[0], until=period()[1])


# --- the page --------------------------------------------------------------------------------------


def test_an_auditor_downloads_the_package_from_the_evidence_page(client, auditor, history):
    client.force_login(auditor)
    page = client.get(reverse("governance:evidence"))
    assert page.status_code == 200 and 'name="since"' in page.content.decode()

    since, until = timezone.now() - dt.timedelta(days=7), timezone.now() + dt.timedelta(minutes=1)
    response = client.post(
        reverse("governance:evidence"),
        {"since": since.strftime("%Y-%m-%dT%H:%M"), "until": until.strftime("%Y-%m-%dT%H:%M")},
    )

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert as_json(unzip(response.content), "verification.json")["ok"] is True
    entry = LedgerEntry.objects.get(kind="evidence.exported")
    assert json.loads(bytes(entry.payload))["data"]["via"] == "page"
    assert (
        f"/governance/ledger/{entry.sequence}/"
        in client.get(reverse("governance:evidence")).content.decode()
    )


def test_the_evidence_page_refuses_a_period_that_ends_before_it_starts(client, auditor):
    client.force_login(auditor)

    response = client.post(
        reverse("governance:evidence"), {"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}
    )

    assert response.status_code == 400
    assert "The end must be after the start" in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="evidence.exported").exists()


@pytest.mark.parametrize("role", ["executive", "data_owner", "engineer", "outsider"])
def test_the_evidence_page_is_for_auditors_and_privacy_officers(client, request, role):
    client.force_login(request.getfixturevalue(role))

    assert client.get(reverse("governance:evidence")).status_code == 403
    assert client.post(reverse("governance:evidence"), {}).status_code == 403


def test_the_evidence_page_sends_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("governance:evidence"))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))
