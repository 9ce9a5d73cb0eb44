"""The decision log: hash-chain properties, tampering of every kind, checkpoints, the doors that
must stay shut (ORM, admin, SQL), ledgering inside the caller's transaction, pseudonyms, and the
management commands and task around it.

Tampering is done the way an attacker with database access would: raw SQL, with PostgreSQL's
triggers switched off for that session (`session_replication_role = replica`, which the test
database's superuser may set).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog.models import Region
from governance import tasks
from governance.checks.services import Check, locality_check
from governance.grants.services import grant_create, grant_revoke
from governance.ledger import signing
from governance.ledger.chain import (
    canonical,
    chain_hash,
    ledger_append,
    person_pseudonym,
    pseudonym,
)
from governance.ledger.export import checkpoint_create, export_lines
from governance.ledger.records import recorded_decision_create, recorded_decision_update
from governance.ledger.tree import ledger_sequence_all
from governance.ledger.verification import (
    VerifyReport,
    head_row,
    ledger_rows,
    signing_document,
    streamed_rows,
    verify_head,
    verify_ledger,
    verify_rows,
)
from governance.ledger.verify import checkpoint_message, ed25519_verify
from governance.ledger.verify import verify_export as offline_verify_export
from governance.models import LedgerCheckpoint, LedgerEntry, LedgerHead, LocalityRule, Purpose
from governance.models.ledger import GENESIS_HASH
from governance.policy.rules import rule_create, rule_delete, rule_update
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db

ON_SQLITE = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
postgres_only = pytest.mark.skipif(ON_SQLITE, reason="the trigger exists on PostgreSQL only")
TABLE = LedgerEntry._meta.db_table
HEAD_TABLE = LedgerHead._meta.db_table
CHECKPOINT_TABLE = LedgerCheckpoint._meta.db_table
FAR = 1_000_000_000  # a sequence no test chain reaches: room to move rows without collisions


def verify_export(lines, checkpoints, *args, **kwargs) -> dict:
    """The offline verifier, trusting the key Locus signs with (as its published key)."""
    kwargs.setdefault("trusted_keys", signing.trusted_public_keys())
    return offline_verify_export(lines, checkpoints, *args, **kwargs)


# --- Appending and raw SQL ---------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """As much of a user as ledger_append reads: a key and a display name."""

    pk: int
    name: str

    def get_full_name(self) -> str:
        return self.name

    def get_username(self) -> str:
        return f"user{self.pk}"


def append(n: int = 5, **overrides) -> list[LedgerEntry]:
    return [
        ledger_append(
            actor=overrides.get("actor"),
            kind=overrides.get("kind", f"test.event.{i}"),
            subjects=overrides.get("subjects", [f"dataset:ds-{i}"]),
            data=overrides.get("data", {"i": i, "note": "naïve café ✓"}),
        )
        for i in range(1, n + 1)
    ]


@contextmanager
def raw_sql():
    """A cursor for the SQL the trigger refuses: on PostgreSQL, replica mode switches the
    session's triggers off (the test user is a superuser) until it is reset."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("RESET session_replication_role")


