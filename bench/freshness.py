"""The policy index's freshness, before and after notifications, in one run (part of
`bench/api.py`).

Two Daphne processes on the API benchmark's database: one reads the revision counters on every
check, as every check did before (POLICY_INDEX_NOTIFICATIONS=0), the other learns of changes by
LISTEN/NOTIFY (README "Policy index freshness"). The same single checks go to both, interleaved
request by request (which goes first alternates), from one client: p50/p95 of each, and each
server's CPU time per check (from /proc, user + system, over the timed requests only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from bench import common

CHECK = "/api/v1/locality/check"
WARM = 20


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": common.percentile(ordered, 50) * 1000,
        "p95_ms": common.percentile(ordered, 95) * 1000,
    }


def measure(env: dict[str, str], token: str, bodies: Sequence[dict]) -> dict:
    """Single checks against a server that reads the counters and one that is notified."""
    import httpx

    variants = {"counters": "0", "notified": "1"}
    servers = {
        name: common.Servers({**env, "POLICY_INDEX_NOTIFICATIONS": flag}, 1, f"fresh-{name}")
        for name, flag in variants.items()
    }
    headers = {"Authorization": f"Token {token}"}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, float] = {}
    with servers["counters"], servers["notified"], httpx.Client(headers=headers) as client:
        urls = {name: f"{s.urls[0]}{CHECK}" for name, s in servers.items()}
        for body in bodies[:WARM]:
            for url in urls.values():
                client.post(url, json=body, timeout=120).raise_for_status()
        pids = {name: s.processes[0].pid for name, s in servers.items()}
        before = {name: _cpu_s(pid) for name, pid in pids.items()}
        for turn, body in enumerate(bodies):
            order = list(variants) if turn % 2 == 0 else list(reversed(variants))
            for name in order:
                began = time.perf_counter()
                client.post(urls[name], json=body, timeout=120).raise_for_status()
                samples[name].append(time.perf_counter() - began)
        cpu = {name: _cpu_s(pid) - before[name] for name, pid in pids.items()}
    return {
        name: {**_percentiles(samples[name]), "cpu_ms_per_check": cpu[name] / len(bodies) * 1000}
        for name in variants
    }


def figures(result: dict) -> list[dict]:
    rows = []
    before, after = result["counters"], result["notified"]
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("cpu_ms_per_check", "server CPU")):
        rows.append(
            common.figure(
                "api",
                f"POST {CHECK}, one check, {label}, index freshness notified",
                round(after[key], 3),
                "ms",
                peer="counters read on every check (before)",
                peer_value=round(before[key], 3),
            )
        )
    return rows
