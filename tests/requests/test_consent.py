"""Consent records: a collecting system's batches (idempotent, all or nothing, a bad item named),
the current state, a withdrawal reaching the models trained on the data, and who may do what."""

# ruff: noqa: F811  (the fixtures imported from consent_setup are parameters of the tests)

from __future__ import annotations

import pytest

from governance.ledger.chain import pseudonym
from governance.models import LedgerEntry
from requests.models import ConsentEvent, MlPropagationDecision
from requests.subjects import ml
from tests.consent_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    app_usage,
    collector,
    event,
    fresh_policy_cache,
    newsletter,
    notice,
    training_run,
)

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/consents/events/"
CURRENT = "/api/v1/consents/current/"


def send(client, *events):
    return client.post(EVENTS, {"events": list(events)}, format="json")


def test_a_batch_is_recorded_under_a_pseudonym_and_a_replay_changes_nothing(
    token_client, collector, notice
):
    client = token_client(collector)
    batch = [event("evt-1"), event("evt-2", purpose="analytics")]

    first = send(client, *batch)
    again = send(client, *batch)

    assert first.status_code == 201, first.content
    assert first.json()["created"] == 2 and first.json()["replayed"] is False
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert [r["status"] for r in again.json()["results"]] == ["unchanged", "unchanged"]
    assert ConsentEvent.objects.count() == 2
    assert set(ConsentEvent.objects.values_list("subject_key", flat=True)) == {pseudonym(SUBJECT)}
    assert not ConsentEvent.objects.filter(subject_key__icontains="example.org").exists()
    assert LedgerEntry.objects.filter(kind="consent.recorded").count() == 1


def test_an_event_without_a_key_is_known_by_its_fields(token_client, collector, notice):
    client = token_client(collector)

    assert send(client, event(None)).status_code == 201
    assert send(client, event(None)).json()["replayed"] is True
    assert send(client, event(None, at="2026-11-02T10:00:00Z")).status_code == 201
    assert ConsentEvent.objects.count() == 2


def test_a_bad_item_is_a_400_naming_it_and_nothing_is_recorded(token_client, collector, notice):
    response = send(
        token_client(collector),
        event("evt-1"),
        event("evt-2", purpose="marketing"),
        event("evt-3", state="maybe"),
        event("evt-4", at="2099-01-01T00:00:00Z"),
        event("evt-5", at="2026-09-01T00:00:00Z"),
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "purpose"),
        (2, "state"),
        (3, "at"),
        (4, "at"),
    ]
    assert "before signup v3 was published" in errors[3]["message"]
    assert "does not cover purpose 'marketing'" in errors[0]["message"]
    assert ConsentEvent.objects.count() == 0


def test_a_key_reused_for_another_event_is_refused_whole(token_client, collector, notice):
    client = token_client(collector)
    send(client, event("evt-1"))

    response = send(client, event("evt-9"), event("evt-1", state="withdrawn"))

    assert response.status_code == 409
    assert "Item 1" in response.json()["key"][0]
    assert not ConsentEvent.objects.filter(key="evt-9").exists()


def test_an_event_for_the_notices_group_is_recorded_for_each_dataset(
    token_client, collector, notice, privacy_officer, api_client
):
    withdrawn = event("evt-2", state="withdrawn", at="2026-11-05T10:00:00Z")
    del withdrawn["dataset"]
    send(token_client(collector), event("evt-1"), withdrawn)

    current = api_client(privacy_officer).get(CURRENT, {"subject": SUBJECT}).json()["results"]

    assert {(c["dataset"], c["state"]) for c in current} == {
        ("newsletter", "withdrawn"),
        ("app-usage", "withdrawn"),
    }


def test_withdrawal_opens_a_model_decision_for_each_run_that_read_the_dataset(
    token_client, collector, notice, newsletter, app_usage, data_owner, other_owner
):
    training_run("churn-v3", [newsletter])
    training_run("reco-v1", [newsletter, app_usage])
    training_run("unrelated", [app_usage])
    client = token_client(collector)
    send(client, event("evt-1"))

    response = send(client, event("evt-2", state="withdrawn", at="2026-11-05T10:00:00Z"))

    assert response.json()["model_decisions_opened"] == 2
    decisions = {d.run_name: d for d in MlPropagationDecision.objects.all()}
    assert set(decisions) == {"churn-v3", "reco-v1"}
    assert decisions["reco-v1"].datasets == ["newsletter"]
    assert decisions["reco-v1"].request is None
    # The same decision step as erasure: the dataset's owner decides, a reason to accept.
    with pytest.raises(Exception, match="owner of the dataset"):
        ml.ml_decision_record(actor=other_owner, decision=decisions["churn-v3"], choice="retrain")
    with pytest.raises(Exception, match="needs a reason"):
        ml.ml_decision_record(actor=data_owner, decision=decisions["churn-v3"], choice="accept")
    decided = ml.ml_decision_record(
        actor=data_owner, decision=decisions["churn-v3"], choice="unlearn"
    )
    assert decided.decision == "unlearn" and decided.decided_by == data_owner
    assert LedgerEntry.objects.filter(kind="consent.ml_decision").count() == 1
    assert send(client, event("evt-2", state="withdrawn", at="2026-11-05T10:00:00Z")).json()[
        "replayed"
    ]
    assert MlPropagationDecision.objects.count() == 2


