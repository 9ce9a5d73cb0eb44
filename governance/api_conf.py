"""The API's settings beside REST_FRAMEWORK (README "API"): the OpenAPI schema's, the rate limits,
how long an Idempotency-Key's answer is kept, the authentication cache and how the policy index
learns of changes. Read from the environment and taken into governance.settings whole. Nothing
here imports Django's models: settings load first."""

import environ

__all__ = [
    "API_RATE",
    "AUTH_CACHE_SECONDS",
    "IDEMPOTENCY_KEY_HOURS",
    "LINEAGE_RATE",
    "POLICY_INDEX_HEARTBEAT_SECONDS",
    "POLICY_INDEX_LISTEN_URL",
    "POLICY_INDEX_NOTIFICATIONS",
    "SPECTACULAR_SETTINGS",
    "TELEMETRY_RATE",
]

env = environ.Env()

# Rate limits (README "Rate limits"): `<requests>/<second|minute|hour|day>`, empty for none.
# Per person (or their token) on every API call; per source on telemetry and OpenLineage.
# Generous: a person clicking, a pipeline checking each read, the simulator never meets them.
API_RATE = env.str("API_RATE", default="3000/minute")
TELEMETRY_RATE = env.str("TELEMETRY_RATE", default="1200/minute")
LINEAGE_RATE = env.str("LINEAGE_RATE", default="1200/minute")

# A create's answer to an Idempotency-Key is kept this long for its retries (catalog.idempotency).
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)

SPECTACULAR_SETTINGS = {
    "TITLE": "Locus API",
    "DESCRIPTION": "Data-locality and privacy governance: catalog, policy checks, workflows, ledger.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are public: they describe the API, hold no data, and client
    # generators, pipelines and the public intake's users read them without signing in.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The headers many answers share, once in components/headers (catalog.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "catalog.schema.add_header_components",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DeadlineUnitEnum": "catalog.models.DeadlineUnit",
        "LocalityActionEnum": "governance.models.Action",
        "OutcomeEnum": "governance.models.Outcome",
        "LegalOutcomeEnum": "governance.models.LegalOutcome",
        "HouseOutcomeEnum": "governance.models.HouseOutcome",
        "DatasetChangeActionEnum": "catalog.models.DatasetChange.Action",
        # One name per choice set that several fields share (the workflow and monitoring states).
        "ExceptionStatusEnum": "requests.models.transfers.ExceptionStatus",
        "RiskLevelEnum": "requests.models.transfers.RiskLevel",
        "IdentifierKindEnum": "requests.models.subjects.IdentifierKind",
        "SubjectRequestStatusEnum": "requests.models.subjects.SubjectRequestStatus",
        "SubjectTaskStatusEnum": "requests.models.subjects.TaskStatus",
        "IncidentStatusEnum": "monitoring.models.incidents.Incident.Status",
        "AnomalyAlertStatusEnum": "monitoring.models.incidents.AnomalyAlert.Status",
        "TelemetrySourceStatusEnum": "monitoring.models.sources.TelemetrySource.Status",
        "WebhookDeliveryStatusEnum": "monitoring.models.sources.WebhookDelivery.Status",
        "TermStatusEnum": "governance.models.glossary.TermStatus",
        "RecordedDecisionStatusEnum": "governance.models.ledger.RecordedDecision.Status",
        "NotificationDeliveryEnum": "governance.models.people.Delivery",
    },
}

# A token's person and a person's permissions and roles stay in the cache at most this long
# (governance.identity.authcache; every change invalidates them at once, this is a safety net).
AUTH_CACHE_SECONDS = env.int("AUTH_CACHE_SECONDS", default=300)
# On PostgreSQL each process learns of policy changes by LISTEN/NOTIFY instead of reading the
# revision counters on every check (catalog.revision_notices); off: every check reads them.
POLICY_INDEX_NOTIFICATIONS = env.bool("POLICY_INDEX_NOTIFICATIONS", default=True)
# How often the listening connection proves it is alive when nothing is sent on it.
POLICY_INDEX_HEARTBEAT_SECONDS = env.float("POLICY_INDEX_HEARTBEAT_SECONDS", default=5.0)
# Where the listener connects, if not where DATABASE_URL does (libpq URL): a direct connection
# when DATABASE_URL goes through a transaction-pooling PgBouncer, which does not pass LISTEN.
POLICY_INDEX_LISTEN_URL = env.str("POLICY_INDEX_LISTEN_URL", default="")
