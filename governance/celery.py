"""The Celery application: one per process, configured from Django settings."""

import logging.config
import os

from celery import Celery, signals

from governance import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("locus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task queued while serving a request carries the request's id, and logs and ledgers with it.
signals.before_task_publish.connect(logs.task_publish_header, dispatch_uid="locus_request_id")
signals.task_prerun.connect(logs.task_begin, dispatch_uid="locus_request_id")
signals.task_postrun.connect(logs.task_end, dispatch_uid="locus_request_id")


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers and beat log as the web processes do (settings.LOGGING: JSON in production,
    the request id on each line), instead of Celery's own set-up."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
