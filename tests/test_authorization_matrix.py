"""The authorisation matrix: every API operation and every page x every role (and anonymous),
against the expected outcomes kept here as plain data.

Each row is seven letters, one per column of ROLES: anonymous, privacy officer, executive, data
owner, engineer, auditor, outsider (signed in, no role).

    A  allow   2xx/3xx, or 400/405/409 (past authorisation, stopped by the minimal body or state)
    D  deny    API: 401 anonymous, 403 signed in; pages: a redirect to the sign-in page
               anonymous, 403 signed in
    H  hidden  404: the object exists, but this person may not see it

Expectations follow what the product says it does (README's pages and API tables, the roles in
governance/roles.py), not what the code happens to answer: where they disagree the cell is an
XFAIL with the reason, strict, so fixing the code turns it into a failure that asks for the
row to be corrected.

A new URL name or API operation without a row fails test_every_*_has_a_row: add it here. The
only routes left out are listed in SKIPPED_*.

Every object a URL points at is built once per module (tests/authz_world.py), in a transaction
that each test's own transaction nests in and that is rolled back at the end of the module.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import AdequacyDecision
from tests.authz_world import IRELAND, ROLES, VIRGINIA, World, build_world

pytestmark = pytest.mark.django_db

ALLOW, DENY, HIDDEN = "A", "D", "H"
WORDS = {ALLOW: "allow", DENY: "deny", HIDDEN: "hidden"}

# --- What is left out, on purpose -----------------------------------------------------------

SKIPPED_URL_NAMES = {
    "healthz",  # probes for load balancers, open by design
    "readyz",
    "schema",  # the OpenAPI schema and Swagger UI
    "swagger-ui",
    "api-not-found",  # any unknown path under /api/: a JSON 404 for everyone
}
SKIPPED_URL_PREFIXES = ("admin/", "static/")  # Django's admin: its own staff checks
# The DRF router's index of API links (no data), and DRF's ".json"-style format suffixes, which
# reach the same views as the schema's paths.
SKIPPED_API_NAMES = {"v1:api-root"}

# --- The API: (path as in the OpenAPI schema, method) -> expected per role -------------------
#                                                            anon PO  EX  DO  EN  AU  outsider
API: dict[tuple[str, str], str] = {
    # Reference data: every role reads.
    ("/api/v1/countries/", "GET"): "DAAAAAD",
    ("/api/v1/countries/{code}/", "GET"): "DAAAAAD",
    ("/api/v1/jurisdictions/", "GET"): "DAAAAAD",
    ("/api/v1/jurisdictions/{code}/", "GET"): "DAAAAAD",
    ("/api/v1/adequacy-decisions/", "GET"): "DAAAAAD",
    ("/api/v1/adequacy-decisions/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/regions/", "GET"): "DAAAAAD",
    ("/api/v1/regions/{code}/", "GET"): "DAAAAAD",
    ("/api/v1/personal-data-categories/", "GET"): "DAAAAAD",
    ("/api/v1/personal-data-categories/{code}/", "GET"): "DAAAAAD",
    ("/api/v1/purposes/", "GET"): "DAAAAAD",
    # Your own notifications: anyone signed in, role or not.
    ("/api/v1/notifications/", "GET"): "DAAAAAA",
    ("/api/v1/notifications/read/", "POST"): "DAAAAAA",
    ("/api/v1/notifications/preferences/", "GET"): "DAAAAAA",
    ("/api/v1/notifications/preferences/", "PUT"): "DAAAAAA",
    ("/api/v1/purposes/{code}/", "GET"): "DAAAAAD",
    # The catalog: every role reads; data owners (their own) and privacy officers write.
    ("/api/v1/datasets/", "GET"): "DAAAAAD",
    ("/api/v1/datasets/suggest/", "GET"): "DAAAAAD",
    ("/api/v1/datasets/", "POST"): "DADADDD",
    ("/api/v1/datasets/{slug}/", "GET"): "DAAAAAD",
    ("/api/v1/datasets/{slug}/", "PUT"): "DADADDD",
    ("/api/v1/datasets/{slug}/", "PATCH"): "DADADDD",
    ("/api/v1/datasets/{slug}/", "DELETE"): "DADADDD",
    ("/api/v1/datasets/{slug}/history/", "GET"): "DAAAAAD",
    ("/api/v1/datasets/{slug}/lineage/", "GET"): "DAAAAAD",
    ("/api/v1/lineage-edges/", "GET"): "DAAAAAD",
    ("/api/v1/lineage-edges/", "POST"): "DADADDD",
    ("/api/v1/lineage-edges/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/lineage-edges/{id}/", "DELETE"): "DADADDD",
    ("/api/v1/data-map/", "GET"): "DAAAAAD",
    # The policy engine: every role asks; privacy officers write rules and grants.
    ("/api/v1/locality/check", "POST"): "DAAAAAD",
    ("/api/v1/plans/check", "POST"): "DAAAAAD",
    ("/api/v1/locality/replay", "POST"): "DAAAAAD",
    ("/api/v1/locality/what-if/adequacy", "GET"): "DAAAAAD",
    ("/api/v1/locality-rules/", "GET"): "DAAAAAD",
    ("/api/v1/locality-rules/", "POST"): "DADDDDD",
    ("/api/v1/locality-rules/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/locality-rules/{id}/", "PUT"): "DADDDDD",
    ("/api/v1/locality-rules/{id}/", "PATCH"): "DADDDDD",
    ("/api/v1/locality-rules/{id}/", "DELETE"): "DADDDDD",
    ("/api/v1/locality-rules/{id}/versions/", "GET"): "DAAAAAD",
    ("/api/v1/transfer-grants/", "GET"): "DAAAAAD",
    ("/api/v1/transfer-grants/", "POST"): "DADDDDD",
    ("/api/v1/transfer-grants/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/transfer-grants/{id}/revoke/", "POST"): "DADDDDD",
    # Training runs: owners, engineers and officers register; the run's creator (the engineer)
    # or an officer reports its reads.
    ("/api/v1/training-runs/", "GET"): "DAAAAAD",
    ("/api/v1/training-runs/", "POST"): "DADAADD",
    ("/api/v1/training-runs/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/training-runs/{id}/reads/", "POST"): "DADDADD",
    ("/api/v1/training-runs/{id}/regions/", "GET"): "DAAAAAD",
    # Models: every role reads and checks; owners, engineers and officers register; the
    # model's owner (the data owner) or an officer changes, deploys and retires.
    ("/api/v1/models/", "GET"): "DAAAAAD",
    ("/api/v1/models/", "POST"): "DADAADD",
    ("/api/v1/models/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/models/{id}/", "PUT"): "DADADDD",
    ("/api/v1/models/{id}/", "PATCH"): "DADADDD",
    ("/api/v1/models/{id}/history/", "GET"): "DAAAAAD",
    ("/api/v1/models/{id}/lineage/", "GET"): "DAAAAAD",
    ("/api/v1/models/{id}/deploy/", "POST"): "DADADDD",
    ("/api/v1/models/{id}/check/", "POST"): "DAAAAAD",
    ("/api/v1/model-deployments/", "GET"): "DAAAAAD",
    ("/api/v1/model-deployments/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/model-deployments/{id}/retire/", "POST"): "DADADDD",
    ("/api/v1/decisions/", "GET"): "DAAAAAD",
    ("/api/v1/decisions/{id}/", "GET"): "DAAAAAD",
    # The decision log: privacy officers, executives, auditors; officers and auditors sign.
    ("/api/v1/ledger/entries/", "GET"): "DAADDAD",
    ("/api/v1/ledger/entries/{sequence}/", "GET"): "DAADDAD",
    ("/api/v1/ledger/verify", "GET"): "DAADDAD",
    ("/api/v1/ledger/export", "GET"): "DAADDAD",
    ("/api/v1/ledger/checkpoints/", "GET"): "DAADDAD",
    ("/api/v1/ledger/checkpoints/", "POST"): "DADDDAD",
    ("/api/v1/ledger/checkpoints/{id}/", "GET"): "DAADDAD",
    ("/api/v1/ledger/proof/inclusion", "GET"): "DAAAAAD",
    ("/api/v1/ledger/proof/consistency", "GET"): "DAAAAAD",
    ("/api/v1/ledger/tree-heads/latest", "GET"): "DAAAAAD",
    ("/api/v1/evidence", "GET"): "DADDDAD",
    # Recorded decisions: every role reads, privacy officers write.
    ("/api/v1/recorded-decisions/", "GET"): "DAAAAAD",
    ("/api/v1/recorded-decisions/", "POST"): "DADDDDD",
    ("/api/v1/recorded-decisions/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/recorded-decisions/{id}/", "PUT"): "DADDDDD",
    ("/api/v1/recorded-decisions/{id}/", "PATCH"): "DADDDDD",
    # The glossary: every role reads; officers and data owners propose; officers approve (never
    # their own: the term in review is the data owner's); the proposer submits and withdraws.
    ("/api/v1/glossary/terms/", "GET"): "DAAAAAD",
    ("/api/v1/glossary/terms/", "POST"): "DADADDD",
    ("/api/v1/glossary/terms/{slug}/", "GET"): "DAAAAAD",
    ("/api/v1/glossary/terms/{slug}/", "PUT"): "DADADDD",
    ("/api/v1/glossary/terms/{slug}/", "PATCH"): "DADADDD",
    ("/api/v1/glossary/terms/{slug}/versions/", "GET"): "DAAAAAD",
    ("/api/v1/glossary/terms/{slug}/proposals/", "GET"): "DAAAAAD",
    ("/api/v1/glossary/terms/{slug}/replay/", "GET"): "DAAAAAD",
    ("/api/v1/glossary/terms/{slug}/submit/", "POST"): "DDDADDD",
    ("/api/v1/glossary/terms/{slug}/withdraw/", "POST"): "DDDADDD",
    ("/api/v1/glossary/terms/{slug}/approve/", "POST"): "DADDDDD",
    ("/api/v1/glossary/terms/{slug}/reject/", "POST"): "DADDDDD",
    ("/api/v1/glossary/terms/{slug}/deprecate/", "POST"): "DADDDDD",
    # Transfer exceptions (the data owner's, submitted): owners, engineers and officers ask;
    # executives and auditors read all; an engineer does not see another's (404); the requester
    # takes the requester's steps, the officers of its jurisdictions review.
    ("/api/v1/transfer-exceptions/", "GET"): "DAAAAAD",
    ("/api/v1/transfer-exceptions/", "POST"): "DADAADD",
    ("/api/v1/transfer-exceptions/{id}/", "GET"): "DAAAHAD",
    ("/api/v1/transfer-exceptions/{id}/", "PATCH"): "DDDAHDD",
    ("/api/v1/transfer-exceptions/{id}/submit/", "POST"): "DDDAHDD",
    ("/api/v1/transfer-exceptions/{id}/withdraw/", "POST"): "DDDAHDD",
    ("/api/v1/transfer-exceptions/{id}/start-review/", "POST"): "DADDHDD",
    ("/api/v1/transfer-exceptions/{id}/request-changes/", "POST"): "DADDHDD",
    ("/api/v1/transfer-exceptions/{id}/approve/", "POST"): "DADDHDD",
    ("/api/v1/transfer-exceptions/{id}/reject/", "POST"): "DADDHDD",
    ("/api/v1/transfer-exceptions/{id}/revoke/", "POST"): "DADDHDD",
    ("/api/v1/transfer-exceptions/{id}/comment/", "POST"): "DADAHDD",
    ("/api/v1/transfer-register/", "GET"): "DAADDAD",
    ("/api/v1/transfer-register.csv", "GET"): "DAADDAD",
    # Data-subject requests: officers manage, executives and auditors read; data owners work the
    # tasks and model decisions of their datasets and describe their connectors.
    ("/api/v1/subject-requests/", "GET"): "DAADDAD",
    ("/api/v1/subject-requests/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/", "GET"): "DAADDAD",
    ("/api/v1/subject-requests/{id}/timeline/", "GET"): "DAADDAD",
    ("/api/v1/subject-requests/{id}/report/", "GET"): "DAADDAD",
    ("/api/v1/subject-requests/{id}/review/", "GET"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/extend/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/pause/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/resume/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/reject/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/withdraw/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/close/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/reissue-package/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/unlock-verification/", "POST"): "DADDDDD",
    ("/api/v1/subject-requests/{id}/verify-identity/", "POST"): "DADDDDD",
    ("/api/v1/subject-tasks/", "GET"): "DADADDD",
    ("/api/v1/subject-tasks/{id}/", "GET"): "DADADDD",
    ("/api/v1/subject-tasks/{id}/complete/", "POST"): "DADADDD",
    ("/api/v1/subject-tasks/{id}/retry/", "POST"): "DADADDD",
    ("/api/v1/subject-ml-decisions/", "GET"): "DADADDD",
    ("/api/v1/subject-ml-decisions/{id}/", "GET"): "DADADDD",
    ("/api/v1/subject-ml-decisions/{id}/decide/", "POST"): "DADADDD",
    ("/api/v1/dataset-connectors/", "GET"): "DADADDD",
    ("/api/v1/dataset-connectors/", "POST"): "DADADDD",
    ("/api/v1/dataset-connectors/{id}/", "GET"): "DADADDD",
    ("/api/v1/dataset-connectors/{id}/", "PUT"): "DADADDD",
    ("/api/v1/dataset-connectors/{id}/", "PATCH"): "DADADDD",
    # Only a privacy officer approves a connector's version (the world's is manual: 409).
    ("/api/v1/dataset-connectors/{id}/approve/", "POST"): "DADDDDD",
    # Consent notices: every role reads, privacy officers publish. Consent events: recorded by
    # collecting systems (an account given workflows.add_consentevent, no role has it), read
    # by privacy officers and auditors.
    ("/api/v1/consents/notices/", "GET"): "DAAAAAD",
    ("/api/v1/consents/notices/", "POST"): "DADDDDD",
    ("/api/v1/consents/notices/{id}/", "GET"): "DAAAAAD",
    ("/api/v1/consents/events/", "GET"): "DADDDAD",
    ("/api/v1/consents/events/", "POST"): "DDDDDDD",
    ("/api/v1/consents/current/", "GET"): "DADDDAD",
    # Retention: officers and auditors read every dataset's, data owners their own (the hold
    # is on another owner's dataset); officers place and lift holds; the owner or an officer
    # marks a run done.
    ("/api/v1/retention/runs/", "GET"): "DADADAD",
    ("/api/v1/retention/runs/{id}/", "GET"): "DADADAD",
    ("/api/v1/retention/runs/{id}/complete/", "POST"): "DADADDD",
    ("/api/v1/retention/holds/", "GET"): "DADADAD",
    ("/api/v1/retention/holds/", "POST"): "DADDDDD",
    ("/api/v1/retention/holds/{id}/", "GET"): "DADHDAD",
    ("/api/v1/retention/holds/{id}/lift/", "POST"): "DADDDDD",
    ("/api/v1/retention/summary/", "GET"): "DADADAD",
    # The public's intake: no sign-in.
    ("/api/v1/subject-intake/", "POST"): "AAAAAAA",
    ("/api/v1/subject-intake/rights", "GET"): "AAAAAAA",
    ("/api/v1/subject-intake/verify", "POST"): "AAAAAAA",
    # Machines with a telemetry source token only (checked separately below); a person's
    # session is not a source.
    ("/api/v1/telemetry/events", "POST"): "DDDDDDD",
    ("/api/v1/lineage", "POST"): "DDDDDDD",
    # Telemetry sources: privacy officers manage, auditors read.
    ("/api/v1/telemetry/sources/", "GET"): "DADDDAD",
    ("/api/v1/telemetry/sources/", "POST"): "DADDDDD",
    ("/api/v1/telemetry/sources/{id}/", "GET"): "DADDDAD",
    ("/api/v1/telemetry/sources/{id}/", "PUT"): "DADDDDD",
    ("/api/v1/telemetry/sources/{id}/", "PATCH"): "DADDDDD",
    ("/api/v1/telemetry/sources/{id}/rotate/", "POST"): "DADDDDD",
    ("/api/v1/telemetry/sources/{id}/revoke/", "POST"): "DADDDDD",
    # Violations, incidents, alerts (all about the data owner's dataset): officers, executives,
    # auditors and the dataset's owner read; officers handle.
    ("/api/v1/violations/", "GET"): "DAAADAD",
    ("/api/v1/violations/{id}/", "GET"): "DAAADAD",
    ("/api/v1/incidents/", "GET"): "DAAADAD",
    ("/api/v1/incidents/{id}/", "GET"): "DAAADAD",
    ("/api/v1/incidents/{id}/acknowledge/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/contain/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/resolve/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/assign/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/playbook/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/assess/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/comment/", "POST"): "DADDDDD",
    ("/api/v1/incidents/bulk/", "POST"): "DADDDDD",
    ("/api/v1/incidents/{id}/runs/", "GET"): "DAAADAD",
    ("/api/v1/incidents/{id}/timeline/", "GET"): "DAAADAD",
    ("/api/v1/anomaly-alerts/", "GET"): "DAAADAD",
    ("/api/v1/anomaly-alerts/{id}/", "GET"): "DAAADAD",
    ("/api/v1/anomaly-alerts/{id}/acknowledge/", "POST"): "DADDDDD",
    ("/api/v1/anomaly-alerts/{id}/dismiss/", "POST"): "DADDDDD",
    ("/api/v1/catalog-gaps/", "GET"): "DAAADAD",
    ("/api/v1/catalog-gaps/{id}/", "GET"): "DAAADAD",
    ("/api/v1/risk/stream", "GET"): "DAAADAD",
    # Breach drills: officers start and complete them; officers, executives and auditors read.
    ("/api/v1/drills/", "GET"): "DAADDAD",
    ("/api/v1/drills/", "POST"): "DADDDDD",
    ("/api/v1/drills/{id}/", "GET"): "DAADDAD",
    ("/api/v1/drills/{id}/complete/", "POST"): "DADDDDD",
}

# --- Pages: (URL name, method) -> expected per role ------------------------------------------
#                                                            anon PO  EX  DO  EN  AU  outsider
PAGES: dict[tuple[str, str], str] = {
    ("home", "GET"): "DAAAAAA",
    # The development mailbox: staff only (no role here is staff).
    ("mailbox", "GET"): "DDDDDDD",
    ("login", "GET"): "AAAAAAA",
    ("logout", "POST"): "AAAAAAA",
    # Single sign-on: not configured here, so there is nothing (404) for anyone.
    ("oidc-login", "GET"): "HHHHHHH",
    ("oidc-callback", "GET"): "HHHHHHH",
    # The catalog.
    ("catalog:dataset-list", "GET"): "DAAAAAD",
    ("catalog:dataset-create", "GET"): "DADADDD",
    ("catalog:data-map", "GET"): "DAAAAAD",
    ("catalog:dataset-detail", "GET"): "DAAAAAD",
    ("catalog:dataset-edit", "GET"): "DADADDD",
    ("catalog:dataset-delete", "GET"): "DADADDD",
    ("catalog:dataset-delete", "POST"): "DADADDD",
    # Governance.
    ("governance:rule-list", "GET"): "DAAAAAD",
    ("governance:rule-create", "GET"): "DADDDDD",
    ("governance:rule-detail", "GET"): "DAAAAAD",
    ("governance:rule-edit", "GET"): "DADDDDD",
    ("governance:rule-delete", "GET"): "DADDDDD",
    ("governance:rule-delete", "POST"): "DADDDDD",
    ("governance:grant-list", "GET"): "DAAAAAD",
    ("governance:grant-create", "GET"): "DADDDDD",
    ("governance:grant-detail", "GET"): "DAAAAAD",
    ("governance:grant-revoke", "GET"): "DADDDDD",
    ("governance:grant-revoke", "POST"): "DADDDDD",
    ("governance:run-list", "GET"): "DAAAAAD",
    ("governance:run-detail", "GET"): "DAAAAAD",
    ("governance:model-list", "GET"): "DAAAAAD",
    ("governance:model-create", "GET"): "DADAADD",
    ("governance:model-detail", "GET"): "DAAAAAD",
    ("governance:model-deploy", "POST"): "DADADDD",
    ("governance:deployment-retire", "POST"): "DADADDD",
    ("governance:decision-list", "GET"): "DAAAAAD",
    ("governance:decision-detail", "GET"): "DAAAAAD",
    ("governance:check", "GET"): "DAAAAAD",
    ("governance:what-if", "GET"): "DAAAAAD",
    ("governance:legal-coverage", "GET"): "DAAAAAD",
    ("governance:glossary-list", "GET"): "DAAAAAD",
    ("governance:glossary-create", "GET"): "DADADDD",
    ("governance:glossary-term", "GET"): "DAAAAAD",
    ("governance:glossary-edit", "GET"): "DADADDD",
    ("governance:glossary-submit", "POST"): "DDDADDD",
    ("governance:glossary-withdraw", "POST"): "DDDADDD",
    ("governance:glossary-approve", "POST"): "DADDDDD",
    ("governance:glossary-reject", "POST"): "DADDDDD",
    ("governance:glossary-deprecate", "GET"): "DADDDDD",
    ("governance:ledger-list", "GET"): "DAADDAD",
    ("governance:ledger-entry", "GET"): "DAADDAD",
    ("governance:ledger-checkpoints", "GET"): "DAADDAD",
    ("governance:ledger-checkpoints-json", "GET"): "DAADDAD",
    ("governance:ledger-tree-head-json", "GET"): "DAADDAD",
    ("governance:ledger-checkpoint-sign", "POST"): "DADDDAD",
    ("governance:ledger-record-list", "GET"): "DAAAAAD",
    ("governance:ledger-record-create", "GET"): "DADDDDD",
    ("governance:ledger-record-detail", "GET"): "DAAAAAD",
    ("governance:ledger-record-edit", "GET"): "DADDDDD",
    ("governance:evidence", "GET"): "DADDDAD",
    # Access reviews: officers run them; data owners review their own datasets' access.
    ("governance:access-review-list", "GET"): "DADADDD",
    ("governance:access-review-open", "POST"): "DADDDDD",
    ("governance:access-review", "GET"): "DADADDD",
    ("governance:access-review-decide", "POST"): "DADADDD",
    ("governance:notification-list", "GET"): "DAAAAAA",
    ("governance:notifications-read", "POST"): "DAAAAAA",
    ("governance:notification-preferences", "GET"): "DAAAAAA",
    # Your own second factor: anyone signed in (the POSTs stop at the empty code, 400).
    ("identity:second-factor", "GET"): "DAAAAAA",
    ("identity:second-factor-enrol", "GET"): "DAAAAAA",
    ("identity:second-factor-confirm", "GET"): "DAAAAAA",
    ("identity:second-factor-recovery-codes", "POST"): "DAAAAAA",
    ("identity:second-factor-remove", "POST"): "DAAAAAA",
    # Transfer exceptions (the data owner's, submitted) and the register.
    ("workflows:exception-list", "GET"): "DAAAAAD",
    ("workflows:exception-create", "GET"): "DADAADD",
    ("workflows:exception-active", "GET"): "DAAAAAD",
    ("workflows:exception-detail", "GET"): "DAAAHAD",
    ("workflows:exception-edit", "GET"): "DDDAHDD",
    ("workflows:exception-comment", "POST"): "DADAHDD",
    ("workflows:exception-step", "POST"): "DADDHDD",  # approve
    ("workflows:exception-queue", "GET"): "DADDDDD",
    ("workflows:transfer-register", "GET"): "DAADDAD",
    ("workflows:transfer-register-csv", "GET"): "DAADDAD",
    # Data-subject requests.
    ("workflows:subject-list", "GET"): "DAADDAD",
    ("workflows:subject-create", "GET"): "DADDDDD",
    ("workflows:subject-detail", "GET"): "DAADDAD",
    ("workflows:subject-step", "POST"): "DADDDDD",  # extend
    ("workflows:subject-task-list", "GET"): "DADADDD",
    ("workflows:subject-task-detail", "GET"): "DADADDD",
    ("workflows:subject-task-retry", "POST"): "DADADDD",
    ("workflows:subject-ml-decide", "POST"): "DADADDD",
    # Retention: an auditor reads every run but marks none done (404: not hers to work).
    ("workflows:retention", "GET"): "DADADAD",
    ("workflows:retention-hold-place", "GET"): "DADDDDD",
    ("workflows:retention-hold-lift", "GET"): "DADDDDD",
    ("workflows:retention-run-done", "GET"): "DADADHD",
    # The public's pages: no sign-in; a package link with a wrong token shows nothing (404).
    ("workflows:subject-intake", "GET"): "AAAAAAA",
    ("workflows:subject-verify", "GET"): "AAAAAAA",
    ("workflows:subject-verify-link", "GET"): "AAAAAAA",
    ("workflows:subject-package", "GET"): "HHHHHHH",
    # Risk dashboards: the officer here answers for every jurisdiction, so sees the executive
    # dashboard too.
    ("monitoring:home", "GET"): "DAAAAAD",
    ("monitoring:executive", "GET"): "DAADDAD",
    ("monitoring:executive-data", "GET"): "DAADDAD",
    ("monitoring:officer", "GET"): "DADDDDD",
    ("monitoring:officer-data", "GET"): "DADDDDD",
    ("monitoring:owner", "GET"): "DDDADDD",
    ("monitoring:owner-data", "GET"): "DDDADDD",
    ("monitoring:incident-action", "POST"): "DADDDDD",  # acknowledge
    # An incident's page: whoever may read it (its dataset's owner too); officers act on it.
    ("monitoring:incident-detail", "GET"): "DAAADAD",
    ("monitoring:incident-comment", "POST"): "DADDDDD",
    ("monitoring:queue-bulk", "POST"): "DADDDDD",
    # A transfer exception pre-filled from an incident: those who may ask for one and may see it.
    ("monitoring:incident-exception", "GET"): "DADADDD",
    ("monitoring:alert-action", "POST"): "DADDDDD",  # acknowledge
    ("monitoring:drill-list", "GET"): "DAADDAD",
    ("monitoring:drill-list", "POST"): "DADDDDD",
    ("monitoring:drill-detail", "GET"): "DAADDAD",
    ("monitoring:drill-complete", "POST"): "DADDDDD",
    ("lineage:gap-list", "GET"): "DAAADAD",
    ("lineage:gap-register", "GET"): "DADADDD",
}

# --- Known disagreements between the code and the intent: (row, role) -> reason ---------------
XFAIL: dict[tuple[tuple[str, str], str], str] = {}

# --- What each URL points at -------------------------------------------------------------------

# API path prefix -> the world's object for the path's one parameter.
API_OBJECTS = {
    "/api/v1/countries/": lambda w: "FR",
    "/api/v1/jurisdictions/": lambda w: "eu",
    "/api/v1/adequacy-decisions/": lambda w: w.ids["adequacy"],
    "/api/v1/regions/": lambda w: IRELAND,
    "/api/v1/personal-data-categories/": lambda w: "contact",
    "/api/v1/purposes/": lambda w: "model-training",
    "/api/v1/datasets/": lambda w: w.ids["dataset_customers"],
    "/api/v1/lineage-edges/": lambda w: w.ids["edge"],
    "/api/v1/locality-rules/": lambda w: w.ids["rule"],
    "/api/v1/transfer-grants/": lambda w: w.ids["grant"],
    "/api/v1/training-runs/": lambda w: w.ids["run"],
    "/api/v1/models/": lambda w: w.ids["model"],
    "/api/v1/model-deployments/": lambda w: w.ids["deployment"],
    "/api/v1/decisions/": lambda w: w.ids["decision"],
    "/api/v1/ledger/entries/": lambda w: w.ids["ledger_sequence"],
    "/api/v1/ledger/checkpoints/": lambda w: w.ids["checkpoint"],
    "/api/v1/recorded-decisions/": lambda w: w.ids["record"],
    "/api/v1/glossary/terms/": lambda w: w.ids["term_approved"],
    "/api/v1/transfer-exceptions/": lambda w: w.ids["exception"],
    "/api/v1/subject-requests/": lambda w: w.ids["subject_request"],
    "/api/v1/subject-tasks/": lambda w: w.ids["subject_task"],
    "/api/v1/subject-ml-decisions/": lambda w: w.ids["ml_decision"],
    "/api/v1/consents/notices/": lambda w: w.ids["consent_notice"],
    "/api/v1/dataset-connectors/": lambda w: w.ids["connector"],
    "/api/v1/retention/runs/": lambda w: w.ids["retention_run"],
    "/api/v1/retention/holds/": lambda w: w.ids["legal_hold"],
    "/api/v1/telemetry/sources/": lambda w: w.ids["source"],
    "/api/v1/violations/": lambda w: w.ids["violation"],
    "/api/v1/incidents/": lambda w: w.ids["incident"],
    "/api/v1/drills/": lambda w: w.ids["drill"],
    "/api/v1/anomaly-alerts/": lambda w: w.ids["alert"],
    "/api/v1/catalog-gaps/": lambda w: w.ids["gap"],
}
# The glossary's review steps act on the term in review; the rest on the approved term.
TERM_IN_REVIEW_ACTIONS = ("/submit/", "/withdraw/", "/approve/", "/reject/")

PAGE_KWARGS = {
    "catalog:dataset-detail": lambda w: {"slug": w.ids["dataset_customers"]},
    "catalog:dataset-edit": lambda w: {"slug": w.ids["dataset_customers"]},
    "catalog:dataset-delete": lambda w: {"slug": w.ids["dataset_customers"]},
    "governance:rule-detail": lambda w: {"pk": w.ids["rule"]},
    "governance:rule-edit": lambda w: {"pk": w.ids["rule"]},
    "governance:rule-delete": lambda w: {"pk": w.ids["rule"]},
    "governance:grant-detail": lambda w: {"pk": w.ids["grant"]},
    "governance:grant-revoke": lambda w: {"pk": w.ids["grant"]},
    "governance:access-review": lambda w: {"pk": w.ids["access_review"]},
    "governance:access-review-decide": lambda w: {"pk": w.ids["access_review_item"]},
    "governance:run-detail": lambda w: {"pk": w.ids["run"]},
    "governance:decision-detail": lambda w: {"pk": w.ids["decision"]},
    "governance:model-detail": lambda w: {"pk": w.ids["model"]},
    "governance:model-deploy": lambda w: {"pk": w.ids["model"]},
    "governance:deployment-retire": lambda w: {"pk": w.ids["deployment"]},
    "governance:glossary-term": lambda w: {"slug": w.ids["term_approved"]},
    "governance:glossary-edit": lambda w: {"slug": w.ids["term_approved"]},
    "governance:glossary-submit": lambda w: {"slug": w.ids["term_in_review"]},
    "governance:glossary-withdraw": lambda w: {"slug": w.ids["term_in_review"]},
    "governance:glossary-approve": lambda w: {"slug": w.ids["term_in_review"]},
    "governance:glossary-reject": lambda w: {"slug": w.ids["term_in_review"]},
    "governance:glossary-deprecate": lambda w: {"slug": w.ids["term_approved"]},
    "governance:ledger-entry": lambda w: {"sequence": w.ids["ledger_sequence"]},
    "governance:ledger-record-detail": lambda w: {"pk": w.ids["record"]},
    "governance:ledger-record-edit": lambda w: {"pk": w.ids["record"]},
    "workflows:exception-detail": lambda w: {"pk": w.ids["exception"]},
    "workflows:exception-edit": lambda w: {"pk": w.ids["exception"]},
    "workflows:exception-comment": lambda w: {"pk": w.ids["exception"]},
    "workflows:exception-step": lambda w: {"pk": w.ids["exception"], "step": "approve"},
    "workflows:subject-detail": lambda w: {"pk": w.ids["subject_request"]},
    "workflows:subject-step": lambda w: {"pk": w.ids["subject_request"], "step": "extend"},
    "workflows:subject-task-detail": lambda w: {"pk": w.ids["subject_task"]},
    "workflows:subject-task-retry": lambda w: {"pk": w.ids["subject_task"]},
    "workflows:subject-ml-decide": lambda w: {"pk": w.ids["ml_decision"]},
    "workflows:subject-verify": lambda w: {"token": w.ids["verify_token"]},
    "workflows:subject-verify-link": lambda w: {
        "token": w.ids["verify_token"],
        "link": w.ids["verify_link"],
    },
    "workflows:subject-package": lambda w: {"pk": w.ids["subject_request"], "token": "not-it"},
    "workflows:retention-hold-lift": lambda w: {"pk": w.ids["legal_hold"]},
    "workflows:retention-run-done": lambda w: {"pk": w.ids["retention_run"]},
    "monitoring:incident-action": lambda w: {"pk": w.ids["incident"], "verb": "acknowledge"},
    "monitoring:incident-detail": lambda w: {"pk": w.ids["incident"]},
    "monitoring:incident-comment": lambda w: {"pk": w.ids["incident"]},
    "monitoring:incident-exception": lambda w: {"pk": w.ids["incident"]},
    "monitoring:alert-action": lambda w: {"pk": w.ids["alert"], "verb": "acknowledge"},
    "monitoring:drill-detail": lambda w: {"pk": w.ids["drill"]},
    "monitoring:drill-complete": lambda w: {"pk": w.ids["drill"]},
    "lineage:gap-register": lambda w: {"pk": w.ids["gap"]},
}

# --- Bodies: enough to get past validation to the permission check ----------------------------

# Every action gets its reason, comment or note (extra fields are ignored).
ACTION_BODY = {"reason": "matrix", "comment": "matrix", "note": "matrix"}
API_BODIES = {
    ("/api/v1/datasets/", "POST"): lambda w: {
        "name": "Matrix new",
        "slug": "mx-new",
        "storage_region": IRELAND,
        "sensitivity": "internal",
        "retention_days": 30,
    },
    ("/api/v1/lineage-edges/", "POST"): lambda w: {
        "upstream": w.ids["dataset_metrics"],
        "downstream": w.ids["dataset_features"],
    },
    ("/api/v1/locality-rules/", "POST"): lambda w: {
        "name": "matrix rule",
        "effect": "deny",
        "dataset": w.ids["dataset_features"],
        "countries": ["BR"],
    },
    ("/api/v1/transfer-grants/", "POST"): lambda w: {
        "datasets": [w.ids["dataset_features"]],
        "destination_regions": ["aws:ap-southeast-1"],
        "mechanism": "scc",
        "valid_from": "2030-01-01T00:00:00Z",
        "valid_until": "2030-02-01T00:00:00Z",
    },
    ("/api/v1/training-runs/", "POST"): lambda w: {
        "name": "matrix-run",
        "purpose": "model-training",
        "compute_regions": [IRELAND],
        "datasets": [{"dataset": w.ids["dataset_features"]}],
    },
    ("/api/v1/training-runs/{id}/reads/", "POST"): lambda w: {
        "reads": [{"dataset": w.ids["dataset_customers"], "region": IRELAND}]
    },
    ("/api/v1/models/", "POST"): lambda w: {
        "name": "matrix-model",
        "version": "1",
        "uri": "s3://matrix/model",
        "training_runs": [w.ids["run"]],
    },
    ("/api/v1/models/{id}/deploy/", "POST"): lambda w: {
        "region": IRELAND,
        "purpose": "model-training",
    },
    ("/api/v1/models/{id}/check/", "POST"): lambda w: {
        "action": "infer",
        "region": IRELAND,
        "purpose": "model-training",
    },
    ("/api/v1/recorded-decisions/", "POST"): lambda w: {
        "title": "Matrix",
        "context": "c",
        "decision": "d",
    },
    ("/api/v1/glossary/terms/", "POST"): lambda w: {"name": "Matrix term", "definition": "d"},
    ("/api/v1/transfer-exceptions/", "POST"): lambda w: {
        "datasets": [w.ids["dataset_customers"]],
        "destination_regions": [VIRGINIA],
        "purpose": "model-training",
        "mechanism": "scc",
        "scc_module": "c2p",
        "justification": "Train on US GPUs",
        "tia_risks": ["US surveillance law"],
        "tia_measures": ["encryption_in_transit"],
    },
    ("/api/v1/subject-requests/", "POST"): lambda w: {
        "type": "access",
        "jurisdiction": "eu",
        "identifiers": {"email": "pat.person@example.org"},
    },
    ("/api/v1/dataset-connectors/", "POST"): lambda w: {
        "dataset": w.ids["dataset_customers"],
        "kind": "manual",
        "identifier_kinds": ["email"],
    },
    ("/api/v1/telemetry/sources/", "POST"): lambda w: {"name": "matrix-source"},
    ("/api/v1/incidents/{id}/assign/", "POST"): lambda w: {"owner": "mx-officer"},
    ("/api/v1/incidents/{id}/playbook/", "POST"): lambda w: {"step": "contain", "done": True},
    ("/api/v1/incidents/{id}/comment/", "POST"): lambda w: {"text": "matrix"},
    ("/api/v1/incidents/bulk/", "POST"): lambda w: {
        "action": "acknowledge",
        "incidents": [w.ids["incident"]],
    },
    ("/api/v1/incidents/{id}/assess/", "POST"): lambda w: {
        "assessment": "not_a_breach",
        "reasoning": "A house-rule deviation: no personal data left its lawful places.",
    },
    ("/api/v1/subject-ml-decisions/{id}/decide/", "POST"): lambda w: {"decision": "retrain"},
    ("/api/v1/subject-tasks/{id}/complete/", "POST"): lambda w: {"note": "Deleted the rows"},
    ("/api/v1/retention/runs/{id}/complete/", "POST"): lambda w: {"note": "Deleted old rows"},
    ("/api/v1/retention/holds/", "POST"): lambda w: {
        "dataset": w.ids["dataset_features"],
        "reason": "Matrix order",
    },
    ("/api/v1/retention/holds/{id}/lift/", "POST"): lambda w: {"reason": "Matrix ended"},
}
PAGE_BODIES = {
    "monitoring:incident-comment": {"text": "matrix"},
    "monitoring:queue-bulk": {"action": "acknowledge", "incidents": ["1"]},
    "governance:grant-revoke": {"reason": "matrix"},
    "workflows:subject-step": {"reason": "Complex request"},
    "workflows:subject-ml-decide": {"decision": "retrain"},
    "workflows:exception-step": {"comment": "matrix"},
    "workflows:exception-comment": {"comment": "matrix"},
    "governance:glossary-approve": {"comment": "matrix"},
    "governance:glossary-reject": {"comment": "matrix"},
}

# --- The world, once per module ----------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Build every object once, in a transaction each test nests in; roll it back at the end."""
    outer = transaction.atomic()
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        outer.__enter__()
        try:
            built = build_world()
            built.ids["adequacy"] = AdequacyDecision.objects.values_list("pk", flat=True)[0]
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def open_intake(settings):
    """The public endpoints are throttled per address: every request here comes from one."""
    settings.SUBJECT_INTAKE_RATE = "100000/hour"


