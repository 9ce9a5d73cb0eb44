"""Every journey runs in a real browser against a live server."""

from tests.browser import browser  # noqa: F401  (fixtures)
from tests.live import live_locus, live_locus_process  # noqa: F401
from tests.worker import celery_worker  # noqa: F401