@contextmanager
def rolled_back():
    """One hypothesis example: everything it writes is undone, so the next starts at genesis."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def entry_hash(sequence: int) -> str:
    return LedgerEntry.objects.get(sequence=sequence).hash


def stored_payload(sequence: int) -> bytes:
    return bytes(LedgerEntry.objects.get(sequence=sequence).payload)


def rewrite_chain(change_at: int, *, move_head: bool = True) -> None:
    """Rewrite every entry consistently, with one payload changed: every link still holds.

    A careful attacker moves the head row to the new last hash too (`move_head`)."""
    rows = list(LedgerEntry.objects.order_by("sequence").values("sequence", "payload"))
    prev_hash = GENESIS_HASH
    with raw_sql() as cursor:
        for row in rows:
            payload = bytes(row["payload"])
            if row["sequence"] == change_at:
                document = json.loads(payload)
                document["data"] = {"rewritten": True}
                payload = canonical(document)
            new_hash = chain_hash(prev_hash, payload)
            cursor.execute(
                f"UPDATE {TABLE} SET payload = %s, prev_hash = %s, hash = %s WHERE sequence = %s",
                [payload, prev_hash, new_hash, row["sequence"]],
            )
            prev_hash = new_hash
        if move_head:
            cursor.execute(f"UPDATE {HEAD_TABLE} SET hash = %s WHERE id = 1", [prev_hash])


# --- Hypothesis: generated chains ----------------------------------------------------------------

# No NUL (PostgreSQL text refuses it) and no lone surrogates (not encodable as UTF-8).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24)
NAME = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
# A reference never contains whitespace: subjects are stored space-separated.
REFERENCE = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Z")), min_size=1, max_size=16
).filter(lambda text: not any(c.isspace() for c in text))
SUBJECT = st.builds(
    "{}:{}".format,
    st.sampled_from(["dataset", "rule", "grant", "run", "decision", "exception", "subject"]),
    REFERENCE,
)
KIND = st.one_of(
    st.sampled_from(["rule.created", "grant.revoked", "catalog.dataset.updated"]),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60),
)
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
EVENT = st.fixed_dictionaries(
    {
        "actor": st.none() | st.builds(Actor, pk=st.integers(1, 2**62), name=NAME),
        "kind": KIND,
        "subjects": st.lists(SUBJECT, max_size=4),
        "data": st.dictionaries(TEXT, JSON_VALUE, max_size=4),
    }
)
EVENTS = st.lists(EVENT, min_size=2, max_size=7)

PROPERTY = hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example rolls itself back
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def append_events(events: list[dict]) -> list[LedgerEntry]:
    assert not LedgerEntry.objects.exists(), "each example starts at genesis"
    return [ledger_append(**event) for event in events]


@PROPERTY
@given(events=EVENTS)
def test_untampered_chains_always_verify(events):
    with rolled_back():
        entries = append_events(events)

        report = verify_ledger()

        assert report.ok, report.problem
        assert (report.entries, report.head_sequence) == (len(events), len(events))
        assert report.head_hash == entries[-1].hash
        prev_hash = GENESIS_HASH
        for sequence, (event, entry) in enumerate(zip(events, entries, strict=True), start=1):
            document = json.loads(bytes(entry.payload))
            assert bytes(entry.payload) == canonical(document)
            assert document["sequence"] == entry.sequence == sequence
            assert document["kind"] == entry.kind == event["kind"]
            assert document["subjects"] == entry.subject_list == sorted(set(event["subjects"]))
            assert document["data"] == event["data"]
            assert entry.prev_hash == prev_hash
            assert (
                entry.hash == hashlib.sha256(bytes.fromhex(prev_hash) + entry.payload).hexdigest()
            )
            prev_hash = entry.hash
        offline = verify_export(list(export_lines()), [])
        assert offline["ok"], offline["problem"]
        assert offline["head_hash"] == report.head_hash


# Each tampering edits the database with raw SQL and returns the sequence that verification
# must name as the first broken one, and whether an export carries the change (an export takes
# `at` from the hashed payload, so an edited `at` column never reaches it).


def edit_payload(cursor, n: int, draw) -> tuple[int, bool]:
    k = draw(st.integers(1, n), label="edited entry")
    document = json.loads(stored_payload(k))
    document["data"] = {"tampered": document["data"]}
    cursor.execute(f"UPDATE {TABLE} SET payload = %s WHERE sequence = %s", [canonical(document), k])
    return k, True


COLUMN_EDITS = {
    "kind": (f"UPDATE {TABLE} SET kind = kind || '.forged' WHERE sequence = %s", []),
    "actor_name": (f"UPDATE {TABLE} SET actor_name = actor_name || 'x' WHERE sequence = %s", []),
    "actor_id": (
        f"UPDATE {TABLE} SET actor_id = COALESCE(actor_id, 0) + 1 WHERE sequence = %s",
        [],
    ),
    "subjects": (f"UPDATE {TABLE} SET subjects = subjects || ' forged:1 ' WHERE sequence = %s", []),
    "prev_hash": (f"UPDATE {TABLE} SET prev_hash = %s WHERE sequence = %s", ["f" * 64]),
    "hash": (f"UPDATE {TABLE} SET hash = %s WHERE sequence = %s", ["e" * 64]),
}


def edit_column(cursor, n: int, draw) -> tuple[int, bool]:
    k = draw(st.integers(1, n), label="edited entry")
    column = draw(st.sampled_from([*COLUMN_EDITS, "at"]), label="column")
    if column == "at":
        later = LedgerEntry.objects.get(sequence=k).at + dt.timedelta(seconds=1)
        cursor.execute(
            f"UPDATE {TABLE} SET at = %s WHERE sequence = %s",
            [connection.ops.adapt_datetimefield_value(later), k],
        )
    else:
        sql, params = COLUMN_EDITS[column]
        cursor.execute(sql, [*params, k])
    return k, column != "at"


def delete_entry(cursor, n: int, draw) -> tuple[int, bool]:
    k = draw(st.integers(1, n - 1), label="deleted entry")  # the last one: see truncation
    cursor.execute(f"DELETE FROM {TABLE} WHERE sequence = %s", [k])
    # Without entry 1 too: the export's header says it starts at genesis, so it must hold 1.
    return k, True


def insert_forged_entry(cursor, n: int, draw) -> tuple[int, bool]:
    """A careful forgery at position k: it links to k - 1 and its own hash is right; the
    entries from k on are moved up one. The chain then breaks at the entry it displaced."""
    k = draw(st.integers(1, n), label="forged position")
    prev_hash = entry_hash(k - 1) if k > 1 else GENESIS_HASH
    cursor.execute(f"UPDATE {TABLE} SET sequence = sequence + %s WHERE sequence >= %s", [FAR, k])
    cursor.execute(
        f"UPDATE {TABLE} SET sequence = sequence - %s WHERE sequence >= %s", [FAR - 1, FAR]
    )
    at = timezone.now()
    document = {
        "sequence": k,
        "at": at.isoformat(),
        "actor_id": None,
        "actor_name": "system",
        "kind": "grant.created",
        "subjects": ["dataset:payments"],
        "data": {"forged": True},
    }
    payload = canonical(document)
    cursor.execute(
        f"INSERT INTO {TABLE} (sequence, at, actor_id, actor_name, kind, subjects, payload, "
        "prev_hash, hash) VALUES (%s, %s, NULL, 'system', 'grant.created', "
        "' dataset:payments ', %s, %s, %s)",
        [
            k,
            connection.ops.adapt_datetimefield_value(at),
            payload,
            prev_hash,
            chain_hash(prev_hash, payload),
        ],
    )
    return k + 1, True


def swap_sequences(cursor, n: int, draw) -> tuple[int, bool]:
    i = draw(st.integers(1, n - 1), label="first swapped")
    j = draw(st.integers(i + 1, n), label="second swapped")
    move = f"UPDATE {TABLE} SET sequence = %s WHERE sequence = %s"
    cursor.execute(move, [FAR, i])
    cursor.execute(move, [i, j])
    cursor.execute(move, [j, FAR])
    return i, True


TAMPERINGS = {
    "edit the payload": edit_payload,
    "edit a column": edit_column,
    "delete an entry": delete_entry,
    "insert a forged entry": insert_forged_entry,
    "swap two entries": swap_sequences,
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
@PROPERTY
@given(events=EVENTS, data=st.data())
def test_verification_names_the_first_tampered_entry(tampering, events, data):
    with rolled_back():
        append_events(events)
        assert verify_ledger().ok

        with raw_sql() as cursor:
            expected, in_export = TAMPERINGS[tampering](cursor, len(events), data.draw)
        report = verify_ledger()
        offline = verify_export(list(export_lines()), [])

        assert not report.ok
        assert not report.as_dict()["ok"]
        assert report.first_broken_sequence == expected, report.problem
        assert report.problem
        if in_export:  # the offline verifier, on an export, names the same entry
            assert not offline["ok"]
            assert offline["first_broken_sequence"] == expected, offline["problem"]
        else:
            assert offline["ok"]


@PROPERTY
@given(events=EVENTS, data=st.data())
def test_truncating_the_tail_is_caught_by_an_earlier_checkpoint(events, data):
    with rolled_back():
        append_events(events)
        checkpoint_create()
        k = data.draw(st.integers(1, len(events)), label="first removed")
        assert verify_ledger().ok

        with raw_sql() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE sequence >= %s", [k])
        report = verify_ledger()

        assert not report.ok
        assert not report.as_dict()["ok"]
        assert report.head_sequence == k - 1
        assert "truncated" in report.problem
        assert [c["ok"] for c in report.checkpoints] == [False]


def test_a_tail_cut_without_a_checkpoint_is_caught_by_the_head_row():
    append(5)
    assert verify_ledger().ok
    with raw_sql() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence >= 4")

    report = verify_ledger()

    assert not report.as_dict()["ok"]
    assert (report.chain_ok, report.head_sequence, report.first_broken_sequence) == (False, 3, 4)
    assert "head row says 5" in report.problem and "cut from its tail" in report.problem
    with pytest.raises(CommandError, match="cut from its tail"):
        call_command("verify_ledger", stdout=io.StringIO())


def test_a_tail_cut_that_also_removes_the_head_row_is_caught():
    append(3)
    with raw_sql() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence >= 3")
        cursor.execute(f"DELETE FROM {HEAD_TABLE}")

    report = verify_ledger()

    assert not report.ok
    assert "head row is missing" in report.problem


def test_a_rewrite_that_leaves_the_head_row_is_caught_by_it():
    append(4)

    rewrite_chain(change_at=2, move_head=False)
    report = verify_ledger()

    assert not report.ok
    assert report.first_broken_sequence == 4
    assert "not the head row's (rewritten)" in report.problem


def test_appends_after_the_head_was_read_are_not_a_cut():
    """Verification reads the head row before the entries: entries past it are newer."""
    append(2)
    report = VerifyReport()
    head = head_row()
    append(2)
    with streamed_rows() as rows:
        hashes = verify_rows(rows, report, keep={head[0]})
    verify_head(report, head, hashes)

    assert report.ok and report.head_sequence == 4


def test_a_cut_that_also_moves_the_head_row_back_needs_a_checkpoint():
    """Why checkpoints exist: whoever can rewrite the head row can hide a cut from it."""
    entries = append(5)
    with raw_sql() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence >= 4")
        cursor.execute(
            f"UPDATE {HEAD_TABLE} SET sequence = 3, hash = %s WHERE id = 1", [entries[2].hash]
        )

    assert verify_ledger().ok


def test_a_truncation_names_the_first_missing_entry():
    append(6)
    checkpoint_create()
    with raw_sql() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence >= 3")

    report = verify_ledger()

    assert report.first_broken_sequence == 3


@pytest.mark.parametrize("subject", ["dataset:two words", "", "run:a\u2028b"])
def test_a_subject_the_chain_cannot_store_is_refused_or_verifies(subject):
    try:
        ledger_append(actor=None, kind="test.event", subjects=[subject], data={})
    except (ValueError, ValidationError):
        return

    report = verify_ledger()

    assert report.ok, report.problem


def test_an_empty_ledger_verifies():
    report = verify_ledger()

    assert report.as_dict() == {
        "ok": True,
        "chain_ok": True,
        "entries": 0,
        "head_sequence": 0,
        "head_hash": GENESIS_HASH,
        "first_broken_sequence": None,
        "problem": "",
        "checkpoints": [],
    }


def test_verify_rows_checks_the_columns_only_when_asked():
    append(3)
    with raw_sql() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET kind = 'forged' WHERE sequence = 2")

    lenient, strict = VerifyReport(), VerifyReport()
    verify_rows(ledger_rows(), lenient, check_columns=False)
    verify_rows(ledger_rows(), strict)

    assert lenient.ok
    assert (strict.ok, strict.first_broken_sequence) == (False, 2)
    assert "column kind" in strict.problem


def one_microsecond_later(sequence: int) -> list:
    later = LedgerEntry.objects.get(sequence=sequence).at + dt.timedelta(microseconds=1)
    return [connection.ops.adapt_datetimefield_value(later)]


# The columns are compared with the payload as bytes (no JSON decoding): each one edited, by as
# little as a character or a microsecond, is still named.
COLUMN_FORGERIES = {
    "kind": (f"UPDATE {TABLE} SET kind = 'grant.revoked' WHERE sequence = 2", lambda: []),
    "actor_name": (f"UPDATE {TABLE} SET actor_name = 'Mallory' WHERE sequence = 2", lambda: []),
    "actor_id": (f"UPDATE {TABLE} SET actor_id = 42 WHERE sequence = 2", lambda: []),
    "subjects": (
        f"UPDATE {TABLE} SET subjects = ' dataset:ds-1 dataset:ds-2 ' WHERE sequence = 2",
        lambda: [],
    ),
    "at": (f"UPDATE {TABLE} SET at = %s WHERE sequence = 2", lambda: one_microsecond_later(2)),
}


@pytest.mark.parametrize("column", list(COLUMN_FORGERIES))
def test_every_edited_column_is_named(column):
    append(3)
    statement, params = COLUMN_FORGERIES[column]
    with raw_sql() as cursor:
        cursor.execute(statement, params())

    report = verify_ledger()

    assert (report.ok, report.first_broken_sequence) == (False, 2)
    assert report.problem == f"column {column} differs from the hashed payload (edited)"


def test_a_time_on_the_second_verifies_and_an_edit_of_it_is_caught(monkeypatch):
    """isoformat() leaves out zero microseconds; the database hands them back: same time."""
    on_the_second = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: on_the_second)
    entries = append(2)
    assert b'"at":"2026-03-01T12:00:00+00:00"' in bytes(entries[0].payload)

    assert verify_ledger().ok
    with raw_sql() as cursor:
        cursor.execute(COLUMN_FORGERIES["at"][0], one_microsecond_later(2))
    assert "column at differs" in verify_ledger().problem


def test_references_and_names_that_json_escapes_verify_and_their_edits_are_caught():
    odd = ['dataset:a"b', "rule:c\\d", "run:é✓", "decision:\u007f"]
    ledger_append(actor=Actor(5, 'O"Brien \\ \t é'), kind='kind "quoted"', subjects=odd, data={})
    ledger_append(actor=None, kind="test.event", subjects=[], data={})

    assert verify_ledger().ok, verify_ledger().problem
    with raw_sql() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET subjects = %s WHERE sequence = 1", [' dataset:a"b '])
    report = verify_ledger()
    assert (report.first_broken_sequence, report.problem) == (
        1,
        "column subjects differs from the hashed payload (edited)",
    )


@postgres_only
def test_an_append_is_two_statements_on_postgresql(django_assert_num_queries):
    """One that locks and returns the head, one that inserts the entry and moves the head."""
    append(1)

    with django_assert_num_queries(2):
        ledger_append(actor=None, kind="test.event", subjects=["rule:1"], data={"i": 2})

    assert verify_ledger().entries == 2


@postgres_only
def test_a_lost_head_row_is_rebuilt_from_the_entries():
    append(3)
    with raw_sql() as cursor:
        cursor.execute("DELETE FROM governance_ledgerhead")

    (entry,) = append(1)

    assert (entry.sequence, entry.prev_hash) == (4, entry_hash(3))
    assert verify_ledger().ok


@postgres_only
def test_a_maintenance_truncate_restarts_the_chain_at_genesis():
    append(3)
    with connection.cursor() as cursor:  # the test sessions are maintenance sessions
        cursor.execute(f"TRUNCATE {TABLE}")

    (entry,) = append(1)

    assert (entry.sequence, entry.prev_hash) == (1, GENESIS_HASH)
    assert verify_ledger().ok


def test_canonical_form_is_sorted_compact_utf8():
    document = {"b": 1, "a": ["é", {"z": None, "y": True}]}

    assert canonical(document) == '{"a":["é",{"y":true,"z":null}],"b":1}'.encode()
    assert chain_hash(GENESIS_HASH, b"x") == hashlib.sha256(bytes(32) + b"x").hexdigest()


def test_appends_number_and_link_the_entries():
    entries = append(3, subjects=["rule:2", "dataset:a", "rule:2"])

    assert [e.sequence for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].subjects == " dataset:a rule:2 "
    assert entries[0].actor_name == "system"
    assert entries[0].actor_id is None


# --- Checkpoints -------------------------------------------------------------------------------


def seed_b64(seed: bytes) -> str:
    return base64.b64encode(seed).decode()


def public_b64(seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def legacy_hmac_checkpoint(sequence: int, head_hash: str) -> LedgerCheckpoint:
    """A checkpoint as Locus signed them before every checkpoint was Ed25519: HMAC-SHA256."""
    key = hashlib.sha256(b"locus-ledger-hmac:" + django_settings.SECRET_KEY.encode()).digest()
    at = timezone.now()
    message = checkpoint_message(sequence, head_hash, at.isoformat())
    return LedgerCheckpoint.objects.create(
        sequence=sequence,
        hash=head_hash,
        at=at,
        algorithm="hmac-sha256",
        key_id=hashlib.sha256(key).hexdigest()[:16],
        public_key="",
        signature=hmac.new(key, message, hashlib.sha256).hexdigest(),
        created_by_name="system",
    )


def test_checkpoints_are_signed_with_ed25519_by_default(auditor):
    """Debug derives a signing key from SECRET_KEY: no HMAC checkpoint is made any more."""
    entries = append(4)

    checkpoint = checkpoint_create(actor=auditor)

    assert (checkpoint.sequence, checkpoint.hash) == (4, entries[-1].hash)
    assert checkpoint.algorithm == "ed25519"
    assert checkpoint.public_key == signing.public_key_b64()
    assert checkpoint.created_by_name == person_pseudonym(auditor.pk)  # it is published too
    assert signing.verify_checkpoint(signing_document(checkpoint))


def test_an_earlier_hmac_checkpoint_still_verifies():
    entries = append(4)
    checkpoint = legacy_hmac_checkpoint(4, entries[-1].hash)

    assert signing.verify_checkpoint(signing_document(checkpoint))
    assert verify_ledger().checkpoints == [
        {"sequence": 4, "hash": entries[-1].hash, "ok": True, "problem": ""}
    ]


def test_checkpoint_of_an_empty_ledger_signs_genesis():
    checkpoint = checkpoint_create()

    assert (checkpoint.sequence, checkpoint.hash) == (0, GENESIS_HASH)
    assert checkpoint.created_by_name == "system"
    assert signing.verify_checkpoint(signing_document(checkpoint))


@pytest.mark.parametrize("later_entries", [0, 2])
def test_a_checkpoint_of_the_empty_ledger_keeps_verifying(later_entries):
    checkpoint = checkpoint_create()
    append(later_entries)

    offline = verify_export(list(export_lines()), [signing_document(checkpoint)])
    report = verify_ledger()

    assert offline["ok"]
    assert report.as_dict()["ok"], report.problem


def test_ed25519_checkpoint_signs_the_head(settings):
    seed = bytes(range(32))
    settings.LEDGER_SIGNING_KEY = seed_b64(seed)
    entries = append(3)

    checkpoint = checkpoint_create()

    assert checkpoint.algorithm == "ed25519"
    assert checkpoint.public_key == public_b64(seed)
    assert checkpoint.key_id == hashlib.sha256(checkpoint.public_key.encode()).hexdigest()[:16]
    message = checkpoint_message(3, entries[-1].hash, checkpoint.at.isoformat())
    signature = base64.b64decode(checkpoint.signature)
    public = base64.b64decode(checkpoint.public_key)
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)  # raises if forged
    assert ed25519_verify(public, message, signature)
    assert signing.verify_checkpoint(signing_document(checkpoint))
    assert verify_ledger().as_dict()["ok"]


def flip_signature(document: dict) -> dict:
    """The same checkpoint with one bit of its signature changed."""
    if document["algorithm"] == "ed25519":
        raw = bytearray(base64.b64decode(document["signature"]))
        raw[5] ^= 0x01
        return {**document, "signature": base64.b64encode(bytes(raw)).decode()}
    forged = format(int(document["signature"][0], 16) ^ 1, "x") + document["signature"][1:]
    return {**document, "signature": forged}


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "ed25519"])
@pytest.mark.parametrize(
    "forge",
    [
        flip_signature,
        lambda d: {**d, "hash": "ab" * 32},
        lambda d: {**d, "sequence": d["sequence"] + 1},
        lambda d: {**d, "at": "2020-01-01T00:00:00+00:00"},
    ],
    ids=["signature", "hash", "sequence", "time"],
)
def test_a_forged_checkpoint_does_not_verify(settings, algorithm, forge):
    settings.LEDGER_SIGNING_KEY = seed_b64(b"\x07" * 32)
    entries = append(2)
    if algorithm == "ed25519":
        document = signing_document(checkpoint_create())
    else:
        document = signing_document(legacy_hmac_checkpoint(2, entries[-1].hash))
    assert document["algorithm"] == algorithm
    assert signing.verify_checkpoint(document)

    assert not signing.verify_checkpoint(forge(document))


def test_an_hmac_checkpoint_does_not_verify_under_another_secret(settings):
    entries = append(2)
    document = signing_document(legacy_hmac_checkpoint(2, entries[-1].hash))

    settings.SECRET_KEY = "another-secret-key-entirely-" * 2

    assert not signing.verify_checkpoint(document)


def test_a_stored_forged_checkpoint_fails_verification():
    entries = append(3)
    genuine = signing_document(checkpoint_create())
    forged = flip_signature(genuine)
    LedgerCheckpoint.objects.create(
        sequence=forged["sequence"],
        hash=forged["hash"],
        at=dt.datetime.fromisoformat(forged["at"]),
        algorithm=forged["algorithm"],
        key_id=forged["key_id"],
        public_key=forged["public_key"],
        signature=forged["signature"],
        created_by_name="mallory",
    )

    report = verify_ledger()

    assert report.as_dict()["ok"] is False
    assert [c["ok"] for c in report.checkpoints] == [True, False]
    assert report.checkpoints[1]["problem"] == "signature does not verify"
    assert report.first_broken_sequence == entries[-1].sequence
    assert report.problem == "checkpoint: signature does not verify"


def test_a_checkpoint_signed_with_another_key_does_not_verify(settings):
    settings.LEDGER_SIGNING_KEY = seed_b64(b"\x01" * 32)
    append(2)
    genuine = signing_document(checkpoint_create())

    settings.LEDGER_SIGNING_KEY = seed_b64(b"\x02" * 32)  # the attacker's key
    attacker = signing.sign_checkpoint(genuine["sequence"], genuine["hash"], genuine["at"])
    settings.LEDGER_SIGNING_KEY = seed_b64(b"\x01" * 32)

    assert not signing.verify_checkpoint({**genuine, **attacker})


def test_a_consistently_rewritten_chain_is_caught_by_an_earlier_checkpoint():
    entries = append(6)
    checkpoint_create()

    rewrite_chain(change_at=2)
    report = verify_ledger()

    chain_only = VerifyReport()
    verify_rows(ledger_rows(), chain_only)
    assert chain_only.ok, "every link of the rewritten chain holds"
    assert chain_only.head_hash != entries[-1].hash
    assert report.as_dict()["ok"] is False
    assert report.checkpoints == [
        {
            "sequence": 6,
            "hash": entries[-1].hash,
            "ok": False,
            "problem": "the chain's entry at this sequence has another hash (rewritten)",
        }
    ]
    assert report.first_broken_sequence == 6
    assert report.problem.startswith("checkpoint:")


def test_a_rewrite_before_a_checkpoint_is_caught_and_later_checkpoints_then_mismatch():
    append(3)
    checkpoint_create()
    append(2)
    checkpoint_create()

    rewrite_chain(change_at=1)
    report = verify_ledger()

    assert [c["ok"] for c in report.checkpoints] == [False, False]
    assert report.first_broken_sequence == 3


def test_chain_ok_stays_true_when_only_a_checkpoint_fails():
    append(4)
    checkpoint = checkpoint_create()
    rewrite_chain(change_at=2)
    lines = list(export_lines())

    offline = verify_export(lines, [signing_document(checkpoint)])
    report = verify_ledger().as_dict()

    assert (offline["ok"], offline["chain_ok"]) == (False, True)
    assert (report["ok"], report["chain_ok"]) == (False, True)


# --- The doors: ORM, admin, SQL ---------------------------------------------------------------


@pytest.fixture
def entry():
    return append(3)[1]


def test_saving_an_existing_entry_is_refused(entry):
    entry.kind = "forged"

    with pytest.raises(PermissionError, match="append-only"):
        entry.save()

    assert LedgerEntry.objects.get(pk=entry.pk).kind == "test.event.2"


def test_deleting_an_entry_is_refused(entry):
    with pytest.raises(PermissionError, match="append-only"):
        entry.delete()

    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda qs: qs.update(kind="forged"),
        lambda qs: qs.delete(),
        lambda qs: qs.filter(sequence__gte=2).update(actor_name="mallory"),
        lambda qs: qs.filter(sequence=2).delete(),
        lambda qs: LedgerEntry.objects.bulk_update(
            [LedgerEntry(pk=e.pk, kind="forged") for e in qs], ["kind"]
        ),
    ],
    ids=["update", "delete", "filtered update", "filtered delete", "bulk_update"],
)
def test_bulk_changes_to_entries_are_refused(entry, change):
    before = list(LedgerEntry.objects.values_list("sequence", "kind", "actor_name"))

    with pytest.raises(PermissionError, match="append-only"), transaction.atomic():
        change(LedgerEntry.objects.all())

    assert list(LedgerEntry.objects.values_list("sequence", "kind", "actor_name")) == before


def test_checkpoints_are_append_only_too():
    append(1)
    checkpoint = checkpoint_create()

    checkpoint.hash = "0" * 64
    with pytest.raises(PermissionError, match="append-only"):
        checkpoint.save()
    with pytest.raises(PermissionError, match="append-only"):
        checkpoint.delete()
    with pytest.raises(PermissionError, match="append-only"):
        LedgerCheckpoint.objects.update(signature="x")
    with pytest.raises(PermissionError, match="append-only"):
        LedgerCheckpoint.objects.all().delete()


def forge_with_existing_pk(entry):
    LedgerEntry(
        pk=entry.pk,
        sequence=entry.sequence,
        at=entry.at,
        actor_name="mallory",
        kind="forged",
        subjects=entry.subjects,
        payload=entry.payload,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    ).save()


def forge_by_upsert(entry):
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                sequence=entry.sequence,
                at=entry.at,
                actor_name="mallory",
                kind="forged",
                subjects=entry.subjects,
                payload=entry.payload,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        ],
        update_conflicts=True,
        unique_fields=["sequence"],
        update_fields=["kind", "actor_name"],
    )


@pytest.mark.parametrize(
    "forge", [forge_with_existing_pk, forge_by_upsert], ids=["new instance", "upsert"]
)
def test_overwriting_an_entry_through_other_orm_doors_is_refused(entry, forge):
    with (
        pytest.raises((PermissionError, DatabaseError), match="append-only"),
        transaction.atomic(),
    ):
        forge(entry)

    assert LedgerEntry.objects.get(pk=entry.pk).kind == "test.event.2"


@pytest.fixture
def admin_client():
    superuser = UserFactory(username="root-admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", [LedgerEntry, LedgerCheckpoint], ids=["entry", "checkpoint"])
def test_the_admin_shows_but_never_changes_ledger_records(admin_client, model):
    append(2)
    checkpoint_create()
    record = model.objects.order_by("pk").first()
    before = model.objects.filter(pk=record.pk).values().get()
    name = f"admin:governance_{model._meta.model_name}"

    listing = admin_client.get(reverse(f"{name}_changelist"))
    page = admin_client.get(reverse(f"{name}_change", args=[record.pk]))
    posted = admin_client.post(reverse(f"{name}_change", args=[record.pk]), {"kind": "forged"})
    deleting = admin_client.get(reverse(f"{name}_delete", args=[record.pk]))
    deleted = admin_client.post(reverse(f"{name}_delete", args=[record.pk]), {"post": "yes"})
    adding = admin_client.get(reverse(f"{name}_add"))
    action = admin_client.post(
        reverse(f"{name}_changelist"),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )

    assert listing.status_code == 200
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (posted.status_code, deleting.status_code, deleted.status_code) == (403, 403, 403)
    assert adding.status_code == 403
    assert action.status_code in (200, 302)
    assert model.objects.filter(pk=record.pk).values().get() == before


@postgres_only
@pytest.mark.parametrize("table", [TABLE, CHECKPOINT_TABLE])
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET hash = hash", "DELETE FROM {table}", "TRUNCATE {table}"],
    ids=["UPDATE", "DELETE", "TRUNCATE"],
)
def test_postgresql_refuses_sql_that_changes_the_ledger(table, statement):
    append(2)
    checkpoint_create()
    before = (LedgerEntry.objects.count(), LedgerCheckpoint.objects.count())

    with connection.cursor() as cursor:
        # This test session opted into maintenance (TRUNCATE between tests); an ordinary one has not.
        cursor.execute("SET locus.ledger_maintenance = 'off'")
        try:
            with (
                pytest.raises(DatabaseError, match="append-only") as refused,
                transaction.atomic(),
            ):
                cursor.execute(statement.format(table=table))
        finally:
            cursor.execute("SET locus.ledger_maintenance = 'on'")

    assert f"on {table} is refused" in str(refused.value)
    assert (LedgerEntry.objects.count(), LedgerCheckpoint.objects.count()) == before


@postgres_only
def test_postgresql_refuses_an_orm_update_that_skips_the_model():
    """Even code that goes around AppendOnlyQuerySet (Django's internal _update) is stopped."""
    entry = append(2)[0]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk)._update(
            [(LedgerEntry._meta.get_field("kind"), None, "forged")]
        )

    assert LedgerEntry.objects.get(pk=entry.pk).kind == entry.kind


