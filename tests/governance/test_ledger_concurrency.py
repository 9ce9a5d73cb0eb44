"""Concurrent appenders on PostgreSQL never fork the chain: threads (one connection each) and
separate processes, all appending at once, leave one gapless, verifiable chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from governance.ledger.chain import LOCK_HEAD, ledger_append
from governance.ledger.verification import verify_ledger
from governance.models import LedgerEntry
from tests.live import ROOT, shared_database_url

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")

pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers; the lock is PostgreSQL's"),
    # Committed transactions on several connections; the reference data is restored afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 32
PER_THREAD = 10
PROCESSES = 4
PER_PROCESS = 20
START_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def room_for_every_writer():
    """A connection pool (when settings configure one) must hold one connection per thread."""
    pool = getattr(connection, "pool", None)
    if pool is None:
        yield
        return
    sizes = (pool.min_size, pool.max_size)
    pool.resize(sizes[0], max(sizes[1], THREADS + 2))
    yield
    pool.resize(*sizes)


def in_own_connection(work, errors: list) -> None:
    """Run `work` on this thread's own connection, keep what it raises, close the connection."""
    try:
        work()
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)
    finally:
        connection.close()


def assert_one_chain(writers: int, per_writer: int) -> None:
    """Exactly one chain: gapless, every entry's predecessor used once, and it verifies."""
    total = writers * per_writer
    rows = list(LedgerEntry.objects.order_by("sequence").values_list("sequence", "prev_hash"))
    assert [sequence for sequence, _ in rows] == list(range(1, total + 1))
    prev_hashes = [prev for _, prev in rows]
    assert len(set(prev_hashes)) == total, "two entries claim the same predecessor: a fork"
    report = verify_ledger()
    assert report.ok, report.problem
    assert (report.entries, report.head_sequence) == (total, total)
    # Each writer's own entries keep the order in which it appended them.
    by_writer: dict[int, list[int]] = {}
    for payload in LedgerEntry.objects.order_by("sequence").values_list("payload", flat=True):
        data = json.loads(bytes(payload))["data"]
        by_writer.setdefault(data["writer"], []).append(data["i"])
    assert sorted(by_writer) == list(range(writers))
    assert all(items == list(range(per_writer)) for items in by_writer.values())


def test_32_threads_appending_at_once_make_one_chain():
    start = threading.Barrier(THREADS, timeout=START_TIMEOUT)
    errors: list[BaseException] = []

    def append_many(number: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            with transaction.atomic():
                ledger_append(
                    actor=None,
                    kind="test.thread",
                    subjects=[f"writer:{number}"],
                    data={"writer": number, "i": i, "note": "écrit en parallèle"},
                )

    threads = [
        threading.Thread(target=in_own_connection, args=(lambda n=n: append_many(n), errors))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(START_TIMEOUT)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert_one_chain(THREADS, PER_THREAD)


def test_without_the_lock_simultaneous_appenders_collide(monkeypatch):
    """The control: locking the head row is what keeps the appenders apart. Reading it without
    the lock, two transactions see the same head and claim the same sequence; the unique
    constraint then refuses one, so the chain still cannot fork, but an append is lost."""
    ledger_append(actor=None, kind="test.first", data={"writer": -1, "i": 0})  # the head row
    both_read = threading.Barrier(2, timeout=START_TIMEOUT)

    def unlocked_head(cursor):
        cursor.execute(LOCK_HEAD.partition("; ")[2].removesuffix(" FOR UPDATE"))
        head = cursor.fetchone()
        both_read.wait()
        return head

    monkeypatch.setattr("governance.ledger.chain.locked_head", unlocked_head)
    errors: list[BaseException] = []

    def append_one(number: int) -> None:
        with transaction.atomic():
            ledger_append(actor=None, kind="test.unlocked", data={"writer": number, "i": 0})

    threads = [
        threading.Thread(target=in_own_connection, args=(lambda n=n: append_one(n), errors))
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(START_TIMEOUT)

    assert len(errors) == 1 and isinstance(errors[0], IntegrityError)
    assert LedgerEntry.objects.count() == 2
    assert verify_ledger().ok


APPENDER = """
import os, pathlib, time
from django.db import transaction
from governance.ledger.chain import ledger_append

folder = pathlib.Path(os.environ["LEDGER_TEST_DIR"])
number = int(os.environ["LEDGER_TEST_WRITER"])
(folder / f"ready-{number}").touch()
deadline = time.monotonic() + 120
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
for i in range(int(os.environ["LEDGER_TEST_COUNT"])):
    with transaction.atomic():
        ledger_append(
            actor=None, kind="test.process", subjects=[f"writer:{number}"],
            data={"writer": number, "i": i},
        )
"""


def test_separate_processes_appending_at_once_make_one_chain(tmp_path: Path):
    environment = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "LEDGER_TEST_DIR": str(tmp_path),
        "LEDGER_TEST_COUNT": str(PER_PROCESS),
        "PYTHONUNBUFFERED": "1",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", APPENDER],
            cwd=ROOT,
            env={**environment, "LEDGER_TEST_WRITER": str(number)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for number in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(list(tmp_path.glob("ready-*"))) < PROCESSES:
            assert time.monotonic() < deadline, "the appenders did not start"
            assert all(p.poll() is None for p in processes), "an appender exited early"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        outputs = [p.communicate(timeout=START_TIMEOUT)[0].decode() for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [p.returncode for p in processes] == [0] * PROCESSES, "\n".join(outputs)
    assert_one_chain(PROCESSES, PER_PROCESS)
