"""Monitoring tables: telemetry sources and events, gaps, rollups, violations, incidents, alerts,
webhooks and the stream outbox."""

from monitoring.models.drills import Drill
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
    PLAYBOOK_STEPS,
    SEVERITY_RANK,
    AnomalyAlert,
    Basis,
    BreachAssessment,
    ClockState,
    Incident,
    IncidentEvent,
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
    "PLAYBOOK_STEPS",
    "SEVERITY_RANK",
    "ActorFootprint",
    "ActorVolumeHourly",
    "AnomalyAlert",
    "Basis",
    "BreachAssessment",
    "ClockState",
    "Drill",
    "EventKind",
    "EventOutcome",
    "FlowDaily",
    "Incident",
    "IncidentEvent",
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