def _person(world: World, role: str):
    """A fresh instance per test: no permission cache carried over from another test."""
    if role == "anonymous":
        return None
    return get_user_model().objects.get(pk=world.users[role])


# --- Sending one request and naming what came back -------------------------------------------


def _api_url(world: World, path: str) -> str:
    if "{" not in path:
        return path
    prefix = path[: path.index("{")]
    value = API_OBJECTS[prefix](world)
    if prefix == "/api/v1/glossary/terms/" and path.endswith(TERM_IN_REVIEW_ACTIONS):
        value = world.ids["term_in_review"]
    return re.sub(r"\{[^}]+\}", str(value), path)


def _put_body(world: World, path: str) -> dict:
    """A PUT sends the object as a privacy officer reads it: a no-op update, valid."""
    reader = APIClient()
    reader.force_authenticate(_person(world, "privacy_officer"))
    current = reader.get(_api_url(world, path))
    assert current.status_code == 200, current.content
    return current.json()


def api_call(world: World, path: str, method: str, role: str):
    client = APIClient()
    person = _person(world, role)
    if person is not None:
        client.force_authenticate(person)
    url = _api_url(world, path)
    if method == "GET":
        return client.get(url)
    if method == "PUT":
        body = _put_body(world, path)
    elif (path, method) in API_BODIES:
        body = API_BODIES[(path, method)](world)
    else:
        body = ACTION_BODY if method == "POST" else {}
    return getattr(client, method.lower())(url, body, format="json")


