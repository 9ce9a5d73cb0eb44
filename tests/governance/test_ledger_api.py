"""The ledger API: who reads the decision log, filters, verification, checkpoints and export;
and that no method changes an entry."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone

from governance.ledger import signing
from governance.ledger.chain import actor_names, canonical, ledger_append, person_pseudonym
from governance.models import LedgerCheckpoint, LedgerEntry

pytestmark = pytest.mark.django_db

ENTRIES = "/api/v1/ledger/entries/"
CHECKPOINTS = "/api/v1/ledger/checkpoints/"
VERIFY = "/api/v1/ledger/verify"
EXPORT = "/api/v1/ledger/export"
READERS = ["auditor", "executive", "privacy_officer"]
NON_READERS = ["data_owner", "engineer", "outsider"]
READ_URLS = [ENTRIES, f"{ENTRIES}1/", CHECKPOINTS, VERIFY, EXPORT]


@pytest.fixture
def chain(privacy_officer, auditor):
    """Five entries by different actors, about different things."""
    return [
        ledger_append(
            actor=privacy_officer,
            kind="rule.created",
            subjects=["rule:1", "dataset:eu-customers"],
            data={"rule": 1, "name": "Kein Export nach Übersee"},
        ),
        ledger_append(
            actor=privacy_officer,
            kind="grant.created",
            subjects=["grant:4", "dataset:eu-customers", "dataset:eu-clicks"],
            data={"grant": 4},
        ),
        ledger_append(actor=None, kind="grant.expired", subjects=["grant:4"], data={"grant": 4}),
        ledger_append(
            actor=auditor, kind="decision.recorded", subjects=["decision:9"], data={"v": 1}
        ),
        ledger_append(
            actor=privacy_officer,
            kind="rule.updated",
            subjects=["rule:1", "dataset:payments"],
            data={"rule": 1, "version": 2},
        ),
    ]


def sequences(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["sequence"] for item in response.json()["results"]]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- Who may read -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("url", READ_URLS)
def test_readers_may_read(request, api_client, chain, role, url):
    user = request.getfixturevalue(role)

    response = api_client(user).get(url)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("role", NON_READERS)
@pytest.mark.parametrize("url", READ_URLS)
def test_others_are_refused(request, api_client, chain, role, url):
    user = request.getfixturevalue(role)

    response = api_client(user).get(url)

    assert response.status_code == 403, response.content
    assert chain[0].hash.encode() not in body(response)


@pytest.mark.parametrize("url", [*READ_URLS, CHECKPOINTS])
def test_anonymous_callers_must_authenticate(api_client, chain, url):
    response = api_client().get(url)

    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_a_machine_token_of_an_auditor_reads(token_client, auditor, chain):
    response = token_client(auditor).get(ENTRIES)

    assert sequences(response) == [5, 4, 3, 2, 1]


# --- No door for changes ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "privacy_officer"])
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_entries_cannot_be_changed_or_removed(request, api_client, chain, role, method):
    client = api_client(request.getfixturevalue(role))
    before = list(LedgerEntry.objects.values())

    response = getattr(client, method)(
        f"{ENTRIES}2/", {"kind": "forged", "data": {}}, format="json"
    )

    assert response.status_code == 405, response.content
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    assert list(LedgerEntry.objects.values()) == before


def test_entries_cannot_be_posted(api_client, privacy_officer, chain):
    response = api_client(privacy_officer).post(
        ENTRIES, {"kind": "forged", "subjects": [], "data": {}}, format="json"
    )

    assert response.status_code == 405
    assert LedgerEntry.objects.count() == len(chain)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_checkpoints_cannot_be_changed_or_removed(api_client, auditor, chain, method):
    client = api_client(auditor)
    created = client.post(CHECKPOINTS)
    assert created.status_code == 201, created.content

    response = getattr(client, method)(
        f"{CHECKPOINTS}{created.json()['id']}/", {"hash": "0" * 64}, format="json"
    )

    assert response.status_code == 405
    assert LedgerCheckpoint.objects.get().hash == chain[-1].hash


# --- Reading entries ----------------------------------------------------------------------------


def test_an_entry_shows_its_data_and_the_exact_hashed_bytes(api_client, auditor, chain):
    response = api_client(auditor).get(f"{ENTRIES}1/")

    assert response.status_code == 200
    item = response.json()
    entry = chain[0]
    assert item["kind"] == "rule.created"
    assert item["subjects"] == ["dataset:eu-customers", "rule:1"]
    assert item["data"] == {"rule": 1, "name": "Kein Export nach Übersee"}
    payload = base64.b64decode(item["payload"])
    assert payload == bytes(entry.payload) == canonical(json.loads(payload))
    assert (item["prev_hash"], item["hash"]) == (entry.prev_hash, entry.hash)
    assert item["actor_name"] == entry.actor_name
    assert item["actor_display"] == actor_names([entry]).get(entry.actor_name, entry.actor_name)


def test_unknown_sequence_is_404(api_client, auditor, chain):
    assert api_client(auditor).get(f"{ENTRIES}99/").status_code == 404


def test_entries_list_newest_first_with_bounded_queries(
    api_client, auditor, chain, django_assert_max_num_queries
):
    for i in range(40):
        ledger_append(actor=None, kind="test.bulk", subjects=[f"run:{i}"], data={"i": i})
    client = api_client(auditor)
    client.get(ENTRIES)  # warm the permission cache of the session

    with django_assert_max_num_queries(5):
        response = client.get(ENTRIES)

    assert sequences(response)[:3] == [45, 44, 43]
    assert response.json()["count"] == 45


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "rule"}, [5, 1]),
        ({"kind": "grant.created"}, [2]),
        ({"actor": "system"}, [3]),
        ({"dataset": "eu-customers"}, [2, 1]),
        ({"dataset": "eu"}, []),  # a whole reference, not a prefix
        ({"subject": "grant:4"}, [3, 2]),
        ({"q": "payments"}, [5]),
        ({"q": "DECISION"}, [4]),
        ({"kind": "rule", "dataset": "payments"}, [5]),
    ],
)
def test_filters(api_client, auditor, chain, params, expected):
    response = api_client(auditor).get(ENTRIES, params)

    assert sequences(response) == expected


def test_filter_by_actor_name(api_client, auditor, privacy_officer, chain):
    fragment = privacy_officer.get_full_name().split()[-1].upper()

    response = api_client(auditor).get(ENTRIES, {"actor": fragment})

    assert set(sequences(response)) >= {1, 2, 5}
    assert 3 not in sequences(response)


def test_entries_name_their_actor_by_pseudonym_and_show_the_name_to_readers(
    api_client, auditor, privacy_officer, chain
):
    response = api_client(auditor).get(ENTRIES, {"actor": privacy_officer.username})

    items = response.json()["results"]
    assert items
    for item in items:
        assert item["actor_name"] == person_pseudonym(privacy_officer.pk)
        assert item["actor_display"] == privacy_officer.get_full_name()
        assert privacy_officer.get_full_name() not in base64.b64decode(item["payload"]).decode()
    by_pseudonym = api_client(auditor).get(ENTRIES, {"actor": items[0]["actor_name"]})
    assert sequences(by_pseudonym) == sequences(response)
    searched = api_client(auditor).get(ENTRIES, {"q": privacy_officer.last_name})
    assert set(sequences(response)) <= set(sequences(searched))


def test_filter_by_time(api_client, auditor, chain):
    client = api_client(auditor)
    third, fifth = chain[2].at.isoformat(), chain[4].at.isoformat()

    assert sequences(client.get(ENTRIES, {"since": third})) == [5, 4, 3]
    assert sequences(client.get(ENTRIES, {"until": third})) == [2, 1]
    assert sequences(client.get(ENTRIES, {"since": third, "until": fifth})) == [4, 3]


def test_a_malformed_time_filter_is_400(api_client, auditor, chain):
    response = api_client(auditor).get(ENTRIES, {"since": "yesterday"})

    assert response.status_code == 400
    assert "since" in response.json()


# --- Verification -------------------------------------------------------------------------------


def test_verify_reports_a_good_chain(api_client, executive, chain):
    response = api_client(executive).get(VERIFY)

    assert response.status_code == 200
    report = response.json()
    assert report["ok"] is True
    assert (report["entries"], report["head_hash"]) == (5, chain[-1].hash)
    assert report["first_broken_sequence"] is None


def test_verify_names_the_first_broken_entry(api_client, auditor, chain):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            f"UPDATE {LedgerEntry._meta.db_table} SET payload = %s WHERE sequence = 3",
            [b'{"forged":true}'],
        )
        if connection.vendor == "postgresql":
            cursor.execute("RESET session_replication_role")

    report = api_client(auditor).get(VERIFY).json()

    assert report["ok"] is False
    assert report["first_broken_sequence"] == 3
    assert "edited" in report["problem"]


# --- Checkpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["auditor", "privacy_officer"])
def test_auditors_and_privacy_officers_sign_checkpoints(request, api_client, chain, role):
    user = request.getfixturevalue(role)

    response = api_client(user).post(CHECKPOINTS)

    assert response.status_code == 201, response.content
    checkpoint = response.json()
    assert (checkpoint["sequence"], checkpoint["hash"]) == (5, chain[-1].hash)
    assert checkpoint["algorithm"] == "ed25519"
    assert checkpoint["created_by_name"] == person_pseudonym(user.pk)
    assert api_client(user).get(VERIFY).json()["checkpoints"][0]["ok"] is True


def test_posted_fields_cannot_choose_what_is_signed(api_client, auditor, chain):
    response = api_client(auditor).post(
        CHECKPOINTS, {"sequence": 2, "hash": "ab" * 32, "signature": "x"}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["sequence"], response.json()["hash"]) == (5, chain[-1].hash)


@pytest.mark.parametrize("role", ["executive", "data_owner", "engineer", "outsider"])
def test_other_roles_may_not_sign_checkpoints(request, api_client, chain, role):
    response = api_client(request.getfixturevalue(role)).post(CHECKPOINTS)

    assert response.status_code == 403
    assert not LedgerCheckpoint.objects.exists()


def test_anonymous_may_not_sign_checkpoints(api_client, chain):
    assert api_client().post(CHECKPOINTS).status_code == 401
    assert not LedgerCheckpoint.objects.exists()


def test_checkpoints_list_newest_first(api_client, auditor, chain):
    client = api_client(auditor)
    client.post(CHECKPOINTS)
    ledger_append(actor=None, kind="test.more", data={})
    client.post(CHECKPOINTS)

    response = client.get(CHECKPOINTS)

    assert [c["sequence"] for c in response.json()["results"]] == [6, 5]


# --- Export -------------------------------------------------------------------------------------


def test_export_streams_every_entry_as_json_lines(api_client, auditor, chain):
    response = api_client(auditor).get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert "locus-ledger.jsonl" in response["Content-Disposition"]
    header, *lines = [json.loads(line) for line in body(response).decode().splitlines()]
    assert header["locus_ledger_export"] == 2
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (True, 1, 5)
    assert (header["prev_hash"], header["to_hash"]) == ("0" * 64, chain[-1].hash)
    assert header["signature"]["public_key"] == signing.public_key_b64()
    assert (header["entries"], header["from"], header["to"]) == (5, None, None)
    assert [line["sequence"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["subjects"] == ["dataset:eu-customers", "rule:1"]
    assert base64.b64decode(lines[0]["payload"]) == bytes(chain[0].payload)
    assert lines[-1]["hash"] == chain[-1].hash


def test_export_a_time_slice(api_client, auditor, chain):
    params = {"from": chain[1].at.isoformat(), "to": chain[3].at.isoformat()}

    response = api_client(auditor).get(EXPORT, params)

    header, *lines = [json.loads(line) for line in body(response).decode().splitlines()]
    assert [line["sequence"] for line in lines] == [2, 3]
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (False, 2, 3)


def test_export_of_a_slice_that_starts_at_the_first_entry_is_from_genesis(
    api_client, auditor, chain
):
    response = api_client(auditor).get(EXPORT, {"to": chain[2].at.isoformat()})

    header, *lines = [json.loads(line) for line in body(response).decode().splitlines()]
    assert [line["sequence"] for line in lines] == [1, 2]
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (True, 1, 2)


def test_export_of_an_empty_period_says_where_it_would_start(api_client, auditor, chain):
    later = (chain[-1].at + dt.timedelta(seconds=1)).isoformat()

    response = api_client(auditor).get(EXPORT, {"from": later})

    (header,) = [json.loads(line) for line in body(response).decode().splitlines()]
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (False, 6, 5)
    assert header["entries"] == 0


def test_export_of_an_empty_ledger_is_its_header_alone(api_client, auditor):
    response = api_client(auditor).get(EXPORT)

    assert response.status_code == 200
    (header,) = [json.loads(line) for line in body(response).decode().splitlines()]
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (True, 1, 0)


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["last tuesday", "2026-13-01T00:00:00Z"])
def test_export_with_a_bad_time_is_400_naming_it(api_client, auditor, chain, name, value):
    response = api_client(auditor).get(EXPORT, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_export_accepts_a_plain_date_time_now(api_client, auditor, chain):
    response = api_client(auditor).get(EXPORT, {"to": timezone.now().isoformat()})

    assert response.status_code == 200
    assert len(body(response).splitlines()) == 1 + 5
