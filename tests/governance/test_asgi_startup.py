"""The web process's startup: the ASGI application is built and its heap frozen."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, sys
import governance.asgi
views = [m for m in sys.modules if m.endswith(".api") or m.endswith(".views")]
print(gc.get_freeze_count(), len(gc.get_objects()), len(views))
"""


def test_startup_freezes_the_heap_it_built_views_included():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    frozen, tracked, views = map(int, done.stdout.split())
    # The collector walks only what was made after startup: a few objects, not the ~100k
    # of the modules, URL patterns and settings, view modules among them.
    assert frozen > 50_000
    assert tracked < frozen / 100
    assert views >= 8