def page_call(world: World, name: str, method: str, role: str):
    client = Client()
    person = _person(world, role)
    if person is not None:
        client.force_login(person)
    kwargs = PAGE_KWARGS[name](world) if name in PAGE_KWARGS else {}
    url = reverse(name, kwargs=kwargs)
    if method == "GET":
        return client.get(url)
    return client.post(url, PAGE_BODIES.get(name, {}))


def _to_login(response) -> bool:
    return response.status_code in (301, 302, 303) and response["Location"].startswith(
        reverse("login")
    )


def outcome(response, *, page: bool, anonymous: bool) -> str:
    """What the response means for the matrix: allow, deny, hidden, or the odd status."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if page and _to_login(response):
        return "deny" if anonymous else "login redirect while signed in"
    if status == 401 or (status == 403 and not (anonymous and not page)):
        return "deny"
    if status == 404:
        return "hidden"
    if status < 400 or status in (400, 405, 409):
        return "allow"
    return f"status {status}"


def _cases(table: dict) -> list:
    cases = []
    for (target, method), row in table.items():
        assert len(row) == len(ROLES), f"{target} {method}: {len(row)} cells, not {len(ROLES)}"
        for role, cell in zip(ROLES, row, strict=True):
            marks = []
            reason = XFAIL.get(((target, method), role))
            if reason:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            cases.append(
                pytest.param(
                    target, method, role, cell, marks=marks, id=f"{method} {target} {role}"
                )
            )
    return cases


# --- The matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "method", "role", "cell"), _cases(API))
def test_api(world, path, method, role, cell):
    response = api_call(world, path, method, role)
    got = outcome(response, page=False, anonymous=role == "anonymous")
    assert got == WORDS[cell], f"{response.status_code}: {response.content[:300]!r}"


@pytest.mark.parametrize(("name", "method", "role", "cell"), _cases(PAGES))
def test_page(world, name, method, role, cell):
    response = page_call(world, name, method, role)
    got = outcome(response, page=True, anonymous=role == "anonymous")
    if name == "logout" and _to_login(response):
        got = "allow"  # signing out lands on the sign-in page, for everyone
    assert got == WORDS[cell], f"{response.status_code}: {response.content[:300]!r}"


# Every write a signed-in role is denied, sent with an empty body: the refusal must come before
# the body is read, or the person would get its validation errors (400) instead of a 403.
EMPTY_BODY_CASES = [
    pytest.param(path, method, role, id=f"{method} {path} {role}")
    for (path, method), row in API.items()
    if method in ("POST", "PUT", "PATCH")
    for role, cell in zip(ROLES, row, strict=True)
    if cell == DENY and role != "anonymous" and ((path, method), role) not in XFAIL
]


@pytest.mark.parametrize(("path", "method", "role"), EMPTY_BODY_CASES)
def test_denied_before_the_body_is_read(world, path, method, role):
    client = APIClient()
    client.force_authenticate(_person(world, role))
    response = getattr(client, method.lower())(_api_url(world, path), {}, format="json")
    assert response.status_code == 403, f"{response.status_code}: {response.content[:300]!r}"


# --- What a reader sees of a subject request ---------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown"),
    [("privacy_officer", True), ("executive", False), ("auditor", False)],
)
def test_subject_identifiers_only_for_officers(world, role, shown):
    """Executives and auditors read subject requests without the subject's identifiers."""
    from tests.authz_world import SUBJECT

    pk = world.ids["subject_request"]
    api = api_call(world, "/api/v1/subject-requests/{id}/", "GET", role)
    page = page_call(world, "workflows:subject-detail", "GET", role)
    assert (api.status_code, page.status_code) == (200, 200)
    assert (SUBJECT in api.content.decode()) is shown, f"API, request {pk}"
    assert (SUBJECT in page.content.decode()) is shown, f"page, request {pk}"