@postgres_only
def test_postgresql_allows_truncate_only_in_a_maintenance_session():
    append(2)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SHOW locus.ledger_maintenance")
            assert cursor.fetchone() == ("on",)
            cursor.execute(f"TRUNCATE {TABLE}")
        assert not LedgerEntry.objects.exists()
        transaction.set_rollback(True)

    assert LedgerEntry.objects.count() == 2


@postgres_only
def test_postgresql_still_accepts_appends():
    with connection.cursor() as cursor:
        cursor.execute("SET locus.ledger_maintenance = 'off'")
        try:
            entries = append(3)
        finally:
            cursor.execute("SET locus.ledger_maintenance = 'on'")

    assert [e.sequence for e in entries] == [1, 2, 3]
    assert verify_ledger().ok


# --- Written in the same transaction as the change ---------------------------------------------


def kinds() -> list[str]:
    return list(LedgerEntry.objects.order_by("sequence").values_list("kind", flat=True))


def regions(*codes) -> list[Region]:
    return [Region.objects.get(code=code) for code in codes]


def new_rule(actor, **fields) -> LocalityRule:
    fields.setdefault("name", "no personal data to Mumbai")
    fields.setdefault("effect", LocalityRule.Effect.DENY)
    return rule_create(actor=actor, regions=regions("aws:ap-south-1"), countries=[], **fields)


