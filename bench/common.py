"""What every benchmark shares: the throwaway database, percentiles, figures and the report table.

A figure is a dict (see `figure()`): the value measured for Locus, and, where there is one, the
peer or baseline it is compared with in the same run and their ratio. The ratio is oriented so
that above 1 always means Locus did better (lower latency, higher throughput).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/locus_bench"
COLUMNS = ("benchmark", "metric", "value", "unit", "peer/baseline", "peer value", "ratio", "target")

_database_url: str | None = None


def env_int(name: str, default: int) -> int:
    """A size from the environment (BENCH_DATASETS=10000 and the like)."""
    value = os.environ.get(name, "").replace("_", "").strip()
    return int(value) if value else default


# --- The throwaway database ---------------------------------------------------------------


def _postgres_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1.0):
            return True
    except OSError:
        return False


def _refuse_unless_throwaway(name: str) -> None:
    if "bench" not in name.lower():
        raise SystemExit(
            f"The benchmark drops and recreates its database; {name!r} does not look like a "
            "throwaway one. Name a database (or SQLite file) whose name contains 'bench'."
        )


def _recreate_postgres(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    _refuse_unless_throwaway(name)
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _recreate_sqlite(url: str) -> None:
    path = Path(unquote(urlsplit(url).path))
    _refuse_unless_throwaway(path.name)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def choose_database_url() -> str:
    """BENCH_DATABASE_URL, else the local PostgreSQL if it answers, else a temporary SQLite file."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        return given
    if _postgres_reachable(DEFAULT_POSTGRES_URL):
        return DEFAULT_POSTGRES_URL
    folder = tempfile.mkdtemp(prefix="locus-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return f"sqlite:///{Path(folder) / 'locus_bench.sqlite3'}"


def setup_django() -> str:
    """Once per process: a fresh, migrated benchmark database, and Django set up on it."""
    global _database_url
    if _database_url is not None:
        return _database_url
    url = choose_database_url()
    if url.startswith(("postgres://", "postgresql://", "pgsql://")):
        _recreate_postgres(url)
    elif url.startswith("sqlite:"):
        _recreate_sqlite(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measure what production runs (DEBUG off: no query log); the server subprocess inherits it.
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    production_keys(os.environ)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    _database_url = url
    return url


def production_keys(env, name: str = "locus") -> None:
    """The keys production refuses to start without (each its own, not SECRET_KEY); fixed per
    benchmark, so that every process of one run seals and signs alike."""
    env.setdefault("SUBJECT_DATA_KEY", f"{name}-benchmark-subject-data-key")
    env.setdefault("LEDGER_PSEUDONYM_KEY", f"{name}-benchmark-pseudonym-key")
    seed = hashlib.sha256(f"{name}-benchmark-signing-key".encode()).digest()
    env.setdefault("LEDGER_SIGNING_KEY", base64.b64encode(seed).decode())


def database_kind(url: str) -> str:
    return "postgresql" if url.startswith(("postgres", "pgsql")) else "sqlite"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Benchmarks that serve: web processes on their own PostgreSQL and Redis databases --------


def served_database_url(default: str) -> str:
    """BENCH_DATABASE_URL if it names a PostgreSQL database, else the benchmark's default."""
    given = os.environ.get("BENCH_DATABASE_URL", "")
    return given if given.startswith(("postgres://", "postgresql://")) else default


def server_env(name: str, url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """What a serving benchmark's web processes and its own process run with: production
    settings on its PostgreSQL and Redis databases. No worker: the few tasks (officers'
    e-mails) wait in a queue of its own, in its Redis database, emptied at each run's start."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="governance.settings",
        DJANGO_DEBUG="0",
        SECRET_KEY=env.get("SECRET_KEY") or f"locus-{name}-benchmark-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_TASK_DEFAULT_QUEUE=f"locus-bench-{name}",
        PYTHONUNBUFFERED="1",
        # The benchmarks measure Locus, not its rate limits (README "Rate limits").
        API_RATE="",
        TELEMETRY_RATE="",
        LINEAGE_RATE="",
        **extra,
    )
    production_keys(env, name)
    return env


def setup_served_django(env: dict[str, str], *, collectstatic: bool = False) -> None:
    """Recreate the benchmark's database, then set Django up in this process on `env`."""
    global _database_url
    url = env["DATABASE_URL"]
    _refuse_unless_throwaway(unquote(urlsplit(url).path.lstrip("/")))
    _recreate_postgres(url)
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    if collectstatic:  # DEBUG off: the web processes serve from the manifest
        call_command("collectstatic", verbosity=0, interactive=False)
    _database_url = url


# --- Measuring ----------------------------------------------------------------------------


def timer_overhead_ns(rounds: int = 50_000, clock=time.perf_counter_ns) -> int:
    """The median cost of reading the clock once (it is subtracted from per-call samples)."""
    samples = []
    for _ in range(rounds):
        start = clock()
        samples.append(clock() - start)
    samples.sort()
    return samples[len(samples) // 2]


def percentile(sorted_samples: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_samples:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_samples)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


def summarize_ns(samples_ns: list[int], overhead_ns: int = 0) -> dict[str, float]:
    """p50/p99/p99.9/mean in microseconds, the clock's own cost taken off each sample."""
    adjusted = sorted(max(0, s - overhead_ns) / 1000 for s in samples_ns)
    return {
        "n": len(adjusted),
        "p50": percentile(adjusted, 50),
        "p99": percentile(adjusted, 99),
        "p99.9": percentile(adjusted, 99.9),
        "mean": sum(adjusted) / len(adjusted) if adjusted else math.nan,
    }


def python_speed_us() -> float:
    """A fixed pure-Python loop (sum(range(1000))), best of 5, in µs: to compare machines and moments."""
    number = 2_000
    timings = timeit.repeat("sum(range(1000))", number=number, repeat=5)
    return min(timings) / number * 1e6


def rss_bytes() -> int:
    """This process's resident memory right now (Linux), or 0 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- Figures and the report ---------------------------------------------------------------


def figure(
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    *,
    peer: str = "",
    peer_value: float | None = None,
    better: str = "lower",
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict:
    """One row of the report; `better` says whether a lower or a higher value is the good one."""
    ratio = None
    if peer_value is not None and value and not math.isnan(value) and not math.isnan(peer_value):
        ratio = peer_value / value if better == "lower" else value / peer_value
    return {
        "benchmark": benchmark,
        "metric": metric,
        "value": value,
        "unit": unit,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": ratio,
        "better": better,
        "target": target,
        "met": met,
        "note": note,
    }


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    if value < 0.01:
        return f"1/{1 / value:,.0f}"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def _target(row: dict) -> str:
    if not row.get("target"):
        return ""
    mark = {True: "met", False: "MISSED", None: ""}[row.get("met")]
    return f"{row['target']} {mark}".strip()


def table_markdown(rows: list[dict]) -> str:
    """The report as a Markdown table (ratio > 1: Locus better)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for row in rows:
        cells = (
            row["benchmark"],
            row["metric"],
            _number(row["value"]),
            row["unit"],
            row["peer"],
            _number(row["peer_value"]),
            _ratio(row["ratio"]),
            _target(row),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> dict:
    """What the figures were measured on, for the JSON report."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": load,
        "database": _database_url and database_kind(_database_url),
        "timer_overhead_ns": timer_overhead_ns(10_000),
        "python_speed_us": python_speed_us(),
    }


def write_report(rows: list[dict], details: dict, env: dict, path: Path | None = None) -> Path:
    """Write every figure, with the run's environment and per-benchmark details, as JSON."""
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env,
        "figures": rows,
        "details": details,
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def daphne_command(port: int) -> list[str]:
    """One Daphne process serving the ASGI application (HTTP and WebSockets) on `port`."""
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


def web_command(port: int, *, threads: int = 4) -> list[str]:
    """The Procfile's `web` process (governance/web.py: granian, WSGI) on `port`: one worker
    process, `threads` threads serving requests."""
    from governance import web

    return web.command(port, threads=threads)


def gunicorn_command(port: int, *, workers: int = 1, threads: int = 4) -> list[str]:
    """gunicorn with threaded workers (gthread) serving the WSGI application (HTTP only) on
    `port`: the WSGI server the Procfile's `web` ran before granian, measured beside it."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--no-control-socket",
        "governance.wsgi:application",
    ]


class Servers:
    """`count` web processes on loopback ports (Daphne unless `command` says otherwise: it
    takes the port), with a benchmark's environment; their logs go to a temporary folder named
    after the benchmark."""

    def __init__(self, env: dict[str, str], count: int, name: str, command=daphne_command):
        self.env = env
        self.count = count
        self.command = command
        self.processes: list[subprocess.Popen] = []
        self.urls: list[str] = []
        self.logs = Path(tempfile.mkdtemp(prefix=f"locus-bench-{name}-"))

    def __enter__(self) -> Servers:
        import httpx

        for _ in range(self.count):
            port = free_port()
            with (self.logs / f"server-{port}.log").open("wb") as log_file:
                self.processes.append(
                    subprocess.Popen(
                        self.command(port),
                        cwd=ROOT,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
                )
            self.urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        for url, process in zip(self.urls, self.processes, strict=True):
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"The server at {url} did not start; see {self.logs}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        return self

    def cpu_seconds(self) -> float:
        """CPU time (user and system) used so far by these processes and their children (a
        gunicorn master's workers), from /proc; 0 where it cannot be read."""
        return sum(process_tree_cpu_seconds(process.pid) for process in self.processes)

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after the command's name


def process_tree_cpu_seconds(root: int) -> float:
    """User and system CPU seconds of `root` and of every live descendant (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or (fields := _stat(entry.name)) is None:
            continue
        parents[int(entry.name)] = int(fields[1])  # ppid; utime and stime are fields 14, 15
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return sum(times.get(pid, 0.0) for pid in tree)


def run_apart(name: str, measure, details: dict) -> list[dict]:
    """A benchmark's figures, measured in a child process (`python -m bench.<name>`) when Django
    is already set up for another database in this one; directly otherwise. The child writes its
    rows and details as JSON, which `main` below produces."""
    from django.apps import apps

    if not apps.ready:
        return measure()
    with tempfile.TemporaryDirectory(prefix=f"locus-bench-{name}-") as folder:
        out = Path(folder) / f"{name}.json"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        subprocess.run(
            [sys.executable, "-m", f"bench.{name}", str(out)], cwd=ROOT, env=env, check=True
        )
        result = json.loads(out.read_text(encoding="utf-8"))
    details.update(result["details"])
    return result["rows"]


def main(measure, details: dict) -> None:
    """`python -m bench.<name> [OUT]`: the figures as JSON into OUT, or as a table."""
    rows = measure()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(
            json.dumps({"rows": rows, "details": details}, default=str), encoding="utf-8"
        )
    else:
        print(table_markdown(rows))