# --- Endpoints authenticated by a telemetry source's token -------------------------------------

SOURCE_ENDPOINTS = ("/api/v1/telemetry/events", "/api/v1/lineage")


@pytest.mark.parametrize("path", SOURCE_ENDPOINTS)
@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("source token", "allow"),
        ("no token", "deny"),
        ("revoked source token", "deny"),
        ("a person's API token", "deny"),
        ("unknown token", "deny"),
    ],
)
def test_source_token_endpoints(world, path, credential, expected):
    headers = {
        "source token": f"Bearer {world.token}",
        "revoked source token": f"Bearer {world.revoked_token}",
        "unknown token": "Bearer not-a-token",
    }
    client = APIClient()
    if credential == "a person's API token":
        officer = _person(world, "privacy_officer")
        key = Token.objects.get_or_create(user=officer)[0].key
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    elif credential in headers:
        client.credentials(HTTP_AUTHORIZATION=headers[credential])
    response = client.post(path, {}, format="json")
    assert response.status_code != 403, "a bad source credential answers 401, not 403"
    assert outcome(response, page=False, anonymous=True) == expected, response.content[:300]


# --- Every route has a row ----------------------------------------------------------------------


def _url_patterns(patterns=None, prefix="", namespace=None):
    """(route, name) of every URL pattern, namespaced names ("catalog:dataset-list")."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield prefix + str(pattern.pattern), name


def _schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper())
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def _template(route: str) -> str:
    """An API route as a path template with anonymous parameters: /api/v1/datasets/{}/."""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "{}", route)
    route = re.sub(r"<(\w+:)?\w+>", "{}", route)
    return "/" + route


def test_every_api_operation_has_a_row():
    operations = _schema_operations()
    missing = sorted(operations - set(API))
    stale = sorted(set(API) - operations)
    assert not missing, f"API operations with no row: add them to the matrix: {missing}"
    assert not stale, f"rows for API operations that no longer exist: {stale}"


def test_every_api_route_is_in_the_schema():
    """The schema is the list of API operations: a route it leaves out would escape the matrix."""
    documented = {re.sub(r"\{\w+\}", "{}", path) for path, _ in _schema_operations()}
    routes = {
        _template(route)
        for route, name in _url_patterns()
        if name
        and name.startswith("v1:")
        and name not in SKIPPED_API_NAMES
        and "(?P<format>" not in route
    }
    assert not sorted(routes - documented), "API routes missing from the OpenAPI schema"


def test_every_page_has_a_row():
    names = {
        name
        for route, name in _url_patterns()
        if not route.startswith(SKIPPED_URL_PREFIXES)
        and name not in SKIPPED_URL_NAMES
        and not (name or "").startswith("v1:")
    }
    assert None not in names, "a page without a URL name cannot have a row: name it"
    rows = {name for name, _ in PAGES}
    assert not sorted(names - rows), (
        f"pages with no row: add them to the matrix: {sorted(names - rows)}"
    )
    assert not sorted(rows - names), f"rows for pages that no longer exist: {sorted(rows - names)}"