def test_dataset_create_writes_catalog_dataset_created(data_owner):
    dataset = make_dataset(data_owner, slug="eu-customers")

    entry = LedgerEntry.objects.get(kind="catalog.dataset.created")

    assert entry.subject_list == ["dataset:eu-customers"]
    assert entry.actor_id == data_owner.pk
    data = json.loads(bytes(entry.payload))["data"]
    assert data["dataset"] == dataset.slug
    assert data["version"] == 1
    assert "storage_region" in data["fields"]
    assert data["after"]["storage_region"] == "aws:eu-west-1"


def test_rule_create_writes_rule_created(privacy_officer):
    rule = new_rule(privacy_officer)

    entry = LedgerEntry.objects.get(kind="rule.created")

    assert entry.subject_list == [f"rule:{rule.pk}"]
    assert entry.actor_name == person_pseudonym(privacy_officer.pk)
    data = json.loads(bytes(entry.payload))["data"]
    assert (data["rule"], data["version"]) == (rule.pk, 1)
    assert data["rule_snapshot"]["regions"] == ["aws:ap-south-1"]
    assert verify_ledger().ok


def test_a_service_that_fails_after_appending_leaves_no_entry(privacy_officer, monkeypatch):
    def fail(scope):
        raise RuntimeError("the revision counter is unavailable")

    monkeypatch.setattr("governance.policy.rules.revision_bump", fail)

    with pytest.raises(RuntimeError):
        new_rule(privacy_officer)

    assert not LocalityRule.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_a_caller_transaction_that_fails_takes_the_entry_with_it(privacy_officer):
    with pytest.raises(RuntimeError), transaction.atomic():
        new_rule(privacy_officer)
        assert kinds() == ["rule.created"]
        raise RuntimeError("the caller fails after the service returned")

    assert not LocalityRule.objects.exists()
    assert kinds() == []
    # The head went back with it (on PostgreSQL, the head row): the next entry is number 1.
    assert append(1)[0].sequence == 1
    assert verify_ledger().ok