def test_withdrawal_from_a_dataset_held_on_another_basis_opens_no_decision(
    token_client, collector, notice, newsletter, privacy_officer
):
    from catalog.services import dataset_update

    dataset_update(actor=privacy_officer, dataset=newsletter, lawful_basis="contract")
    training_run("churn-v3", [newsletter])

    response = send(token_client(collector), event("evt-2", state="withdrawn"))

    assert response.status_code == 201
    assert response.json()["model_decisions_opened"] == 0


def test_owner_and_officer_see_the_withdrawals_decisions_an_outsider_does_not(
    token_client,
    collector,
    notice,
    newsletter,
    data_owner,
    other_owner,
    privacy_officer,
    api_client,
):
    training_run("churn-v3", [newsletter])
    send(token_client(collector), event("evt-2", state="withdrawn"))
    listed = "/api/v1/subject-ml-decisions/"

    mine = api_client(data_owner).get(listed).json()["results"]
    officer = api_client(privacy_officer).get(listed).json()["results"]
    colleague = api_client(other_owner).get(listed).json()["results"]

    assert [d["run_name"] for d in mine] == ["churn-v3"]
    assert mine[0]["consent_withdrawal"] is not None
    assert [d["run_name"] for d in officer] == ["churn-v3"]
    assert colleague == []


@pytest.mark.parametrize(
    "who, status", [("collector", 201), ("privacy_officer", 403), ("outsider", 403)]
)
def test_only_a_collecting_client_records_consent(who, status, token_client, request, notice):
    response = send(token_client(request.getfixturevalue(who)), event("evt-1"))

    assert response.status_code == status


def test_anonymous_recording_is_a_401(api_client, notice):
    assert send(api_client(), event("evt-1")).status_code == 401


@pytest.mark.parametrize(
    "who, status",
    [
        ("privacy_officer", 200),
        ("auditor", 200),
        ("data_owner", 403),
        ("outsider", 403),
        ("collector", 403),
    ],
)
def test_officers_and_auditors_read_consent(who, status, api_client, request, notice):
    response = api_client(request.getfixturevalue(who)).get(EVENTS, {"subject": SUBJECT})

    assert response.status_code == status


def test_the_current_state_is_the_latest_event_whatever_the_order_sent(
    token_client, collector, notice, privacy_officer, api_client
):
    client = token_client(collector)
    send(client, event("late", state="withdrawn", at="2026-11-05T10:00:00Z"))
    send(client, event("early", state="given", at="2026-11-01T10:00:00Z"))

    answer = api_client(privacy_officer).get(CURRENT, {"dataset": "newsletter"})

    (current,) = answer.json()["results"]
    assert (current["state"], current["given"]) == ("withdrawn", False)
    assert current["notice"] == "signup v3"


def test_reading_the_current_state_needs_a_subject_or_a_dataset(api_client, privacy_officer):
    response = api_client(privacy_officer).get(CURRENT)

    assert response.status_code == 400 and "subject" in response.json()


def test_the_event_list_query_count_is_flat(
    token_client, collector, notice, privacy_officer, api_client, django_assert_max_num_queries
):
    send(
        token_client(collector), *[event(f"evt-{n}", subject=f"s{n}@example.org") for n in range(8)]
    )
    client = api_client(privacy_officer)

    with django_assert_max_num_queries(6):
        response = client.get(EVENTS)

    assert response.json()["count"] == 8


def test_the_owner_decides_a_withdrawals_model_on_the_page_too(
    token_client, collector, notice, newsletter, data_owner, client
):
    training_run("churn-v3", [newsletter])
    send(token_client(collector), event("evt-2", state="withdrawn"))
    decision = MlPropagationDecision.objects.get()
    client.force_login(data_owner)

    response = client.post(
        f"/workflows/subjects/models/{decision.pk}/decide/", {"decision": "suppress"}
    )

    assert response.status_code == 302
    decision.refresh_from_db()
    assert decision.decision == "suppress"
