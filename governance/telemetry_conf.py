"""Telemetry's settings (README "Telemetry, violations and incidents", "Retention of
telemetry"): what one ingest request may hold, how incidents and anomalies are judged, how long
events and stream messages are kept. Read from the environment and taken into
governance.settings whole. Nothing here imports Django's models: settings load first."""

import environ

__all__ = [
    "TELEMETRY_ANOMALY_MAD_K",
    "TELEMETRY_ANOMALY_MIN_BYTES",
    "TELEMETRY_ANOMALY_MIN_HOURS",
    "TELEMETRY_ANOMALY_WARMUP_HOURS",
    "TELEMETRY_ANOMALY_WINDOW_HOURS",
    "TELEMETRY_INCIDENT_REOPEN_HOURS",
    "TELEMETRY_MAX_AGE_DAYS",
    "TELEMETRY_MAX_BYTES",
    "TELEMETRY_MAX_CLOCK_SKEW_SECONDS",
    "TELEMETRY_MAX_EVENTS",
    "TELEMETRY_PARTITION_DAYS_AHEAD",
    "TELEMETRY_PURGE_CHUNK",
    "TELEMETRY_RETENTION_DAYS",
    "TELEMETRY_STREAM_RETENTION_HOURS",
    "TELEMETRY_WEBHOOK_MAX_ATTEMPTS",
]

env = environ.Env()

# One ingest request: at most this many events and this many bytes (413 beyond).
TELEMETRY_MAX_EVENTS = env.int("TELEMETRY_MAX_EVENTS", default=10_000)
TELEMETRY_MAX_BYTES = env.int("TELEMETRY_MAX_BYTES", default=8 * 1024 * 1024)
# Events older than this or further in the future than the skew are refused (per item).
TELEMETRY_MAX_AGE_DAYS = env.int("TELEMETRY_MAX_AGE_DAYS", default=30)
TELEMETRY_MAX_CLOCK_SKEW_SECONDS = env.int("TELEMETRY_MAX_CLOCK_SKEW_SECONDS", default=300)
# Violations of one dataset towards one region under one rule join its unresolved incident; one
# resolved less than this long ago is reopened instead of a new one opening.
TELEMETRY_INCIDENT_REOPEN_HOURS = env.int("TELEMETRY_INCIDENT_REOPEN_HOURS", default=24)
# Access anomalies: an actor is new (no new-place alerts) for the warm-up; the volume rule
# compares an hour with median + K x 1.4826 x MAD of the actor's active hours in the window.
TELEMETRY_ANOMALY_WARMUP_HOURS = env.int("TELEMETRY_ANOMALY_WARMUP_HOURS", default=24)
TELEMETRY_ANOMALY_WINDOW_HOURS = env.int("TELEMETRY_ANOMALY_WINDOW_HOURS", default=7 * 24)
TELEMETRY_ANOMALY_MIN_HOURS = env.int("TELEMETRY_ANOMALY_MIN_HOURS", default=8)
TELEMETRY_ANOMALY_MAD_K = env.float("TELEMETRY_ANOMALY_MAD_K", default=6.0)
TELEMETRY_ANOMALY_MIN_BYTES = env.int("TELEMETRY_ANOMALY_MIN_BYTES", default=100 * 1024 * 1024)
TELEMETRY_WEBHOOK_MAX_ATTEMPTS = env.int("TELEMETRY_WEBHOOK_MAX_ATTEMPTS", default=8)
# Stream messages are kept this long for clients catching up.
TELEMETRY_STREAM_RETENTION_HOURS = env.int("TELEMETRY_STREAM_RETENTION_HOURS", default=72)
# Events are removed this many days after they occurred, by the daily purge: on PostgreSQL a
# whole day partition at a time, made TELEMETRY_PARTITION_DAYS_AHEAD ahead (README
# "Retention of telemetry"); elsewhere deleted TELEMETRY_PURGE_CHUNK per transaction. The
# rollups the dashboards read are kept, and so are events that carry a violation.
TELEMETRY_RETENTION_DAYS = env.int("TELEMETRY_RETENTION_DAYS", default=400)
TELEMETRY_PURGE_CHUNK = env.int("TELEMETRY_PURGE_CHUNK", default=5000)
TELEMETRY_PARTITION_DAYS_AHEAD = env.int("TELEMETRY_PARTITION_DAYS_AHEAD", default=7)