def test_a_refused_service_call_writes_nothing(data_owner):
    with pytest.raises(Exception, match="privacy officers"):
        new_rule(data_owner)

    assert kinds() == []


def test_the_services_ledger_their_changes_and_the_chain_verifies(privacy_officer, data_owner):
    dataset = make_dataset(data_owner, slug="eu-customers")
    rule = new_rule(privacy_officer)
    rule_update(actor=privacy_officer, rule=rule, priority=7)
    grant = grant_create(
        actor=privacy_officer,
        datasets=[dataset],
        destination_regions=regions("aws:us-east-1"),
        mechanism="scc",
        valid_from=timezone.now(),
        valid_until=timezone.now() + dt.timedelta(days=30),
    )
    grant_revoke(actor=privacy_officer, grant=grant, reason="no longer needed")
    record = recorded_decision_create(
        actor=privacy_officer, title="Keep EU data in the EU", context="c", decision="d"
    )
    recorded_decision_update(actor=privacy_officer, record=record, rationale="r")
    rule_delete(actor=privacy_officer, rule=rule)

    assert kinds() == [
        "catalog.dataset.created",
        "rule.created",
        "rule.updated",
        "grant.created",
        "grant.revoked",
        "decision.recorded",
        "decision.updated",
        "rule.deleted",
    ]
    assert verify_ledger().ok


