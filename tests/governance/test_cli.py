"""The pipeline client and the `locus` command, against a real Locus server process."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from governance.models import LocalityDecision, TrainingRun
from governance.roles import Role
from locus_client import LocusClient, LocusError, LocusUnavailable
from locus_client.cli import field_errors
from tests.factories import UserFactory, make_dataset
from tests.live import ROOT, free_port, shared_live_locus, shared_live_locus_process

# Imported for pytest, which finds the fixture by name in this module.
__all__ = ["shared_live_locus", "shared_live_locus_process"]

STORAGE_REGION = "aws:eu-west-1"  # Ireland, where the dataset lives
OTHER_CONTINENT = "aws:sa-east-1"  # São Paulo: no EU adequacy decision for Brazil
PURPOSE = "model-training"
DATASET = "customer-events"


@pytest.fixture
def live_locus(shared_live_locus) -> str:
    """One server for the module (each test still has a database of its own): the client and
    the command only make requests, so a fresh server per test would only cost its start."""
    return shared_live_locus


@pytest.fixture
def token(live_locus) -> str:
    """An engineer's API token, committed where the live server can read it."""
    engineer = UserFactory(username="eli-engineer", roles=[Role.ENGINEER])
    return Token.objects.create(user=engineer).key


@pytest.fixture
def dataset(live_locus):
    return make_dataset(slug=DATASET, storage_region=STORAGE_REGION, sensitivity="confidential")


@pytest.fixture
def locus_api(live_locus, token, dataset):
    """A LocusClient signed in as the engineer, with the dataset registered."""
    with LocusClient(live_locus, token, timeout=30) as api:
        yield api


def closed_port_url() -> str:
    """A loopback URL on which nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def locus(
    *args: str, url: str, token: str = "unused", cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the command as a pipeline would: its own process, configured by the environment."""
    env = {
        **os.environ,
        "LOCUS_URL": url,
        "LOCUS_TOKEN": token,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "locus_client", *args],
        cwd=cwd,  # outside the project root: the command must not depend on it
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def check_args(region: str, dataset: str = DATASET, *extra: str) -> list[str]:
    return ["check", "--dataset", dataset, "--region", region, "--purpose", PURPOSE, *extra]


def write_run(tmp_path: Path, compute_regions: list[str], datasets=None) -> str:
    path = tmp_path / "run.json"
    run = {
        "name": "churn-model nightly",
        "purpose": PURPOSE,
        "compute_regions": compute_regions,
        "datasets": datasets or [{"dataset": DATASET, "version": "2026-01-01"}],
        "mode": "centralized",
        "justification": "Nightly retraining of the churn model",
    }
    path.write_text(json.dumps(run))
    return str(path)


# --- locus check ----------------------------------------------------------------------------


