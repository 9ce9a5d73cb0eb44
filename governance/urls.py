"""Locus's URLs: pages, the API under /api/v1/, its schema and docs, probes and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from catalog import api as catalog_api
from governance import api_errors, health, mailbox, views
from governance.checks import api as check_api
from governance.consent import api as consent_api
from governance.glossary import api as glossary_api
from governance.grants import api as grant_api
from governance.identity import views as identity_views
from governance.ledger import api as ledger_api
from governance.ledger import tree_api as ledger_tree_api
from governance.ledger import views as ledger_views
from governance.ml import api as ml_api
from governance.notifications import views as notification_views
from governance.policy import api as policy_api

router = DefaultRouter()
router.register("countries", catalog_api.CountryViewSet, basename="country")
router.register("jurisdictions", catalog_api.JurisdictionViewSet, basename="jurisdiction")
router.register(
    "adequacy-decisions", catalog_api.AdequacyDecisionViewSet, basename="adequacy-decision"
)
router.register("regions", catalog_api.RegionViewSet, basename="region")
router.register(
    "personal-data-categories",
    catalog_api.PersonalDataCategoryViewSet,
    basename="personal-data-category",
)
router.register("datasets", catalog_api.DatasetViewSet, basename="dataset")
router.register("lineage-edges", catalog_api.LineageEdgeViewSet, basename="lineage-edge")
router.register("purposes", policy_api.PurposeViewSet, basename="purpose")
router.register("consents/notices", consent_api.ConsentNoticeViewSet, basename="consent-notice")
router.register("locality-rules", policy_api.LocalityRuleViewSet, basename="locality-rule")
router.register("transfer-grants", grant_api.TransferGrantViewSet, basename="transfer-grant")
router.register("training-runs", check_api.TrainingRunViewSet, basename="training-run")
router.register("models", ml_api.TrainedModelViewSet, basename="trained-model")
router.register("model-deployments", ml_api.ModelDeploymentViewSet, basename="model-deployment")
router.register("decisions", check_api.LocalityDecisionViewSet, basename="decision")
router.register("ledger/entries", ledger_api.LedgerEntryViewSet, basename="ledger-entry")
router.register("ledger/checkpoints", ledger_api.CheckpointViewSet, basename="ledger-checkpoint")
router.register(
    "recorded-decisions", ledger_api.RecordedDecisionViewSet, basename="recorded-decision"
)
router.register("glossary/terms", glossary_api.TermViewSet, basename="glossary-term")
router.register("notifications", notification_views.NotificationViewSet, basename="notification")

# Django tries patterns in order, so the endpoints pipelines call at volume come first (the
# check, then monitoring's: telemetry and OpenLineage); behind the router's ~150 patterns they
# cost a tenth of a request's CPU. No two patterns here match the same path: order is speed only.
api_v1: list[URLPattern | URLResolver] = [
    path("locality/check", check_api.LocalityCheckView.as_view(), name="locality-check"),
    path("", include("monitoring.api_urls")),
    path("", include(router.urls)),
    path("", include("requests.api_urls")),
    path("data-map/", catalog_api.DataMapView.as_view(), name="data-map"),
    path("ledger/verify", ledger_api.LedgerVerifyView.as_view(), name="ledger-verify"),
    path("ledger/export", ledger_api.LedgerExportView.as_view(), name="ledger-export"),
    path(
        "ledger/proof/inclusion",
        ledger_tree_api.InclusionProofView.as_view(),
        name="ledger-proof-inclusion",
    ),
    path(
        "ledger/proof/consistency",
        ledger_tree_api.ConsistencyProofView.as_view(),
        name="ledger-proof-consistency",
    ),
    path(
        "ledger/tree-heads/latest",
        ledger_tree_api.LatestTreeHeadView.as_view(),
        name="ledger-tree-head-latest",
    ),
    path("evidence", ledger_views.EvidenceAPIView.as_view(), name="evidence"),
    path("locality/replay", policy_api.ReplayView.as_view(), name="locality-replay"),
    path(
        "locality/what-if/adequacy",
        policy_api.AdequacyWhatIfView.as_view(),
        name="adequacy-what-if",
    ),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("mailbox/", mailbox.mailbox, name="mailbox"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", identity_views.LoginView.as_view(), name="login"),
    path("accounts/oidc/login/", identity_views.oidc_login, name="oidc-login"),
    path("accounts/oidc/callback/", identity_views.oidc_callback, name="oidc-callback"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/second-factor/", include("governance.identity.devices.urls")),
    path("catalog/", include("catalog.urls")),
    path("governance/", include("governance.page_urls")),
    path("workflows/", include("requests.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("monitoring/lineage/", include("monitoring.lineage.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/login/", identity_views.admin_login),
    path("admin/", admin.site.urls),
    # Last: any other path under /api/ is the API's JSON 404, not the site's HTML page.
    re_path(r"^api/(?P<rest>.*)$", api_errors.api_not_found, name="api-not-found"),
]

# An unreachable database met outside a view (a middleware) is a 503 too, not a 500.
handler500 = "governance.unavailable.server_error"
