"""The API benchmark's server comparison: the same endpoints served by Daphne (ASGI, what
`make run` and the `ws` process run), by granian with threads (WSGI, the Procfile's `web`) and,
when installed, by gunicorn with threads (the WSGI server `web` ran before), one process each, on
the same database, by the same client, in interleaved rounds.

Each round runs, for each endpoint, on each server in turn (the order reversed every other
round), BENCH_API_SERVER_REQUESTS [200] requests from BENCH_API_SERVER_CLIENTS [4] client threads
at once (the standard library's http.client, keeping its connection alive): requests/s over the
round's wall time, the server's CPU time per request (user and system, its whole process tree,
from /proc), and how busy the server was (CPU time over wall time: about 1.0 when the server, not
the client, sets the pace). The figures are the medians of
BENCH_API_SERVER_ROUNDS [5] rounds. On a machine shared with other work, requests/s follows the machine's load
(a round's figure moved 2x between rounds when the load average was 11-16); the CPU per request
moves much less, and on a machine with nothing else to run it is what bounds requests/s per
core. A third server, Daphne with the authentication cache off (AUTH_CACHE_SECONDS=0: it still
asks Redis, then reads the database), comes close to the layout before the cache and the split.

Endpoints: the floor (`GET /api/v1/purposes/`, token), one check (`POST /api/v1/locality/check`,
token; a decision row and a ledger entry each) and a page (`GET /governance/rules/`, a session).

The same machinery compares the two layouts (`layouts()`, the API benchmark's part `layouts`):
before, Daphne with the authentication cache and the policy index's notifications off
(AUTH_CACHE_SECONDS=0, POLICY_INDEX_NOTIFICATIONS=0: every request reads the token's person and
its permissions, every check reads the revision counters); after, the Procfile's `web` process
(granian with threads, both on), and gunicorn in its place when installed. Each server's one process is pinned to one core
(BENCH_API_PIN_CPU [the last], `taskset`) and the client's threads to the others, so that the
figures are per process and the client does not take the server's core.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from bench import common

REQUESTS = common.env_int("BENCH_API_SERVER_REQUESTS", 200)
CLIENTS = common.env_int("BENCH_API_SERVER_CLIENTS", 4)
ROUNDS = common.env_int("BENCH_API_SERVER_ROUNDS", 5)
THREADS = 4  # each WSGI server's threads in its one worker process
PAGE = "/governance/rules/"
DAPHNE = "Daphne"
GRANIAN = f"granian (1 worker, {THREADS} threads)"
GUNICORN = f"gunicorn gthread (1 worker, {THREADS} threads)"
BEFORE = "Daphne, auth cache off"
LAYOUT_BEFORE = "before: Daphne, auth cache and index notifications off"
LAYOUT_AFTER = f"after: granian ({THREADS} threads), cache and notifications on"
# The WSGI server `web` ran before granian, in the after layout too (when installed: `make
# bench` installs it).
LAYOUT_GUNICORN = f"after, gunicorn gthread ({THREADS} threads), cache and notifications on"
# The single check's requests/s per process, after over before: at least this.
LAYOUT_TARGET = 2.5

Request = tuple[str, str, dict]


def _has_gunicorn() -> bool:
    return importlib.util.find_spec("gunicorn") is not None


def configurations(env: dict[str, str]) -> dict[str, tuple[dict[str, str], Callable]]:
    """Each server's environment and command (it takes the port)."""
    found = {
        DAPHNE: (env, common.daphne_command),
        GRANIAN: (env, partial(common.web_command, threads=THREADS)),
        BEFORE: ({**env, "AUTH_CACHE_SECONDS": "0"}, common.daphne_command),
    }
    if _has_gunicorn():
        found[GUNICORN] = (env, partial(common.gunicorn_command, workers=1, threads=THREADS))
    return found