def test_locality_checks_are_ledgered(engineer, data_owner):
    make_dataset(data_owner, slug="eu-customers")
    purpose = Purpose.objects.get(code="model-training")

    with transaction.atomic():
        locality_check(
            actor=engineer,
            checks=[Check("eu-customers", "train", "aws:ap-south-1", purpose.code)],
        )

    assert not LedgerEntry.objects.filter(kind="locality.decisions").exists()  # queued, no lock
    ledger_sequence_all()
    entry = LedgerEntry.objects.get(kind="locality.decisions")
    assert json.loads(bytes(entry.payload))["data"]["count"] == 1


# --- No raw personal data ---------------------------------------------------------------------


def test_pseudonym_is_stable_keyed_and_not_the_input(settings):
    email = "Jane.Doe@example.com"

    first = pseudonym(email)

    assert first == pseudonym(email) == pseudonym("  jane.doe@EXAMPLE.com ")
    assert first.startswith("subject:") and len(first) == len("subject:") + 32
    assert "jane" not in first.lower() and "example" not in first
    assert pseudonym("john.doe@example.com") != first
    settings.LEDGER_PSEUDONYM_KEY = "another key"
    assert pseudonym(email) != first


def test_a_pseudonym_goes_on_the_chain_and_the_person_does_not():
    email = "jane.doe@example.com"

    ledger_append(actor=None, kind="dsr.received", subjects=[pseudonym(email)], data={})

    entry = LedgerEntry.objects.get()
    assert email not in entry.subjects
    assert email.encode() not in bytes(entry.payload)
    assert verify_ledger().ok