@pytest.mark.live
def test_check_in_the_storage_region_is_allowed(live_locus, token, dataset, tmp_path):
    result = locus(*check_args(STORAGE_REGION), url=live_locus, token=token, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    decision = LocalityDecision.objects.get()
    assert decision.outcome == "allow"
    assert decision.dataset_slug == DATASET
    assert decision.region_code == STORAGE_REGION
    assert decision.actor_name  # recorded against the engineer who asked
    assert decision.outcome.upper() in result.stdout
    assert f"decision: #{decision.pk}" in result.stdout
    assert f"rule:     {decision.rule}" in result.stdout
    assert f"reason:   {decision.reason}" in result.stdout


@pytest.mark.live
def test_check_flags_override_the_environment(live_locus, token, dataset, tmp_path):
    result = locus(
        "--url",
        live_locus,
        *check_args(STORAGE_REGION, DATASET, "--token", token),
        url=closed_port_url(),
        token="not-a-token",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.live
def test_check_on_another_continent_is_denied(live_locus, token, dataset, tmp_path):
    result = locus(*check_args(OTHER_CONTINENT), url=live_locus, token=token, cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    decision = LocalityDecision.objects.get()
    assert decision.outcome == "deny"
    assert decision.region_code == OTHER_CONTINENT
    assert result.stdout.startswith("DENY: train customer-events in aws:sa-east-1")
    assert f"decision: #{decision.pk}" in result.stdout


@pytest.mark.live
def test_check_json_prints_the_raw_answer(live_locus, token, dataset, tmp_path):
    at = "2026-03-01T12:00:00Z"
    result = locus(
        *check_args(OTHER_CONTINENT, DATASET, "--at", at, "--json"),
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )

    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    decision = LocalityDecision.objects.get()
    assert body["decision_id"] == decision.pk
    assert body["outcome"] == "deny"
    assert body["rule"] == decision.rule
    assert body["at"].startswith("2026-03-01T12:00:00")


@pytest.mark.live
def test_check_bad_input_exits_2_naming_the_field(live_locus, token, dataset, tmp_path):
    unknown_region = locus(
        *check_args("aws:mars-north-1"), url=live_locus, token=token, cwd=tmp_path
    )
    unknown_dataset = locus(
        *check_args(STORAGE_REGION, "no-such-dataset"), url=live_locus, token=token, cwd=tmp_path
    )
    bad_time = locus(
        *check_args(STORAGE_REGION, DATASET, "--at", "yesterday"),
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )
    wrong_token = locus(*check_args(STORAGE_REGION), url=live_locus, token="nope", cwd=tmp_path)

    assert unknown_region.returncode == 2, unknown_region.stdout
    assert "(400)" in unknown_region.stderr
    assert "  region: " in unknown_region.stderr
    assert unknown_dataset.returncode == 2
    assert "  dataset: " in unknown_dataset.stderr
    assert bad_time.returncode == 2
    assert "  at: " in bad_time.stderr
    assert wrong_token.returncode == 2
    assert "Invalid token." in wrong_token.stderr  # 401 or 403: DRF's first authenticator decides
    assert unknown_region.stdout == unknown_dataset.stdout == bad_time.stdout == ""
    assert not LocalityDecision.objects.exists()


def test_check_exits_3_when_nothing_listens(tmp_path):
    url = closed_port_url()
    result = locus(*check_args(STORAGE_REGION), url=url, cwd=tmp_path)

    assert result.returncode == 3
    assert f"Cannot reach Locus at {url}" in result.stderr
    assert result.stdout == ""


class FailingLocus(BaseHTTPRequestHandler):
    """Answers every POST like a Locus whose database is down (come back at once)."""

    def do_POST(self):
        body = json.dumps({"detail": "The database is unavailable; try again shortly."}).encode()
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class SilentLocus(FailingLocus):
    """Accepts the connection and never answers: it waits until the test is over."""

    test_over: threading.Event

    def do_POST(self):
        self.test_over.wait()


def serve(handler: type[BaseHTTPRequestHandler]):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def failing_server():
    server = serve(FailingLocus)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def slow_server():
    test_over = threading.Event()
    server = serve(type("SilentLocus", (SilentLocus,), {"test_over": test_over}))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    test_over.set()
    server.shutdown()
    server.server_close()


def test_check_exits_3_when_locus_answers_5xx(failing_server, tmp_path):
    result = locus(*check_args(STORAGE_REGION), url=failing_server, cwd=tmp_path)

    assert result.returncode == 3
    assert "(503)" in result.stderr
    assert "database is unavailable" in result.stderr


def test_check_without_a_token_exits_2(tmp_path):
    result = locus(*check_args(STORAGE_REGION), url=closed_port_url(), token="", cwd=tmp_path)

    assert result.returncode == 2
    assert "LOCUS_TOKEN" in result.stderr


# --- locus register-run ---------------------------------------------------------------------


@pytest.mark.live
def test_register_run_allowed(live_locus, token, dataset, tmp_path):
    run_file = write_run(tmp_path, [STORAGE_REGION])

    result = locus("register-run", run_file, url=live_locus, token=token, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    run = TrainingRun.objects.get()
    assert run.verdict == "allow"
    assert run.name == "churn-model nightly"
    assert result.stdout.startswith(f"run #{run.pk} 'churn-model nightly': verdict ALLOW")
    (decision,) = LocalityDecision.objects.filter(training_run=run)
    assert f"decision: #{decision.pk}" in result.stdout


@pytest.mark.live
def test_register_run_denied_prints_every_decision(live_locus, token, dataset, tmp_path):
    run_file = write_run(tmp_path, [STORAGE_REGION, OTHER_CONTINENT])

    result = locus("register-run", run_file, url=live_locus, token=token, cwd=tmp_path)
    as_json = locus("register-run", "--json", run_file, url=live_locus, token=token, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    first, second = TrainingRun.objects.order_by("pk")
    assert first.verdict == second.verdict == "deny"
    assert f"run #{first.pk} 'churn-model nightly': verdict DENY" in result.stdout
    for decision in LocalityDecision.objects.filter(training_run=first):
        assert f"decision: #{decision.pk}" in result.stdout
    assert f"in {STORAGE_REGION} for {PURPOSE}" in result.stdout
    assert f"DENY: train {DATASET} in {OTHER_CONTINENT}" in result.stdout

    assert as_json.returncode == 1, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["id"] == second.pk
    assert body["verdict"] == "deny"
    assert {d["region"]: d["outcome"] for d in body["decisions"]}[OTHER_CONTINENT] == "deny"


@pytest.mark.live
def test_register_run_bad_input_exits_2(live_locus, token, dataset, tmp_path):
    run_file = write_run(tmp_path, ["aws:mars-north-1"], [{"dataset": "no-such-dataset"}])

    result = locus("register-run", run_file, url=live_locus, token=token, cwd=tmp_path)

    assert result.returncode == 2
    assert "  compute_regions: " in result.stderr
    assert "  datasets[0].dataset: " in result.stderr
    assert not TrainingRun.objects.exists()


def test_register_run_unreadable_file_exits_2(tmp_path):
    missing = locus(
        "register-run", str(tmp_path / "missing.json"), url=closed_port_url(), cwd=tmp_path
    )
    (tmp_path / "broken.json").write_text("{not json")
    broken = locus("register-run", "broken.json", url=closed_port_url(), cwd=tmp_path)

    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert broken.returncode == 2
    assert "not valid JSON" in broken.stderr


def test_register_run_exits_3_when_nothing_listens(tmp_path):
    run_file = write_run(tmp_path, [STORAGE_REGION])

    result = locus("register-run", run_file, url=closed_port_url(), cwd=tmp_path)

    assert result.returncode == 3


# --- LocusClient ----------------------------------------------------------------------------


@pytest.mark.live
def test_client_check(locus_api):
    allowed = locus_api.check(DATASET, STORAGE_REGION, PURPOSE)
    denied = locus_api.check(
        DATASET, OTHER_CONTINENT, PURPOSE, action="train", at="2026-03-01T12:00:00Z"
    )

    assert allowed["outcome"] == "allow"
    assert denied["outcome"] == "deny"
    recorded = dict(LocalityDecision.objects.values_list("pk", "outcome"))
    assert recorded == {allowed["decision_id"]: "allow", denied["decision_id"]: "deny"}


@pytest.mark.live
def test_client_check_many_answers_in_order(locus_api):
    answer = locus_api.check_many(
        [
            {"dataset": DATASET, "action": "train", "region": STORAGE_REGION, "purpose": PURPOSE},
            {"dataset": DATASET, "action": "train", "region": OTHER_CONTINENT, "purpose": PURPOSE},
            {
                "dataset": DATASET,
                "action": "train",
                "region": "aws:mars-north-1",
                "purpose": PURPOSE,
            },
        ]
    )

    assert answer["count"] == 3
    assert answer["denied"] == 1
    assert answer["errors"] == 1
    first, second, third = answer["results"]
    assert (first["index"], first["outcome"]) == (0, "allow")
    assert (second["index"], second["outcome"]) == (1, "deny")
    assert third["index"] == 2
    assert "region" in third["errors"]
    assert LocalityDecision.objects.count() == 2


@pytest.mark.live
def test_client_register_run_and_report_reads(locus_api):
    run = locus_api.register_run(
        {
            "name": "fraud-model",
            "purpose": PURPOSE,
            "compute_regions": [STORAGE_REGION],
            "datasets": [{"dataset": DATASET, "version": "v3"}],
        }
    )
    reads = locus_api.report_reads(
        run["id"],
        [
            {"dataset": DATASET, "region": STORAGE_REGION},
            {"dataset": DATASET, "region": OTHER_CONTINENT, "action": "train"},
        ],
    )

    assert run["verdict"] == "allow"
    assert run["inputs"] == [{"dataset": DATASET, "version": "v3"}]
    assert [d["outcome"] for d in run["decisions"]] == ["allow"]
    assert [r["outcome"] for r in reads["results"]] == ["allow", "deny"]
    assert LocalityDecision.objects.filter(training_run_id=run["id"]).count() == 3


@pytest.mark.live
def test_client_raises_locus_error_with_the_servers_detail(locus_api, live_locus):
    with pytest.raises(LocusError) as bad_input:
        locus_api.check(DATASET, "aws:mars-north-1", PURPOSE)
    with pytest.raises(LocusError) as missing_run:
        locus_api.report_reads(999_999, [{"dataset": DATASET, "region": STORAGE_REGION}])
    with LocusClient(live_locus, "not-a-token") as stranger, pytest.raises(LocusError) as refused:
        stranger.check(DATASET, STORAGE_REGION, PURPOSE)

    assert type(bad_input.value) is LocusError
    assert bad_input.value.status == 400
    assert "region" in bad_input.value.detail
    assert missing_run.value.status == 404
    assert refused.value.status in (401, 403)
    assert refused.value.detail == {"detail": "Invalid token."}
    assert "Invalid token." in str(refused.value)


def test_client_raises_unavailable_when_nothing_listens():
    url = closed_port_url()
    with LocusClient(url, "token") as client, pytest.raises(LocusUnavailable) as unavailable:
        client.check(DATASET, STORAGE_REGION, PURPOSE)

    assert unavailable.value.status is None
    assert url in str(unavailable.value)


def test_client_raises_unavailable_on_5xx(failing_server):
    waits: list[float] = []
    with (
        LocusClient(failing_server, "token", sleep=waits.append) as client,
        pytest.raises(LocusUnavailable) as failed,
    ):
        client.register_run({"name": "x"})

    assert waits == [0, 0, 0]  # asked again three times, as Retry-After: 0 says
    assert failed.value.status == 503
    assert failed.value.detail == {"detail": "The database is unavailable; try again shortly."}
    assert isinstance(failed.value, LocusError)  # one except clause catches every failure


def test_client_raises_unavailable_on_timeout(slow_server):
    with (
        LocusClient(slow_server, "token", timeout=0.2) as client,
        pytest.raises(LocusUnavailable) as slow,
    ):
        client.check(DATASET, STORAGE_REGION, PURPOSE)

    assert "did not answer in time" in str(slow.value)


def test_client_refuses_a_url_without_a_scheme():
    with pytest.raises(ValueError, match="http"):
        LocusClient("locus.example.com", "token")


def test_field_errors_read_like_paths():
    detail = {
        "compute_regions": ["Object with code=x does not exist."],
        "datasets": {"1": {"dataset": ["Unknown."]}},
        "checks": [{}, {"region": ["Unknown region."]}],
        "non_field_errors": ["Name at least one dataset"],
    }

    assert field_errors(detail) == [
        "compute_regions: Object with code=x does not exist.",
        "datasets[1].dataset: Unknown.",
        "checks[1].region: Unknown region.",
        "Name at least one dataset",
    ]


# --- Retries, rate limits and redirects, against a scripted server --------------------------


class ScriptedLocus(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, headers) of its script (the last one repeats)
    and keeps the headers of every request it was sent."""

    script: list[tuple[int, dict[str, str]]]
    seen: list[dict[str, str]]

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(dict(self.headers))
        status, headers = self.script[min(len(self.seen), len(self.script)) - 1]
        ok = {"outcome": "allow", "reasons": [], "id": 7, "verdict": "allow", "decisions": []}
        body = json.dumps(ok if status < 300 else {"detail": "Slow down."}).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    """scripted(*answers) -> (url, requests seen): a server answering with the script."""
    servers = []

    def start(*script: tuple[int, dict[str, str]]):
        seen: list[dict[str, str]] = []
        handler = type("Scripted", (ScriptedLocus,), {"script": list(script), "seen": seen})
        servers.append(serve(handler))
        return f"http://127.0.0.1:{servers[-1].server_address[1]}", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_client_waits_as_retry_after_says_then_succeeds(scripted):
    url, seen = scripted((429, {"Retry-After": "7"}), (503, {}), (200, {}))
    waits: list[float] = []

    with LocusClient(url, "token", sleep=waits.append) as client:
        answer = client.check(DATASET, STORAGE_REGION, PURPOSE)

    assert answer["outcome"] == "allow"
    assert waits == [7.0, 1.0]  # the server's wait, then the backoff's second step
    assert len(seen) == 3


def test_client_reads_retry_after_as_an_http_date(scripted):
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), True)
    url, _ = scripted((429, {"Retry-After": later}), (200, {}))
    waits: list[float] = []

    with LocusClient(url, "token", sleep=waits.append) as client:
        client.check(DATASET, STORAGE_REGION, PURPOSE)

    assert len(waits) == 1 and 0 < waits[0] <= 20


def test_client_does_not_wait_longer_than_it_may(scripted):
    url, seen = scripted((429, {"Retry-After": "3600"}))
    waits: list[float] = []

    with (
        LocusClient(url, "token", sleep=waits.append, max_wait=30) as client,
        pytest.raises(LocusUnavailable, match="retry after 3600 s") as refused,
    ):
        client.check(DATASET, STORAGE_REGION, PURPOSE)

    assert waits == [] and len(seen) == 1 and refused.value.status == 429


def test_a_registration_keeps_its_idempotency_key_across_retries(scripted):
    url, seen = scripted((503, {"Retry-After": "0"}), (200, {}))

    with LocusClient(url, "token", sleep=lambda _: None) as client:
        client.register_run({"name": "x"})
        client.register_run({"name": "y"})

    keys = [headers["Idempotency-Key"] for headers in seen]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]


def test_check_retries_a_rate_limit_then_answers(scripted, tmp_path):
    url, seen = scripted((429, {"Retry-After": "0"}), (200, {}))

    result = locus(*check_args(STORAGE_REGION), url=url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(seen) == 2


def test_check_exits_3_while_locus_keeps_rate_limiting(scripted, tmp_path):
    url, seen = scripted((429, {"Retry-After": "0"}))

    result = locus(*check_args(STORAGE_REGION), "--retries", "1", url=url, cwd=tmp_path)

    assert result.returncode == 3
    assert "rate limiting (429)" in result.stderr and "Slow down." in result.stderr
    assert len(seen) == 2


@pytest.mark.parametrize("status", [301, 302])
def test_check_exits_2_on_a_redirect_saying_where_to(scripted, tmp_path, status):
    url, seen = scripted((status, {"Location": "https://locus.example/api/v1/locality/check"}))

    result = locus(*check_args(STORAGE_REGION), url=url, cwd=tmp_path)

    assert result.returncode == 2
    assert f"redirect ({status}) to https://locus.example/api/v1/locality/check" in result.stderr
    assert len(seen) == 1  # not followed: a POST must not be re-sent somewhere else


@pytest.mark.live
def test_check_declares_techniques_and_a_bad_one_exits_2(live_locus, token, dataset, tmp_path):
    dp = "differential_privacy:epsilon=2,delta=0.00001"
    declared = locus(
        *check_args(STORAGE_REGION, DATASET, "--technique", "federated", "--technique", dp),
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )
    bad = locus(
        *check_args(
            STORAGE_REGION, DATASET, "--technique", "differential_privacy:epsilon=0,delta=0"
        ),
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )

    assert declared.returncode == 0, declared.stderr
    assert LocalityDecision.objects.get().techniques == [
        {"technique": "differential_privacy", "epsilon": 2.0, "delta": 0.00001},
        {"technique": "federated"},
    ]
    assert bad.returncode == 2
    assert "techniques[0].epsilon" in bad.stderr


# --- Receipts: locus check/register-run --receipt-out, locus receipt verify -----------------


def _public_key() -> str:
    from governance.ledger import signing

    return signing.public_key_b64()


@pytest.mark.live
def test_a_saved_receipt_is_verified_against_the_log(live_locus, token, dataset, tmp_path):
    from governance.ledger.tree import ledger_sequence_all

    saved = locus(
        *check_args(STORAGE_REGION, DATASET, "--receipt-out", "receipt.json"),
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )
    assert saved.returncode == 0, saved.stderr
    receipt = json.loads((tmp_path / "receipt.json").read_text())
    assert f"receipt:  {receipt['leaf_hash']}" in saved.stdout
    verify = ("receipt", "verify", "receipt.json", "--trusted-key", _public_key())

    waiting = locus(*verify, url=live_locus, token=token, cwd=tmp_path)
    assert waiting.returncode == 1 and "NOT YET IN THE LOG" in waiting.stdout

    ledger_sequence_all()  # what beat does within the merge delay
    fetched = locus(*verify, "--proof-out", "proof.json", url=live_locus, token=token, cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert fetched.stdout.startswith(f"VALID: leaf {receipt['leaf_hash'][:16]}")

    # Offline, later: the saved proof, no server (nothing listens at this URL).
    offline = locus(*verify, "--proof", "proof.json", url=closed_port_url(), cwd=tmp_path)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    (tmp_path / "receipt.json").write_text(json.dumps({**receipt, "at": "2020-01-01T00:00:00Z"}))
    forged = locus(*verify, "--proof", "proof.json", url=closed_port_url(), cwd=tmp_path)
    assert forged.returncode == 1 and "the receipt:" in forged.stdout


@pytest.mark.live
def test_register_run_saves_the_receipt_of_its_decisions(live_locus, token, dataset, tmp_path):
    run_file = write_run(tmp_path, [STORAGE_REGION, OTHER_CONTINENT])

    result = locus(
        "register-run",
        run_file,
        "--receipt-out",
        "run-receipt.json",
        url=live_locus,
        token=token,
        cwd=tmp_path,
    )

    assert result.returncode == 1, result.stderr
    receipt = json.loads((tmp_path / "run-receipt.json").read_text())
    assert set(receipt) >= {"leaf_hash", "at", "merge_delay", "signature", "public_key"}
    assert result.stdout.count(f"receipt:  {receipt['leaf_hash']}") == 2  # one entry, two pairs


def test_receipt_verify_refuses_a_file_without_a_receipt(tmp_path):
    (tmp_path / "not-a-receipt.json").write_text("[]")
    result = locus(
        "receipt",
        "verify",
        "not-a-receipt.json",
        "--proof",
        "not-a-receipt.json",
        "--trusted-key",
        "a2V5",
        url=closed_port_url(),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "holds no receipt" in result.stdout
