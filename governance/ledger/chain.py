"""The hash-chained decision log: canonical payloads, keyed pseudonyms, and appends.

Every entry's payload is canonical JSON (sorted keys, no spaces, UTF-8) of all its fields, and
hash = SHA-256(bytes.fromhex(previous hash) || payload). Appends lock the chain's head (on
PostgreSQL a one-row table locked FOR UPDATE; SQLite serialises writers) so the chain never
forks, and run inside the caller's transaction, so an entry exists exactly when the change it
records does; each append moves the head row (LedgerHead) too. People appear only as keyed
pseudonyms: actors as person:..., data subjects as subject:....
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from catalog.actors import Actor, actor_account
from governance.logs import current_request_id
from governance.models import LedgerEntry, LedgerQueued
from governance.models.ledger import GENESIS_HASH


def canonical(document: dict[str, Any]) -> bytes:
    """The one byte form of a document that is hashed and stored."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def _keyed(value: str) -> str:
    key = settings.LEDGER_PSEUDONYM_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def pseudonym(value: str) -> str:
    """A keyed pseudonym for a data subject: stable, not reversible without the key."""
    return f"subject:{_keyed(value.strip().lower())}"


def person_pseudonym(user_id: int) -> str:
    """How the ledger names a member of staff: keyed on their account, never their name."""
    return f"person:{_keyed(f'user:{user_id}')}"


def actor_name(user: Actor) -> str:
    """How a person is shown in records that outlive their account."""
    account = actor_account(user)
    return (account.get_full_name() or account.get_username()) if account else "system"


