"""Monitoring tables: telemetry sources and events, gaps, rollups, violations, incidents, alerts,
webhooks and the stream outbox."""

from monitoring.models.events import (
    ActorFootprint,
    ActorVolumeHourly,
    EventKind,
    EventOutcome,
    FlowDaily,
    TelemetryEvent,
    UnregisteredAsset,
)
from monitoring.models.incidents import (
    ART33_HOURS,
    PLAYBOOK_STEPS,
    SEVERITY_RANK,
    AnomalyAlert,
    Incident,
    Severity,
    StreamMessage,
    Violation,
)
from monitoring.models.lineage import (
    LineageEvent,
    LineageNamespaceRegion,
    LineageRun,
    LineageRunDataset,
    LocationRule,
    RunEventType,
)
from monitoring.models.sources import (
    TelemetrySource,
    WebhookDelivery,
    WebhookEndpoint,
    token_digest,
)

__all__ = [
    "ART33_HOURS",
    "PLAYBOOK_STEPS",
    "SEVERITY_RANK",
    "ActorFootprint",
    "ActorVolumeHourly",
    "AnomalyAlert",
    "EventKind",
    "EventOutcome",
    "FlowDaily",
    "Incident",
    "LineageEvent",
    "LineageNamespaceRegion",
    "LineageRun",
    "LineageRunDataset",
    "LocationRule",
    "RunEventType",
    "Severity",
    "StreamMessage",
    "TelemetryEvent",
    "TelemetrySource",
    "UnregisteredAsset",
    "Violation",
    "WebhookDelivery",
    "WebhookEndpoint",
    "token_digest",
]
