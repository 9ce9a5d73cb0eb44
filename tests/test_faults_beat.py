"""Celery beat through a PostgreSQL outage (its port cut by a proxy in front of it).

The real beat process runs with the production scheduler (django-celery-beat's schedules in the
database) and one entry made due every second, sending to a queue of this test's own that no
worker reads, so every tick it sends is a message left on Redis. Held: beat sends before the
outage, is still running through it (having failed to read its schedule several times over, as
its pause between tries grows; one failed read ended the process before), reads its schedule
again and sends once the database is back.

The outage lasts until beat has failed to read its schedule FAILED_READS times, not for a
length of time: what is held is that beat survives each failed read, and that its next try after
the outage (at most the last pause later) succeeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.live import ROOT, server_environment, shared_database_url
from tests.proxy import CuttableProxy
from tests.worker import wait_for

pytestmark = pytest.mark.live

# The first read fails, then the tries after pauses of 1 and 2 s (governance.beat's backoff), so
# that the outage covers several reads and a grown pause, as a long one would.
FAILED_READS = 3
FAILED_READ = "could not read its schedule (the database is unavailable"
START_TIMEOUT_SECONDS = 90.0
OUTAGE_TIMEOUT_SECONDS = 120.0
RECOVERY_TIMEOUT_SECONDS = 120.0


class Beat:
    """One `celery beat` process; its log in log_dir."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_path = log_dir / "beat.log"
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "governance.celery", "beat", "-l", "info"],
                cwd=ROOT,
                env=server_environment() | self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def beat_behind_proxy(transactional_db, django_db_serialized_rollback, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the outage is of PostgreSQL")
    if not os.environ.get("REDIS_URL"):
        pytest.skip("beat sends to a real broker: needs REDIS_URL")
    settings = connection.settings_dict
    proxy = CuttableProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))
    url = shared_database_url().replace(
        f"{settings['HOST']}:{settings['PORT']}", f"127.0.0.1:{proxy.port}"
    )
    queue = f"locus-test-beat-{os.getpid()}"
    broker = redis.Redis.from_url(os.environ["REDIS_URL"])
    broker.delete(queue)
    beat = Beat(
        tmp_path,
        {
            "DATABASE_URL": url,
            "DB_POOL_TIMEOUT": "1",  # how long a read waits before it fails
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "EXCEPTIONS_DUE_SECONDS": "1",
            # The whole schedule is read again every few seconds (in production, every five
            # minutes), so that the outage covers many such reads, as a long one would.
            "BEAT_FULL_READ_SECONDS": "5",
        },
    )
    beat.start()
    try:
        yield beat, proxy, lambda: broker.llen(queue)
    finally:
        beat.stop()
        proxy.close()
        broker.delete(queue)
        broker.close()


def test_beat_keeps_running_through_a_database_outage(beat_behind_proxy):
    beat, proxy, sent = beat_behind_proxy

    def sending_again(after: int):
        def check() -> bool:
            assert beat.alive(), f"beat exited:\n{beat.output()}"
            return sent() > after

        return check

    wait_for(sending_again(0), timeout=START_TIMEOUT_SECONDS, what="beat's first tick")
    failed_before = beat.output().count(FAILED_READ)  # a slow start may have failed one too
    proxy.cut()

    def failed_reads() -> bool:
        assert beat.alive(), f"beat exited during the outage:\n{beat.output()}"
        return beat.output().count(FAILED_READ) >= failed_before + FAILED_READS

    wait_for(failed_reads, timeout=OUTAGE_TIMEOUT_SECONDS, what=f"{FAILED_READS} failed reads")
    assert beat.alive(), f"beat exited during the outage:\n{beat.output()}"
    before_recovery = sent()
    proxy.restore()
    wait_for(
        lambda: "reads its schedule from the database again" in beat.output(),
        timeout=RECOVERY_TIMEOUT_SECONDS,
        what="beat to read its schedule again",
    )
    wait_for(
        sending_again(before_recovery),
        timeout=RECOVERY_TIMEOUT_SECONDS,
        what="beat to send again after the outage",
    )
    assert beat.alive()
