"""A real Celery worker in a subprocess, on Redis, working on the test database.

Take `celery_worker` in a test (it brings `transactional_db` with serialized rollback, so what
the test writes is committed and the worker sees it). Each test process gets its own queue, so
parallel test processes never take each other's tasks. Without REDIS_URL the test is skipped:
the embedded default runs tasks in-process and has no worker to test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live import ROOT, server_environment

START_TIMEOUT_SECONDS = 60.0


class CeleryWorker:
    """One solo-pool worker; `start()` waits until it is ready, `kill()` sends SIGKILL."""

    def __init__(self, log_dir: Path, queue: str):
        self.log_dir = log_dir
        self.queue = queue
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"worker-{self.starts}.log"
        env = server_environment()
        env["CELERY_TASK_DEFAULT_QUEUE"] = self.queue
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "governance.celery",
                    "worker",
                    "--pool=solo",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    self.queue,
                    "-n",
                    f"{self.queue}-{self.starts}@%h",
                    "-l",
                    "info",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"The Celery worker exited at start:\n{self.output()}")
            if " ready." in self.output():
                return
            time.sleep(0.1)
        pytest.fail(f"The Celery worker was not ready in {START_TIMEOUT_SECONDS:g} s")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: the worker dies without finishing or acknowledging what it holds."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(condition, timeout: float = 60.0, what: str = "the condition"):
    """Poll condition() until it returns something true; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"Timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def celery_worker(transactional_db, django_db_serialized_rollback, tmp_path_factory):
    """A started worker on this test process's own queue; tasks sent by the test go to it."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("a real Celery worker needs REDIS_URL (the embedded default runs tasks inline)")
    from governance.celery import app

    queue = f"locus-test-{os.getpid()}"
    before = (app.conf.task_default_queue, app.conf.task_always_eager)
    app.conf.task_default_queue, app.conf.task_always_eager = queue, False
    # Leftovers of an earlier test on this queue must not run against this test's data.
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    worker = CeleryWorker(tmp_path_factory.mktemp("celery-worker"), queue)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_default_queue, app.conf.task_always_eager = before
