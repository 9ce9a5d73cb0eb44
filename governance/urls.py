"""Locus's URLs: pages, the API under /api/v1/, its schema and docs, probes and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from catalog import api as catalog_api
from governance import health, views

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

api_v1 = [
    path("", include(router.urls)),
    path("data-map/", catalog_api.DataMapView.as_view(), name="data-map"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("catalog/", include("catalog.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]
