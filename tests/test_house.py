"""Checks on the shape of the house that anyone can run (`pytest tests/test_house.py`, no
database): no app module past 500 lines, and each mechanism with a shared home written there
only. The compare-and-swap status move and queueing a task after commit live in
governance/workflow.py (`status_move`, `queue_after_commit`); the append-only trigger lives in
catalog/append_only.py (`AppendOnlyTrigger`). Every failure names the file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("catalog", "governance", "requests", "monitoring")
MAX_LINES = 500
WORKFLOW_HOME = "governance/workflow.py"
TRIGGER_HOME = "catalog/append_only.py"
# Migrations that created their triggers before AppendOnlyTrigger existed. Applied migrations
# are history: they stay as they ran. New ones use the operation.
OLD_TRIGGER_MIGRATIONS = frozenset(
    {
        "governance/migrations/0004_ledger_triggers.py",
        "governance/migrations/0005_glossary.py",
        "governance/migrations/0007_ledger_head.py",
        "requests/migrations/0001_transfer_exceptions.py",
        "requests/migrations/0002_subject_requests.py",
        "monitoring/migrations/0002_event_triggers.py",
        "monitoring/migrations/0004_lineage.py",
        # The telemetry trigger (with the purge's one exception, which AppendOnlyTrigger does
        # not have) put back on the table that replaces the events table: day partitions.
        "monitoring/migrations/0012_telemetry_partitions.py",
    }
)
# Triggers that are not about append-only rows: the revision counters' NOTIFY
# (catalog.revision_notices).
NOTIFY_TRIGGER_MIGRATIONS = frozenset({"catalog/migrations/0013_revision_notify.py"})
# Modules that still break a check: each is an expected failure below, strict, so that the entry
# must go once the module is split or calls its shared home.
STILL_OVER: dict[str, str] = {}
STILL_SWAPPING: dict[str, str] = {}
STILL_QUEUEING: dict[str, str] = {}
TRIGGER_SQL = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\b", re.I)
# Calls that send a Celery task.
SENDS = frozenset({"delay", "apply_async", "send_task"})
# Celery's own after-commit sends: a second way to do what queue_after_commit does.
SENDS_ON_COMMIT = frozenset({"delay_on_commit", "apply_async_on_commit"})


def app_files(*, migrations: bool) -> Iterator[Path]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if ("migrations" in path.parts) == migrations:
                yield path


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- What each check looks for, on one module's source --------------------------------------


def too_long(source: str) -> int | None:
    """The module's line count when past the limit."""
    lines = len(source.splitlines())
    return lines if lines > MAX_LINES else None


def _keywords(call: ast.Call) -> set[str]:
    return {k.arg for k in call.keywords if k.arg}


def _method(node: ast.AST, name: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
    )


def _names_status(call: ast.Call) -> bool:
    """A call with a status condition: status=..., status__in=..., or Q(status=...) inside."""
    conditions = [call, *(q for arg in call.args for q in ast.walk(arg) if isinstance(q, ast.Call))]
    return any(k == "status" or k.startswith("status__") for c in conditions for k in _keywords(c))