# --- Management commands and the periodic task ------------------------------------------------


def run_command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_verify_ledger_command_passes_a_good_chain():
    append(3)
    checkpoint_create()

    output = run_command("verify_ledger")

    assert "entries: 3" in output
    assert "checkpoint #3: ok" in output
    assert "chain: ok" in output


def test_verify_ledger_command_prints_json():
    entries = append(3)

    report = json.loads(run_command("verify_ledger", "--json"))

    assert report["ok"] is True
    assert (report["entries"], report["head_hash"]) == (3, entries[-1].hash)


def test_verify_ledger_command_fails_on_a_tampered_chain():
    append(4)
    with raw_sql() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET kind = 'forged' WHERE sequence = 3")
    out = io.StringIO()

    with pytest.raises(CommandError, match="ledger verification failed: column kind"):
        call_command("verify_ledger", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert (report["ok"], report["first_broken_sequence"]) == (False, 3)


def test_verify_ledger_command_names_the_broken_entry():
    append(4)
    with raw_sql() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence = 2")
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("verify_ledger", stdout=out)

    assert "chain: broken at #2: entry 2 is missing or deleted" in out.getvalue()


def test_export_ledger_command_writes_an_export_the_offline_verifier_accepts(tmp_path):
    entries = append(4)
    checkpoint = signing_document(checkpoint_create())
    path = tmp_path / "ledger.jsonl"

    printed = run_command("export_ledger")
    run_command("export_ledger", "--output", str(path))
    since = run_command("export_ledger", "--from", entries[2].at.isoformat())

    assert path.read_text(encoding="utf-8").splitlines()[1:] == printed.splitlines()[1:]
    header, *lines = (json.loads(line) for line in printed.splitlines())
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (True, 1, 4)
    assert [line["sequence"] for line in lines] == [1, 2, 3, 4]
    assert verify_export(printed.splitlines(), [checkpoint])["ok"]
    assert json.loads(since.splitlines()[0])["from_sequence"] == 3


def test_export_ledger_command_names_a_bad_time():
    with pytest.raises(CommandError, match="--to: 'yesterday' is not an ISO 8601"):
        run_command("export_ledger", "--to", "yesterday")


def test_checkpoint_ledger_command_signs_and_prints_the_head():
    entries = append(2)

    document = json.loads(run_command("checkpoint_ledger"))

    assert (document["sequence"], document["hash"]) == (2, entries[-1].hash)
    assert signing.verify_checkpoint(document)
    assert LedgerCheckpoint.objects.get().signature == document["signature"]


def test_the_periodic_task_stores_a_checkpoint():
    append(2)

    pk = tasks.ledger_checkpoint()

    assert LedgerCheckpoint.objects.get(pk=pk).sequence == 2
    assert verify_ledger().as_dict()["ok"]


def test_actors_are_kept_as_pseudonyms_that_survive_the_account(privacy_officer):
    new_rule(privacy_officer)
    name = privacy_officer.get_full_name()

    get_user_model().objects.filter(pk=privacy_officer.pk).delete()

    entry = LedgerEntry.objects.get(kind="rule.created")
    assert entry.actor_name == person_pseudonym(privacy_officer.pk)
    assert entry.actor_name.startswith("person:")
    assert verify_ledger().ok
    assert name not in bytes(entry.payload).decode()


def test_entries_carry_no_real_names(privacy_officer, auditor):
    """People appear on the ledger only as keyed pseudonyms, never by name or username."""
    new_rule(privacy_officer)
    checkpoint_create(actor=auditor)
    ledger_append(actor=auditor, kind="test.event", data={})
    people = [privacy_officer, auditor]

    for entry in LedgerEntry.objects.all():
        stored = f"{entry.actor_name} {bytes(entry.payload).decode()}"
        for person in people:
            for name in (person.get_full_name(), person.first_name, person.last_name):
                assert name not in stored, (entry.kind, name)
            assert f'"{person.get_username()}"' not in stored
    assert {e.actor_name for e in LedgerEntry.objects.exclude(actor_id=None)} == {
        person_pseudonym(privacy_officer.pk),
        person_pseudonym(auditor.pk),
    }


def test_a_staff_pseudonym_changes_with_its_key(settings):
    first = person_pseudonym(7)
    assert first == person_pseudonym(7) != person_pseudonym(8)
    settings.LEDGER_PSEUDONYM_KEY = "another key"
    assert person_pseudonym(7) != first
