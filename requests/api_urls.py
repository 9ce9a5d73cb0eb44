"""Workflow API routes, mounted under /api/v1/ by governance.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from requests.consents import api as consent_api
from requests.retention import api as retention_api
from requests.subjects import api as subject_api
from requests.subjects import public_api
from requests.transfers import api as transfer_api

router = SimpleRouter()
router.register("subject-requests", subject_api.SubjectRequestViewSet, basename="subject-request")
router.register("subject-tasks", subject_api.SubjectTaskViewSet, basename="subject-task")
router.register(
    "subject-ml-decisions", subject_api.MlDecisionViewSet, basename="subject-ml-decision"
)
router.register(
    "dataset-connectors", subject_api.DatasetConnectorViewSet, basename="dataset-connector"
)
router.register("retention/runs", retention_api.RetentionRunViewSet, basename="retention-run")
router.register("retention/holds", retention_api.LegalHoldViewSet, basename="legal-hold")
router.register(
    "retention/summary", retention_api.RetentionSummaryViewSet, basename="retention-summary"
)
router.register(
    "transfer-exceptions", transfer_api.TransferExceptionViewSet, basename="transfer-exception"
)
router.register(
    "transfer-register", transfer_api.TransferRegisterViewSet, basename="transfer-register"
)

urlpatterns = [
    path("consents/events/", consent_api.ConsentEventsView.as_view(), name="consent-events"),
    path("consents/current/", consent_api.ConsentCurrentView.as_view(), name="consent-current"),
    path(
        "transfer-register.csv",
        transfer_api.TransferRegisterViewSet.as_view({"get": "list"}),
        {"format": "csv"},
        name="transfer-register-csv",
    ),
    *router.urls,
]

# The public's endpoints (no sign-in, throttled): ask, then confirm with the e-mailed code.
urlpatterns += [
    path("subject-intake/", public_api.PublicIntakeView.as_view(), name="subject-intake"),
    path("subject-intake/verify", public_api.PublicVerifyView.as_view(), name="subject-verify"),
    path("subject-intake/rights", public_api.PublicRightsView.as_view(), name="subject-rights"),
]
