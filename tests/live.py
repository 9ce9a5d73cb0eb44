"""A real Locus server in a subprocess, serving the test database: Daphne (ASGI, what `make run`
and the Procfile's `ws` run) unless a test asks for granian (WSGI, the Procfile's `web`).

Use it as `from tests.live import live_locus, live_locus_process` and take `live_locus` (its
base URL) in a test.
It brings `transactional_db`, so what the test writes is committed and the server sees it, and
serialized rollback, so the reference data the migrations loaded is there again for each test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def held_port() -> socket.socket:
    """A socket bound to a TCP port the OS picks, not listening: while it is open the port is
    given to nobody else (no other server, no outgoing connection), so a server whose port must
    be known long before it starts can have it. Close it right before starting that server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # No SO_REUSEADDR: with it, a server that sets it too (Twisted, Node) could bind the port.
    sock.bind(("127.0.0.1", 0))
    return sock


def shared_database_url() -> str:
    """DATABASE_URL naming the database this test process is using right now."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("A live server needs a file-based SQLite test database, not memory")
        return f"sqlite:///{Path(name).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or ""
        # An IPv6 address goes in brackets; a socket directory is percent-encoded.
        host = f"[{host}]" if ":" in host else quote(host, safe="")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"
    pytest.fail(f"tests.live does not know how to share a {db['ENGINE']} database")


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = shared_database_url()
    # Connections closed after each request: the test's teardown flushes the tables.
    env["DB_CONN_MAX_AGE"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    # No second factor required (DATABASE_URL alone would require one): a server that tests
    # it says so in its own environment (tests/journeys/test_second_factor.py).
    env["SECOND_FACTOR_REQUIRED_ROLES"] = ""
    # A test writes, then asks the server at once: told by notification, the server could
    # answer in the moment before the notification arrives. Its processes read the revision
    # counters on every check instead (tests/governance/test_index_notifications.py tests the
    # notifications themselves).
    env["POLICY_INDEX_NOTIFICATIONS"] = "0"
    # Keys of their own in a Redis database other test processes use too: the authentication
    # cache names people by id, and another process's test database has other people under
    # the same ids.
    env["CACHE_KEY_PREFIX"] = f"live-{os.getpid()}-{connection.settings_dict['NAME']}"
    return env


class LiveServer:
    """One server process on a loopback port (Daphne unless `command`, which takes the port,
    says otherwise): `launch()` returns at once, `ready()` waits."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, command=None):
        self.log_dir = log_dir
        self.env = env or {}
        self.command = command or daphne_command
        self.name = "granian" if self.command is web_command else "Daphne"
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.base_url = ""

    def launch(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = self.log_dir / f"{self.name.lower()}-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(port),
                cwd=ROOT,
                env=server_environment() | self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def ready(self) -> str:
        """The base URL once /healthz answers; relaunches if another process took the port."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if self._wait_until_healthy(last_attempt=attempt == PORT_ATTEMPTS):
                return self.base_url
            self.launch()
        raise AssertionError("unreachable: the last attempt fails the test")

    def _output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def _wait_until_healthy(self, *, last_attempt: bool) -> bool:
        """True once /healthz answers; False to retry on another port if that one was taken."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    output = self._output()
                    taken = "Address already in use" in output or "Connection in use" in output
                    if taken and not last_attempt:
                        return False
                    pytest.fail(
                        f"{self.name} exited with {self.process.returncode} before serving:\n"
                        f"{output}"
                    )
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"{self.name} did not answer /healthz within {START_TIMEOUT_SECONDS:g} s:\n{self._output()}"
        )

    def __enter__(self) -> LiveServer:
        """Launched (not waited for: `ready()` does that) for the `with` block, stopped after."""
        self.launch()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def daphne_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "governance.asgi:application",
    ]


def web_command(port: int) -> list[str]:
    """The Procfile's `web` process (governance/web.py: granian), one worker with two threads."""
    from governance import web

    return web.command(port, threads=2)


@pytest.fixture
def live_locus_process(django_db_setup, tmp_path_factory):
    """Daphne, launched before the test's data is set up so that both start together."""
    with LiveServer(tmp_path_factory.mktemp("live-locus")) as server:
        yield server


@pytest.fixture
def live_locus(live_locus_process, transactional_db, django_db_serialized_rollback):
    """The base URL of a real Locus server reading and writing this test's database."""
    try:
        yield live_locus_process.ready()
    finally:
        # Stopped before transactional_db flushes the tables the server was using.
        live_locus_process.stop()


@pytest.fixture(scope="module")
def shared_live_locus_process(django_db_setup, tmp_path_factory):
    """One Daphne for every test of a module that takes `shared_live_locus`."""
    with LiveServer(tmp_path_factory.mktemp("live-locus")) as server:
        yield server


@pytest.fixture
def shared_live_locus(shared_live_locus_process, transactional_db, django_db_serialized_rollback):
    """Like `live_locus`, but the server outlives the test: for tests that need only a database
    of their own, not a fresh process. Its connections are idle between requests (they hold no
    lock), so the tables are flushed under it; what it caches follows the database (the policy
    index is keyed by revision stamps, new with every change)."""
    return shared_live_locus_process.ready()
