"""Every journey runs in a real browser against a live server."""

from tests.browser import browser, shared_browser  # noqa: F401  (fixtures)
from tests.identity_journeys import sso_browser, sso_environment, sso_locus  # noqa: F401
from tests.live import (  # noqa: F401
    live_locus,
    live_locus_process,
    shared_live_locus,
    shared_live_locus_process,
)
from tests.worker import celery_worker  # noqa: F401
