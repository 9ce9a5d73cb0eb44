"""A real streaming replica of the test's PostgreSQL, for the read-replica tests.

`StreamingReplica(primary_settings)`: `start()` takes a base backup of the primary's server
(`pg_basebackup`, WAL streamed, standby settings written), starts it as a hot standby on a port of
its own under a temporary directory and waits until it streams; `stop()` stops it (immediately,
killing it if pg_ctl cannot) and removes the directory. PostgreSQL refuses to run as root: as
root, every server command runs as the `postgres` user.

Skips the test, saying why, when the machine has no PostgreSQL server binaries or the primary
refuses replication connections (pg_hba.conf needs a `replication` line for the test's address:
`host replication all 127.0.0.1/32 trust`, which .ci/run adds).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.live import free_port

# Limits for a broken start, not speeds to reach: each wait ends as soon as its event happens.
BACKUP_TIMEOUT_SECONDS = 600
START_TIMEOUT_SECONDS = 300
STREAMING_TIMEOUT_SECONDS = 300
BACKUP_ATTEMPTS = 3
BACKUP_LOCK = Path(tempfile.gettempdir()) / "locus-test-pg-basebackup.lock"
# A hot standby must allow at least as much as its primary for these (else it refuses to start).
MATCHED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def server_binaries(major: int) -> Path:
    """The directory of pg_basebackup and pg_ctl of that major version (Debian's layout, else
    the PATH's)."""
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    if (debian / "pg_ctl").exists():
        return debian
    found = shutil.which("pg_ctl")
    if found is None:
        pytest.skip(f"needs the PostgreSQL {major} server binaries (pg_basebackup, pg_ctl)")
    return Path(found).parent


class StreamingReplica:
    """One hot standby of the primary that `primary` (a Django settings_dict) points at."""

    def __init__(self, primary: dict):
        self.primary = primary
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="locus-replica-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.as_postgres = os.geteuid() == 0
        self.binaries = Path()
        self.started = False

    # --- running -------------------------------------------------------------------------

    def _command(self, *arguments: str | Path) -> list[str]:
        words = [str(a) for a in arguments]
        return ["runuser", "-u", "postgres", "--", *words] if self.as_postgres else words

    def _run(self, *arguments: str | Path, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._command(*arguments),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.directory,
        )

    def start(self) -> None:
        with self.connect_primary() as connection:
            version = connection.execute("SHOW server_version_num").fetchone()[0]  # type: ignore[index]
        self.binaries = server_binaries(int(version) // 10000)
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._base_backup()
        self._configure()
        done = self._run(
            self.binaries / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
            timeout=START_TIMEOUT_SECONDS + 30,
        )
        self.started = True
        if done.returncode != 0:
            pytest.fail(f"the replica did not start:\n{done.stderr}\n{self.server_log()}")
        self._wait_until_streaming()

    def _base_backup(self) -> None:
        """pg_basebackup, one at a time on this machine (another test process, or another run,
        may be taking one): its WAL streamer makes its temporary slot only once the backup has
        begun, and a second backup's checkpoint in between may recycle the WAL the first one
        starts from ("requested WAL segment ... has already been removed"). A file lock keeps
        backups apart; a backup that still loses that race (an ordinary checkpoint) is taken
        again."""
        with BACKUP_LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for _ in range(BACKUP_ATTEMPTS):
                done = self._backup_once()
                if done.returncode == 0 or "has already been removed" not in done.stderr:
                    break
                shutil.rmtree(self.data, ignore_errors=True)
        if done.returncode == 0:
            return
        if "replication connection" in done.stderr or "pg_hba.conf" in done.stderr:
            pytest.skip(
                "the test's PostgreSQL refuses replication connections: add "
                "`host replication all 127.0.0.1/32 trust` to its pg_hba.conf and reload "
                f"({done.stderr.strip()})"
            )
        pytest.fail(f"pg_basebackup failed:\n{done.stderr}")

    def _backup_once(self) -> subprocess.CompletedProcess:
        return self._run(
            self.binaries / "pg_basebackup",
            "-h",
            self.primary["HOST"] or "127.0.0.1",
            "-p",
            str(self.primary["PORT"] or 5432),
            "-U",
            self.primary["USER"] or "postgres",
            "-D",
            self.data,
            "-X",
            "stream",
            "-R",  # standby.signal and primary_conninfo: it follows the primary once started
            "-c",
            "fast",
            "--no-sync",
            timeout=BACKUP_TIMEOUT_SECONDS,
        )

    def _configure(self) -> None:
        """The server's own files (Debian keeps the primary's outside its data directory)."""
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.directory}'",
            "hot_standby = on",
            "shared_buffers = 16MB",
            "fsync = off",
            *(f"{name} = {value}" for name, value in self._primary_settings().items()),
        ]
        files = {
            "postgresql.conf": "\n".join(lines) + "\n",
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            self._write(self.data / name, text)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(path, user.pw_uid, user.pw_gid)

    def _primary_settings(self) -> dict[str, str]:
        with self.connect_primary() as connection:
            return {
                name: connection.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in MATCHED_SETTINGS
            }

    def _wait_until_streaming(self) -> None:
        deadline = time.monotonic() + STREAMING_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with self.connect() as connection:
                    row = connection.execute(
                        "SELECT pg_is_in_recovery(), EXISTS (SELECT 1 FROM pg_stat_wal_receiver)"
                    ).fetchone()
                    if row == (True, True):
                        return
            except psycopg.OperationalError:
                pass  # still recovering up to a consistent state
            time.sleep(0.2)
        pytest.fail(f"the replica never streamed from the primary:\n{self.server_log()}")

    # --- reaching it -----------------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.primary["USER"] or "postgres",
            dbname=self.primary["NAME"],
            autocommit=True,
        )

    def connect_primary(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.primary["HOST"] or "127.0.0.1",
            port=self.primary["PORT"] or 5432,
            user=self.primary["USER"] or "postgres",
            dbname=self.primary["NAME"],
            autocommit=True,
        )

    def settings_dict(self) -> dict:
        """A Django settings_dict for the replica: the primary's, on the replica's port, no pool
        (so that nothing stays connected after a test), mirroring `default` for the test runner
        (which never creates, flushes or drops anything on it)."""
        options = {k: v for k, v in self.primary.get("OPTIONS", {}).items() if k != "pool"}
        return {
            **self.primary,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "OPTIONS": options,
            "CONN_MAX_AGE": 0,
            "TEST": {**self.primary.get("TEST", {}), "MIRROR": "default"},
        }

    def pause_replay(self) -> None:
        with self.connect() as connection:
            connection.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.connect() as connection:
            connection.execute("SELECT pg_wal_replay_resume()")

    def server_log(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return "(no server log)"

    # --- stopping --------------------------------------------------------------------------

    def stop(self) -> None:
        try:
            if self.started:
                self._stop_server()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _stop_server(self) -> None:
        try:
            done = self._run(
                self.binaries / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", timeout=60
            )
            if done.returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        self._kill()

    def _kill(self) -> None:
        """SIGKILL the postmaster named in postmaster.pid (its children exit with it)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
