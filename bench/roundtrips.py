"""Round trips of one request to PostgreSQL, counted on the wire (part of `bench/api.py`).

The request runs in this process through Django's test client, on the API benchmark's database
and settings (its connection pool, the authentication cache on its Redis database, the policy
index's notifications), with libpq's trace on every connection of the pool: each round trip
ends with the server's ReadyForQuery, whatever sent it (the statements Django logs, BEGIN and
COMMIT, and the pool's health check of a connection as it leaves the pool, which Django does not
log). Beside it, the statements Django logged (CaptureQueriesContext, as the query-count tests
count them).

Cold: the authentication cache emptied and the policy index forgotten (the first request after
a deployment); its figure includes compiling the index, whose statements are given apart.
Warm: the same request again.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import common

CHECK = "/api/v1/locality/check"
FLOOR = "/api/v1/purposes/"
LISTEN_LIMIT = 60.0  # seconds: a bound for the listener to subscribe, not a speed


def _pool_connections(folder: Path) -> list[tuple[object, Path]]:
    """Every connection of the default pool, each tracing into a file of its own. The pool
    hands its connections out in turn (first in, first out), so taking one and giving it back
    as many times as the pool holds connections visits each once."""
    from django.db import connection

    traced: dict[int, tuple[object, Path]] = {}
    for _ in range(max(1, connection.pool.get_stats().get("pool_size", 1))):
        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        if id(pgconn) not in traced:
            path = folder / f"conn-{len(traced)}.trace"
            with path.open("wb") as handle:
                # libpq's stream owns the descriptor it is given (and never closes it): a copy.
                pgconn.trace(os.dup(handle.fileno()))
            pgconn.set_trace_flags(_flags())
            traced[id(pgconn)] = (pgconn, path)
        connection.close()
    return list(traced.values())


def _flags():
    from psycopg import pq

    return pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE


@contextmanager
def _wire() -> Iterator[dict]:
    """Round trips (ReadyForQuery) and pool checks (an empty query) made inside the block."""
    found: dict = {}
    with tempfile.TemporaryDirectory(prefix="locus-bench-wire-") as folder:
        traced = _pool_connections(Path(folder))
        try:
            yield found
        finally:
            for pgconn, _ in traced:
                pgconn.untrace()  # type: ignore[attr-defined]
        lines = [
            line
            for _, path in traced
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        ]
    found["round_trips"] = sum(1 for line in lines if "\tReadyForQuery" in line)
    found["sent"] = [line[:100] for line in lines if line.startswith("F\t")]
    found["pool_checks"] = sum(
        1 for line in lines if line.startswith("F\t") and line.endswith('Query\t ""')
    )


def on_the_wire(client, method: str, path: str, body: dict | None) -> dict:
    """One request through `client`: its round trips, pool checks and logged statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with _wire() as wire, CaptureQueriesContext(connection) as captured:
        if method == "POST":
            answer = client.post(path, body, content_type="application/json")
        else:
            answer = client.get(path)
        # A server gives the connection back to the pool when the request ends; Django's test
        # client keeps it, so this does.
        connection.close()
    if answer.status_code != 200:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.content[:300]!r}")
    statements = [q["sql"] for q in captured.captured_queries]
    return {**wire, "statements": len(statements), "sql": [s[:120] for s in statements]}


def pool_check_cost(rounds: int = 2_000) -> dict:
    """What the pool's health check costs this process, a call at a time, on a pooled
    connection: wall time and this thread's CPU time (psycopg_pool's check_connection, an empty
    query: one round trip)."""
    from django.db import connection
    from psycopg_pool import ConnectionPool

    connection.ensure_connection()
    raw = connection.connection
    began, cpu = time.perf_counter(), time.thread_time()
    for _ in range(rounds):
        ConnectionPool.check_connection(raw)
    wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
    connection.close()
    return {"rounds": rounds, "wall_us": wall / rounds * 1e6, "cpu_us": cpu / rounds * 1e6}


def _compile_statements() -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.policy.index import compile_index

    with CaptureQueriesContext(connection) as captured:
        compile_index()
    return len(captured.captured_queries)


def _cold() -> None:
    """The authentication cache emptied, the policy index forgotten."""
    from django.core.cache import cache

    from governance.policy.index import forget_index

    cache.clear()
    forget_index()


def measure(token: str, body: dict) -> dict:
    """Round trips of one check and of the floor, cold and warm."""
    from django.test import Client

    from catalog import revision_notices

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    client.post(CHECK, body, content_type="application/json")  # starts the listener
    subscribed = revision_notices.wait_for(lambda now, up, notice: up, LISTEN_LIMIT)
    result: dict = {"listening": subscribed, "compile_statements": _compile_statements()}
    for name, method, path in (("check", "POST", CHECK), ("floor", "GET", FLOOR)):
        _cold()
        result[name] = {
            "cold": on_the_wire(client, method, path, body),
            "warm": on_the_wire(client, method, path, body),
        }
    result["pool_check"] = pool_check_cost()
    return result


def figures(result: dict) -> list[dict]:
    rows = []
    for name, label in (("check", f"POST {CHECK}, one check"), ("floor", f"GET {FLOOR}")):
        for state in ("cold", "warm"):
            found = result[name][state]
            note = f"{found['pool_checks']} of them the pool's health check"
            if state == "cold":
                note += f"; compiling the policy index: {result['compile_statements']}"
            rows.append(
                common.figure(
                    "api",
                    f"{label}, round trips to PostgreSQL, {state}",
                    found["round_trips"],
                    "",
                    peer="statements Django logged (BEGIN, COMMIT included)",
                    peer_value=found["statements"],
                    note=note,
                )
            )
    check = result["pool_check"]
    rows.append(
        common.figure(
            "api",
            "the pool's health check of a connection (one a request), wall time",
            round(check["wall_us"], 1),
            "µs",
            note=f"client CPU {check['cpu_us']:.1f} µs; mean of {check['rounds']:,} calls",
        )
    )
    return rows