def layouts(
    env: dict[str, str], cpu: int | None = None
) -> dict[str, tuple[dict[str, str], Callable]]:
    """Today's layout and the one before it, each server pinned to `cpu` when given."""
    before = {**env, "AUTH_CACHE_SECONDS": "0", "POLICY_INDEX_NOTIFICATIONS": "0"}
    after = {**env, "AUTH_CACHE_SECONDS": "300", "POLICY_INDEX_NOTIFICATIONS": "1"}
    found = {
        LAYOUT_BEFORE: (before, pinned(common.daphne_command, cpu)),
        LAYOUT_AFTER: (after, pinned(partial(common.web_command, threads=THREADS), cpu)),
    }
    if _has_gunicorn():
        gunicorn = partial(common.gunicorn_command, workers=1, threads=THREADS)
        found[LAYOUT_GUNICORN] = (after, pinned(gunicorn, cpu))
    return found


def pinned(command: Callable[[int], list[str]], cpu: int | None) -> Callable[[int], list[str]]:
    """`command` run on core `cpu` alone (`taskset`; the process keeps the same id)."""
    if cpu is None:
        return command
    return lambda port: ["taskset", "-c", str(cpu), *command(port)]


def server_cpu() -> int | None:
    """The core the compared servers run on: BENCH_API_PIN_CPU, else the last one; None (no
    pinning) on one core or without `taskset`."""
    import shutil

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None
    return common.env_int("BENCH_API_PIN_CPU", cpus[-1])


def session_cookie(user) -> str:
    """A signed-in session of `user`, as its Cookie header."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _run(base_url: str, headers: dict[str, str], requests: Sequence[Request], errors: list):
    """One client thread: its requests in turn on one kept-alive connection.

    The standard library's http.client, not httpx: it costs the client a fraction of the CPU
    per request (no pools, hooks or URL objects), so the client's core, which PostgreSQL shares,
    keeps ahead of the server's and requests/s measures the server. JSON bodies are encoded
    once per distinct body."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    encoded: dict[int, bytes] = {}
    try:
        for method, url, kwargs in requests:
            send = dict(headers)
            body = None
            if "json" in kwargs:
                key = id(kwargs["json"])
                if key not in encoded:
                    encoded[key] = json.dumps(kwargs["json"]).encode()
                body = encoded[key]
                send["Content-Type"] = "application/json"
            connection.request(method, url, body=body, headers=send)
            answer = connection.getresponse()
            content = answer.read()
            if answer.status != 200:
                errors.append(f"{method} {url}: {answer.status} {content[:300]!r}")
                return
    finally:
        connection.close()


def load(
    servers: common.Servers, headers: dict[str, str], requests: Sequence[Request]
) -> dict[str, float]:
    """The requests from CLIENTS threads at once: requests/s, the server's CPU ms per request,
    and how busy the server was (its CPU time over the wall time: near 1.0 for one process on
    one core means the server, not the client, set the pace)."""
    errors: list[str] = []
    shares = [requests[n::CLIENTS] for n in range(CLIENTS)]
    threads = [
        threading.Thread(target=_run, args=(servers.urls[0], headers, share, errors))
        for share in shares
    ]
    cpu = servers.cpu_seconds()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cpu = servers.cpu_seconds() - cpu
    if errors:
        raise RuntimeError(errors[0])
    return {
        "per_s": len(requests) / wall,
        "cpu_ms": cpu * 1000 / len(requests),
        "busy": cpu / wall,
    }


