"""Pieces of governance/settings.py that are functions: the keys production must set itself,
and the logging configuration. Plain Python (no models, no Django app imports), because
settings load before any app does."""

from __future__ import annotations

import base64
import hashlib

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured


def own_key(
    env: environ.Env, name: str, *, debug: bool, secret_key: str, debug_default: str
) -> str:
    """A key of its own from the environment. Debug takes `debug_default` (derived from
    SECRET_KEY); production refuses to start without it, since a key that follows SECRET_KEY
    changes (and loses sealed data, pseudonyms or signatures) whenever SECRET_KEY is rotated."""
    if debug:
        return env.str(name, default=debug_default)
    value = env.str(name, default="").strip()
    if not value or value == secret_key:
        raise ImproperlyConfigured(
            f"DJANGO_DEBUG=0 needs {name} in the environment, a key of its own (not SECRET_KEY)"
        )
    return value


def signing_key(env: environ.Env, *, debug: bool, secret_key: str) -> str:
    """LEDGER_SIGNING_KEY: base64 of a 32-byte Ed25519 seed (debug derives one)."""
    derived = hashlib.sha256(b"locus-ledger-signing:" + secret_key.encode()).digest()
    key = own_key(
        env,
        "LEDGER_SIGNING_KEY",
        debug=debug,
        secret_key=secret_key,
        debug_default=base64.b64encode(derived).decode(),
    )
    try:
        if len(base64.b64decode(key, validate=True)) != 32:
            raise ValueError
    except ValueError as exc:
        raise ImproperlyConfigured(
            "LEDGER_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed"
        ) from exc
    return key


def logging_config(log_format: str, level: str) -> dict:
    """One handler to standard error for Django's, Celery's and Locus's loggers: JSON lines or
    readable ones, each with the request id (governance.logs)."""
    if log_format not in {"json", "readable"}:
        raise ImproperlyConfigured("LOG_FORMAT must be json or readable")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "governance.logs.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "governance.logs.JsonFormatter"},
            "readable": {"()": "governance.logs.ReadableFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["request_id"],
                "formatter": log_format,
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own lines (a 500's traceback among them) go through the handler too.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.channels.server": {"level": "WARNING"},
        },
    }


def beat_schedule(env: environ.Env, *, retention_hour: int) -> dict[str, dict]:
    """Every periodic task, in one place (settings.CELERY_BEAT_SCHEDULE)."""
    return {
        "telemetry-webhooks-sweep": {
            "task": "monitoring.tasks.webhooks_sweep",
            "schedule": 120.0,
        },
        "telemetry-stream-prune": {
            "task": "monitoring.tasks.stream_messages_prune",
            "schedule": 3600.0,
        },
        "idempotency-keys-purge": {
            "task": "catalog.tasks.idempotency_keys_purge",
            "schedule": 3600.0,
        },
        "ledger-checkpoint": {
            "task": "governance.tasks.ledger_checkpoint",
            "schedule": env.float("LEDGER_CHECKPOINT_SECONDS", default=3600.0),
        },
        # The latest signed tree head, to where auditors keep it (LEDGER_PUBLISH_TO).
        "ledger-publish": {
            "task": "governance.tasks.ledger_publish",
            "schedule": env.float("LEDGER_CHECKPOINT_SECONDS", default=3600.0),
        },
        # The decision log's sequencer: queue into chain and tree, a signed tree head per batch.
        "ledger-sequence": {
            "task": "governance.tasks.ledger_sequence",
            "schedule": env.float("LEDGER_SEQUENCE_SECONDS", default=1.0),
        },
        "notifications-sweep": {
            "task": "governance.tasks.notifications_sweep",
            "schedule": 300.0,
        },
        # Hourly digests, and each person's daily digest at their hour (at minute 0 of every hour).
        "notifications-digest": {
            "task": "governance.tasks.notifications_digest",
            "schedule": crontab(minute="0"),
        },
        "subject-mail-sweep": {
            "task": "requests.tasks.subject_mail_sweep",
            "schedule": 120.0,
        },
        "transfer-exceptions-due": {
            "task": "requests.tasks.exceptions_due",
            "schedule": env.float("EXCEPTIONS_DUE_SECONDS", default=60.0),
        },
        "subject-requests-sla": {
            "task": "requests.tasks.subject_sla_watch",
            "schedule": env.float("SUBJECT_SLA_SECONDS", default=900.0),
        },
        # Retention, daily at RETENTION_HOUR (UTC): datasets' runs opened, then old telemetry purged.
        "retention-due": {
            "task": "requests.tasks.retention_due",
            "schedule": crontab(minute="15", hour=str(retention_hour)),
        },
        # Access reviews: a campaign opens each quarter (ACCESS_REVIEW_MONTHS, on the 1st at
        # 06:00 UTC); reminders and escalations are swept hourly.
        "access-reviews-open": {
            "task": "governance.tasks.access_reviews_open",
            "schedule": crontab(
                minute="0",
                hour="6",
                day_of_month="1",
                month_of_year=env.str("ACCESS_REVIEW_MONTHS", default="1,4,7,10"),
            ),
        },
        "access-reviews-sweep": {
            "task": "governance.tasks.access_reviews_sweep",
            "schedule": crontab(minute="30"),
        },
        "telemetry-partitions": {
            "task": "monitoring.tasks.telemetry_partitions_ensure",
            "schedule": crontab(minute="15"),
        },
        "telemetry-purge": {
            "task": "monitoring.tasks.telemetry_purge",
            "schedule": crontab(minute="45", hour=str(retention_hour)),
        },
    }


def replica_databases(urls: list[str], primary: dict) -> dict[str, dict]:
    """DATABASES entries `replica1..n` for DATABASE_REPLICA_URLS (catalog.replicas routes reads
    there). Each keeps the primary's connection options (pool, health checks); in tests each
    mirrors `default`, so a suite run against a deployment's settings never needs the replica."""
    if urls and primary["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
    replicas = {}
    for number, url in enumerate(urls, start=1):
        config = environ.Env.db_url_config(url)
        if config["ENGINE"] != "django.db.backends.postgresql":
            raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS: replica {number} is not PostgreSQL")
        for option in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
            config.setdefault(option, primary.get(option, 0))
        config["OPTIONS"] = {**primary.get("OPTIONS", {}), **config.get("OPTIONS", {})}
        config["TEST"] = {"MIRROR": "default"}
        replicas[f"replica{number}"] = config
    return replicas
