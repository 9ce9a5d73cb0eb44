"""Workflow API routes, mounted under /api/v1/ by governance.urls."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = [*router.urls]