def _filters_status(node: ast.AST) -> bool:
    """A queryset expression that filters on status somewhere along its chain."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("filter", "exclude") and _names_status(node):
            return True
        node = node.func.value
    return False


def status_swaps(source: str) -> list[int]:
    """Lines of `.filter(..., status=...).update(status=...)`, chained or through a name."""
    tree = ast.parse(source)
    filtered_names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _filters_status(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if _method(node, "update") and "status" in _keywords(node):
            receiver = node.func.value
            named = isinstance(receiver, ast.Name) and receiver.id in filtered_names
            if named or _filters_status(receiver):
                found.append(node.lineno)
    return sorted(found)


def _sends_a_task(node: ast.AST, functions: dict[str, ast.AST]) -> bool:
    """Whether this callable (or the module function it names) sends a Celery task."""
    if isinstance(node, ast.Name) and node.id in functions:
        node = functions[node.id]
    return any(isinstance(inner, ast.Attribute) and inner.attr in SENDS for inner in ast.walk(node))


def after_commit_sends(source: str) -> list[int]:
    """Lines that queue a Celery task once the transaction commits."""
    tree = ast.parse(source)
    functions = {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        on_commit = name == "on_commit" and any(
            _sends_a_task(arg, functions) for arg in [*node.args, *(k.value for k in node.keywords)]
        )
        if on_commit or name in SENDS_ON_COMMIT:
            found.append(node.lineno)
    return sorted(found)


def trigger_sql(source: str) -> list[int]:
    """Lines that hold SQL creating a trigger."""
    return [
        number for number, line in enumerate(source.splitlines(), 1) if TRIGGER_SQL.search(line)
    ]


# --- The checks, over the apps ---------------------------------------------------------------


def offenders(check, *, migrations: bool = False, allowed=frozenset()) -> list[str]:
    return [
        f"{relative(path)}:{line}"
        for path in app_files(migrations=migrations)
        if relative(path) not in allowed
        for line in check(path.read_text(encoding="utf-8"))
    ]


def length_offenders(allowed=frozenset()) -> list[str]:
    return offenders(
        lambda source: [MAX_LINES + 1] if too_long(source) else [],
        allowed=allowed,
    )


def test_no_app_module_is_over_500_lines():
    """A module past ~500 lines becomes a package (ARCHITECTURE.md, "Where code goes")."""
    over = length_offenders(allowed=set(STILL_OVER))
    assert not over, f"split these into packages (line {MAX_LINES + 1} on):\n" + "\n".join(over)


def test_status_compare_and_swap_is_written_only_in_governance_workflow():
    found = offenders(status_swaps, allowed={WORKFLOW_HOME, *STILL_SWAPPING})
    assert not found, "use governance.workflow.status_move:\n" + "\n".join(found)


def test_queueing_a_task_after_commit_is_written_only_in_governance_workflow():
    found = offenders(after_commit_sends, allowed={WORKFLOW_HOME, *STILL_QUEUEING})
    assert not found, "use governance.workflow.queue_after_commit:\n" + "\n".join(found)


def test_append_only_triggers_are_written_only_in_catalog_append_only():
    found = offenders(trigger_sql, allowed={TRIGGER_HOME}) + offenders(
        trigger_sql, migrations=True, allowed=OLD_TRIGGER_MIGRATIONS | NOTIFY_TRIGGER_MIGRATIONS
    )
    assert not found, "use catalog.append_only.AppendOnlyTrigger:\n" + "\n".join(found)


def _over(source: str) -> list[int]:
    return [MAX_LINES + 1] if too_long(source) else []


def _waiting() -> list:
    """One strict expected failure per module listed above as not there yet."""
    lists = [
        (STILL_OVER, "over 500 lines", _over),
        (STILL_SWAPPING, "its own status compare-and-swap", status_swaps),
        (STILL_QUEUEING, "its own after-commit send", after_commit_sends),
    ]
    waiting = [
        pytest.param(
            check, name, marks=pytest.mark.xfail(strict=True, reason=f"{what}: {why}"), id=name
        )
        for known, what, check in lists
        for name, why in known.items()
    ]
    return waiting or [pytest.param(None, "", marks=pytest.mark.skip(reason="none"), id="none")]


@pytest.mark.parametrize(("check", "name"), _waiting())
def test_a_module_listed_as_not_there_yet_passes_its_check(check, name):
    """Expected to fail while the module is listed; once it passes, its entry must go."""
    lines = check((ROOT / name).read_text(encoding="utf-8"))
    assert not lines, ", ".join(f"{name}:{line}" for line in lines)


def test_the_shared_homes_hold_what_the_checks_look_for():
    """If a home is moved or renamed, the allowances above must follow it."""
    workflow = (ROOT / WORKFLOW_HOME).read_text(encoding="utf-8")
    assert "def status_move(" in workflow and "def queue_after_commit(" in workflow
    assert trigger_sql((ROOT / TRIGGER_HOME).read_text(encoding="utf-8"))
    for name in OLD_TRIGGER_MIGRATIONS:
        assert trigger_sql((ROOT / name).read_text(encoding="utf-8")), name


# --- The checks find the shapes they are meant to find -------------------------------------


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("X.objects.filter(pk=1, status=a).update(status=b)", [1]),
        ("X.objects.filter(pk=1, status__in=s).update(\n    status=b, at=now)", [1]),
        ("x.things.filter(status=a).select_for_update().update(status=b)", [1]),
        ("X.objects.filter(pk=1).filter(Q(status=a) | Q(at__lt=t)).update(status=b)", [1]),
        ("rows = X.objects.filter(pk=1, status=a)\nrows.update(status=b)", [2]),
        ("X.objects.filter(pk=1).update(status=b)", []),  # not a compare-and-swap
        ("X.objects.filter(pk=1, status=a).update(seen=True)", []),
        ("X.objects.filter(pk=1, revoked_at__isnull=True).update(revoked_at=now)", []),
    ],
)
def test_the_status_check_finds_a_compare_and_swap(source, lines):
    assert status_swaps(source) == lines


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("transaction.on_commit(lambda: task.delay(1))", [1]),
        ("on_commit(partial(task.apply_async, args=(1,)))", [1]),
        ("def send():\n    app.send_task('x')\n\ntransaction.on_commit(send)", [4]),
        ("task.delay_on_commit(1)", [1]),
        ("transaction.on_commit(lambda: announce(1, 2))", []),  # no task: a cache, a push
        ("task.delay(1)", []),  # sent at once, not after commit
    ],
)
def test_the_queue_check_finds_an_after_commit_send(source, lines):
    assert after_commit_sends(source) == lines


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ('SQL = """\nCREATE TRIGGER t BEFORE UPDATE ON x"""', [2]),
        ("sql = 'create or replace trigger t'", [1]),
        ("sql = 'DROP TRIGGER IF EXISTS t'", []),
    ],
)
def test_the_trigger_check_finds_trigger_sql(source, lines):
    assert trigger_sql(source) == lines


def test_the_length_check_counts_lines():
    assert too_long("x = 1\n" * MAX_LINES) is None
    assert too_long("x = 1\n" * (MAX_LINES + 1)) == MAX_LINES + 1