def measure(
    env: dict[str, str],
    workloads: dict[str, tuple[dict[str, str], Callable[[int], Sequence[Request]]]],
    log: Callable[[str], None],
    servers_run: dict[str, tuple[dict[str, str], Callable]] | None = None,
    client_cpus: set[int] | None = None,
) -> dict:
    """Every workload on every server (`servers_run`, default `configurations(env)`), ROUNDS
    interleaved rounds; medians per (server, workload), and each round's figures. `workloads`
    maps a name to (headers, make) where make(n) gives n requests. With `client_cpus` this
    process (the client) runs on those cores only while it measures."""
    import contextlib

    rounds: dict[str, dict[str, list[dict]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(common.Servers(server_env, 1, "servers", command))
            for name, (server_env, command) in (servers_run or configurations(env)).items()
        }
        if client_cpus:
            stack.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
            os.sched_setaffinity(0, client_cpus)
        for name, server in servers.items():  # warm: imports, connections, the policy index
            for headers, make in workloads.values():
                _run(server.urls[0], headers, make(20), errors := [])
                if errors:
                    raise RuntimeError(f"{name}: {errors[0]}")
        order = list(servers)
        for number in range(ROUNDS):
            for workload, (headers, make) in workloads.items():
                for name in order if number % 2 == 0 else order[::-1]:
                    found = load(servers[name], headers, make(REQUESTS))
                    rounds.setdefault(name, {}).setdefault(workload, []).append(found)
            log(f"server round {number + 1} of {ROUNDS} done; load {os.getloadavg()[0]:.2f}")
    medians = {
        name: {
            workload: {
                key: statistics.median(r[key] for r in results)
                for key in ("per_s", "cpu_ms", "busy")
            }
            for workload, results in found.items()
        }
        for name, found in rounds.items()
    }
    for workload in workloads:
        log(
            f"{workload}: "
            + "; ".join(
                f"{name} {medians[name][workload]['per_s']:.0f}/s "
                f"{medians[name][workload]['cpu_ms']:.1f} ms CPU, "
                f"busy {medians[name][workload]['busy']:.2f}"
                for name in medians
            )
        )
    return {
        "medians": medians,
        "rounds": rounds,
        "requests": REQUESTS,
        "clients": CLIENTS,
        "rounds_count": ROUNDS,
    }


def figures(benchmark: str, result: dict) -> list[dict]:
    """granian (the `web` process) beside Daphne, Daphne before the auth cache and gunicorn,
    per workload."""
    rows = []
    medians = result["medians"]
    note = f"{result['clients']} clients, medians of {result['rounds_count']} interleaved rounds"
    for workload in medians[GRANIAN]:
        new = medians[GRANIAN][workload]
        for peer in [name for name in (DAPHNE, BEFORE, GUNICORN) if name in medians]:
            old = medians[peer][workload]
            rows.append(
                common.figure(
                    benchmark,
                    f"{workload}, requests/s, {GRANIAN}",
                    round(new["per_s"], 1),
                    "1/s",
                    peer=f"{peer}, 1 process",
                    peer_value=round(old["per_s"], 1),
                    better="higher",
                    note=note if peer == DAPHNE else "",
                )
            )
            rows.append(
                common.figure(
                    benchmark,
                    f"{workload}, server CPU per request, {GRANIAN}",
                    round(new["cpu_ms"], 2),
                    "ms",
                    peer=f"{peer}, 1 process",
                    peer_value=round(old["cpu_ms"], 2),
                )
            )
    return rows


def layout_figures(benchmark: str, result: dict) -> list[dict]:
    """After beside before per workload: requests/s per process and CPU per request; the
    single check's requests/s against the target."""
    rows = []
    medians = result["medians"]
    note = (
        f"{result['clients']} clients, medians of {result['rounds_count']} interleaved rounds, "
        f"server on core {result.get('server_cpu')}; load {result.get('load')}"
    )
    for layout, workload in [(n, w) for n in medians if n != LAYOUT_BEFORE for w in medians[n]]:
        new, old = medians[layout][workload], medians[LAYOUT_BEFORE][workload]
        check = "check" in workload and layout == LAYOUT_AFTER
        ratio = new["per_s"] / old["per_s"] if old["per_s"] else 0.0
        rows.append(
            common.figure(
                benchmark,
                f"{workload}, requests/s per process, {layout}",
                round(new["per_s"], 1),
                "1/s",
                peer=LAYOUT_BEFORE,
                peer_value=round(old["per_s"], 1),
                better="higher",
                target=f">= {LAYOUT_TARGET}x" if check else "",
                met=ratio >= LAYOUT_TARGET if check else None,
                note=f"{note}; server busy {new.get('busy', 0):.2f} of its core "
                f"(before {old.get('busy', 0):.2f})",
            )
        )
        rows.append(
            common.figure(
                benchmark,
                f"{workload}, server CPU per request, {layout}",
                round(new["cpu_ms"], 2),
                "ms",
                peer=LAYOUT_BEFORE,
                peer_value=round(old["cpu_ms"], 2),
            )
        )
    return rows
