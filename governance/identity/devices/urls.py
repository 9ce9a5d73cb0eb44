"""The second-factor pages, under /accounts/second-factor/."""

from django.urls import path

from governance.identity.devices import views

app_name = "identity"

urlpatterns = [
    path("", views.second_factor_page, name="second-factor"),
    path("enrol/", views.enrol, name="second-factor-enrol"),
    path("confirm/", views.confirm, name="second-factor-confirm"),
    path("recovery-codes/", views.recovery_codes, name="second-factor-recovery-codes"),
    path("remove/", views.remove, name="second-factor-remove"),
]