def actor_names(entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """{pseudonym: name} for the entries' actors whose accounts still exist (one query).

    For pages and answers to people who may read the ledger; the entries themselves keep only
    the pseudonym. An account's pseudonym is checked, so an entry whose actor_id was reused
    never shows another person's name.
    """
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    if not ids:
        return {}
    users = get_user_model().objects.filter(pk__in=ids)
    return {person_pseudonym(user.pk): actor_name(user) for user in users}


def person_names(pseudonyms: Iterable[str]) -> dict[str, str]:
    """{pseudonym: name} for pseudonyms without an account id beside them (checkpoints): every
    account's pseudonym is computed, so use it for a page's handful, not in bulk."""
    wanted = {name for name in pseudonyms if name.startswith("person:")}
    if not wanted:
        return {}
    names = {}
    for user in get_user_model().objects.only("pk", "username", "first_name", "last_name"):
        if (key := person_pseudonym(user.pk)) in wanted:
            names[key] = actor_name(user)
    return names


def actors_matching(text: str) -> list[str]:
    """The pseudonyms of the accounts whose name or username contains `text` (for filters)."""
    users = (
        get_user_model()
        .objects.annotate(full_name=Concat("first_name", Value(" "), "last_name"))
        .filter(Q(username__icontains=text) | Q(full_name__icontains=text))
    )
    return [person_pseudonym(pk) for pk in users.values_list("pk", flat=True)]


def filter_by_actor(queryset: QuerySet[LedgerEntry], text: str) -> QuerySet[LedgerEntry]:
    """Entries whose actor is named by `text`: a pseudonym (or "system"), or a person's name."""
    return queryset.filter(Q(actor_name__icontains=text) | Q(actor_name__in=actors_matching(text)))


def ledger_search(queryset: QuerySet[LedgerEntry], text: str) -> QuerySet[LedgerEntry]:
    """Entries whose kind, subjects or actor (pseudonym, or the name behind it) mention the text."""
    text = text.strip()
    if not text:
        return queryset
    return queryset.filter(
        Q(kind__icontains=text)
        | Q(subjects__icontains=text)
        | Q(actor_name__icontains=text)
        | Q(actor_name__in=actors_matching(text))
    )


HEAD_TABLE = "governance_ledgerhead"  # PostgreSQL only: see migration 0007
ENTRY_COLUMNS = "sequence, at, actor_id, actor_name, kind, subjects, payload, prev_hash, hash"
LEDGER_LOCK_KEY = 0x4C656467  # "Ledg": the advisory lock appenders queue on, first come first
# served (waiters for a row lock are not: a newcomer can take the new row version first).
# Two statements, one round trip: the second takes its snapshot once the lock is held, and
# locks the head row too, so no append that skipped the advisory lock could fork the chain.
LOCK_HEAD = (
    f"SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY}); "
    f"SELECT sequence, hash FROM {HEAD_TABLE} WHERE id = 1 FOR UPDATE"
)
# A missing head row (a new database, or after a maintenance TRUNCATE) is rebuilt from the entries.
START_HEAD = f"""
INSERT INTO {HEAD_TABLE} (id, sequence, hash)
SELECT 1, COALESCE(MAX(sequence), 0), COALESCE(
    (SELECT hash FROM governance_ledgerentry ORDER BY sequence DESC LIMIT 1), %s
) FROM governance_ledgerentry
ON CONFLICT (id) DO NOTHING
"""
# SQLite: its writers are serialised, so the head row is simply overwritten after the insert.
MOVE_HEAD = f"""
INSERT INTO {HEAD_TABLE} (id, sequence, hash) VALUES (1, %s, %s)
ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash
"""
# The entry and the new head in one statement (one round trip): the row lock is already held.
WRITE_ENTRY = f"""
WITH entry AS (
    INSERT INTO governance_ledgerentry ({ENTRY_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
)
UPDATE {HEAD_TABLE} SET sequence = %s, hash = %s WHERE id = 1 RETURNING (SELECT id FROM entry)
"""


def locked_head(cursor: CursorWrapper) -> tuple[int, str]:
    """The head (sequence, hash), locked until the transaction ends; appenders queue here.

    PostgreSQL: one round trip that waits for the previous appender's commit (an advisory
    lock, then the head row FOR UPDATE) and returns the head it wrote. SQLite: its writers are already serialised
    (transactions begin IMMEDIATE), so the last entry is the head.
    """
    if connection.vendor != "postgresql":
        head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
        return head or (0, GENESIS_HASH)
    cursor.execute(LOCK_HEAD)
    cursor.nextset()
    head = cursor.fetchone()
    if head is None:
        cursor.execute(START_HEAD, [GENESIS_HASH])
        cursor.execute(LOCK_HEAD.partition("; ")[2])
        head = cursor.fetchone()
    # The head row always exists by now (START_HEAD made it): (sequence, hash).
    return cast(tuple[int, str], head)


def actor_identity(actor: Actor) -> tuple[int | None, str]:
    """The actor's id and the name an entry carries: a pseudonym, or "system"."""
    account = actor_account(actor)
    if account is None:
        return None, "system"
    return account.pk, person_pseudonym(account.pk)


def _subject_list(subjects: Iterable[str]) -> list[str]:
    subject_list = sorted(set(subjects))
    if any(not subject or any(ch.isspace() for ch in subject) for subject in subject_list):
        raise ValueError(f"Ledger subjects are references without spaces, got {subject_list!r}")
    return subject_list


def _with_request_id(data: dict[str, Any] | None) -> dict[str, Any]:
    """The entry's data, with the id of the HTTP request (or of the request that queued the
    task) that writes it, when there is one, so that entries and log lines can be matched.
    It is part of the data, inside the hashed payload: hashing and verification are unchanged."""
    request_id = current_request_id()
    return {"request_id": request_id, **(data or {})} if request_id else (data or {})


def ledger_append(
    *, actor: Actor, kind: str, subjects: Iterable[str] = (), data: dict[str, Any] | None = None
) -> LedgerEntry:
    """Add one event to the chain, inside the caller's transaction."""
    actor_id, actor_name = actor_identity(actor)
    subject_list = _subject_list(subjects)
    data = _with_request_id(data)
    # No savepoint: an append that fails must take the caller's change down with it anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        head_sequence, prev_hash = locked_head(cursor)
        entry = LedgerEntry(
            sequence=head_sequence + 1,
            at=timezone.now(),  # taken under the lock: times follow sequences
            actor_id=actor_id,
            actor_name=actor_name,
            kind=kind,
            subjects=f" {' '.join(subject_list)} " if subject_list else "",
            prev_hash=prev_hash,
        )
        entry.payload = canonical(
            {
                "sequence": entry.sequence,
                "at": entry.at.isoformat(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "kind": kind,
                "subjects": subject_list,
                "data": data,
            }
        )
        entry.hash = chain_hash(prev_hash, entry.payload)
        sequence_after_commit()
        if connection.vendor != "postgresql":
            entry.save()
            cursor.execute(MOVE_HEAD, [entry.sequence, entry.hash])
            return entry
        cursor.execute(WRITE_ENTRY, [*_entry_values(entry), entry.sequence, entry.hash])
        entry.pk = cursor.fetchone()[0]
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


def sequence_after_commit() -> None:
    """Under the embedded default (no worker, no beat) the tree's sequencer runs in-process once
    the caller's transaction commits; deployments run it from beat or `manage.py sequence_ledger`."""
    if not settings.LEDGER_SEQUENCE_ON_COMMIT:
        return
    # Once per transaction: a transaction of many appends needs one run after it.
    if not any(item[1] is _sequence_now for item in connection.run_on_commit):
        transaction.on_commit(_sequence_now, robust=True)


def _sequence_now() -> None:
    from governance.ledger.tree import ledger_sequence_all

    ledger_sequence_all()


def _entry_values(entry: LedgerEntry) -> list[int | str | bytes | dt.datetime | None]:
    return [
        entry.sequence,
        entry.at,
        entry.actor_id,
        entry.actor_name,
        entry.kind,
        entry.subjects,
        entry.payload,
        entry.prev_hash,
        entry.hash,
    ]


def chain_append_queued_many(queued: list[LedgerQueued]) -> int:
    """Add queued entries to the chain in order, as they were queued, under one hold of the
    chain's lock and with one insert a thousand: for the sequencer, inside its transaction."""
    if not queued:
        return 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        sequence, prev_hash = locked_head(cursor)
        entries = []
        for row in queued:
            sequence += 1
            payload = bytes(row.payload)
            entry_hash = chain_hash(prev_hash, payload)
            entries.append(
                LedgerEntry(
                    sequence=sequence,
                    at=row.at,
                    actor_id=row.actor_id,
                    actor_name=row.actor_name,
                    kind=row.kind,
                    subjects=row.subjects,
                    payload=payload,
                    prev_hash=prev_hash,
                    hash=entry_hash,
                )
            )
            prev_hash = entry_hash
        LedgerEntry.objects.bulk_create(entries, batch_size=1000)
        if connection.vendor != "postgresql":
            cursor.execute(MOVE_HEAD, [sequence, prev_hash])
        else:
            cursor.execute(
                f"UPDATE {HEAD_TABLE} SET sequence = %s, hash = %s WHERE id = 1",
                [sequence, prev_hash],
            )
    return len(entries)
