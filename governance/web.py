"""The HTTP process (Procfile `web`, README "Production layout"): granian serving the pages and
the API over WSGI; WebSockets are the ASGI process's (Procfile `ws`).

`python -m governance.web [--host H] [--port P] [--workers N] [--threads N]`; each defaults to
the environment: WEB_HOST (0.0.0.0), PORT (8000), WEB_CONCURRENCY (2 worker processes) and
WEB_THREADS (4 threads a worker, each serving one request at a time with its own database
connection from the worker's pool: DB_POOL_MAX_SIZE, default 10, must be at least WEB_THREADS).
WEB_ACCESS_LOG=1 writes an access line a request (off: Django's own lines carry the request id).

granian over gunicorn: its HTTP is written in Rust, and a check costs less server CPU than on
gunicorn's threads (bench/api.py, part `layouts`: README "Benchmarks").
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from granian.constants import Interfaces
from granian.server import Server

APPLICATION = "governance.wsgi:application"
# How long a worker finishing its requests may take after it is told to stop, before it is killed.
STOP_SECONDS = 30


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m governance.web", description=__doc__)
    env = os.environ.get
    parser.add_argument("--host", default=env("WEB_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(env("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(env("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(env("WEB_THREADS", "4")))
    return parser.parse_args(argv)


def server(options: argparse.Namespace) -> Any:  # granian picks Server's class at import
    return Server(
        APPLICATION,
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        workers=options.workers,
        blocking_threads=options.threads,
        websockets=False,
        respawn_failed_workers=True,  # a worker that dies is replaced
        workers_kill_timeout=STOP_SECONDS,
        log_access=os.environ.get("WEB_ACCESS_LOG", "") not in ("", "0"),
    )


def command(port: int, *, threads: int, host: str = "127.0.0.1") -> list[str]:
    """This process as a command line, one worker process (tests and benchmarks start it)."""
    options = ["--host", host, "--port", str(port), "--workers", "1", "--threads", str(threads)]
    return [sys.executable, "-m", "governance.web", *options]


if __name__ == "__main__":
    server(arguments()).serve()
