"""A private Redis for fault tests: its own process on its own port, so killing it never touches
the Redis that other tests share.

`PrivateRedis(tmp_dir)`: `start()` waits until it answers PING, `kill()` sends SIGKILL (no
shutdown, no save: whatever it held is gone), `start()` again brings it back on the same port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.live import free_port

START_TIMEOUT_SECONDS = 20.0


def redis_server_binary() -> str:
    """The path of redis-server; the test is skipped on a machine without one."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("needs the redis-server binary")
    return found


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """One redis-server without persistence, bound to loopback on a port of its own."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited at start:\n{self.output()}")
            if answers_ping(self.port):
                return
            time.sleep(0.05)
        pytest.fail(f"redis-server did not answer PING within {START_TIMEOUT_SECONDS:g} s")

    def output(self) -> str:
        return (self.directory / f"redis-{self.starts}.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the server vanishes with every connection and everything it held."""
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
