"""`python -m bench [NAME ...]`: run the benchmarks, print one table, write bench/results/latest.*.

Each benchmark is a module with `run() -> list[dict]` (rows made by `bench.common.figure`) and,
optionally, a `details` dict it fills while running (sizes, raw percentiles, notes).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from bench import common

# Every benchmark `make bench` runs, in order. A new one is a module here and a line below.
BENCHMARKS: dict[str, str] = {
    "policy": "bench.policy",
    "ledger": "bench.ledger",
    "telemetry": "bench.telemetry",
    "api": "bench.api",
    "purge": "bench.purge",
}


def footer(env: dict) -> str:
    """How to read the table, and what it was measured on."""
    text = (
        "Ratio > 1 means Locus did better than the peer or baseline on that line. "
        f"Measured on {env['cpus']} CPUs, Python {env['python']}, {env['database']}; "
        f"a pure-Python reference loop (sum(range(1000))) took {env['python_speed_us']:.1f} µs"
    )
    if env["load_average"]:
        text += f", and the load average was {env['load_average'][0]:.2f} at the end"
    return text + "."


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    rows: list[dict] = []
    details: dict[str, dict] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        print(f"== {name} ==", flush=True)
        began = time.perf_counter()
        try:  # one broken benchmark must not throw away the others' figures
            module = importlib.import_module(BENCHMARKS[name])
            rows.extend(module.run())
        except Exception:
            traceback.print_exc()
            failed.append(name)
            details[name] = {"failed": traceback.format_exc(limit=5)}
            continue
        details[name] = {
            **getattr(module, "details", {}),
            "seconds": round(time.perf_counter() - began, 1),
        }
    env = common.environment()
    path = common.write_report(rows, details, env)
    report = "\n\n".join([common.table_markdown(rows), footer(env)])
    path.with_suffix(".md").write_text(report + "\n", encoding="utf-8")
    print()
    print(report)
    print(
        f"{len(rows)} figures in {time.perf_counter() - started:.0f} s; written to {path} (and .md)"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the tracebacks above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
