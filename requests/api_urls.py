"""Workflow API routes, mounted under /api/v1/ by governance.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from requests import transfer_api

router = SimpleRouter()
router.register(
    "transfer-exceptions", transfer_api.TransferExceptionViewSet, basename="transfer-exception"
)
router.register(
    "transfer-register", transfer_api.TransferRegisterViewSet, basename="transfer-register"
)

urlpatterns = [
    path(
        "transfer-register.csv",
        transfer_api.TransferRegisterViewSet.as_view({"get": "list"}),
        {"format": "csv"},
        name="transfer-register-csv",
    ),
    *router.urls,
]
