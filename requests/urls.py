"""Workflow pages: transfer exceptions and data-subject requests."""

from django.urls import include, path

from requests.transfers import views as transfer_views

app_name = "workflows"

urlpatterns: list = [
    path("exceptions/", transfer_views.exception_list, name="exception-list"),
    path("exceptions/new/", transfer_views.exception_create, name="exception-create"),
    path("exceptions/active/", transfer_views.exception_active, name="exception-active"),
    path("exceptions/<int:pk>/", transfer_views.exception_detail, name="exception-detail"),
    path("exceptions/<int:pk>/edit/", transfer_views.exception_edit, name="exception-edit"),
    path(
        "exceptions/<int:pk>/comment/",
        transfer_views.exception_comment,
        name="exception-comment",
    ),
    path("exceptions/<int:pk>/<slug:step>/", transfer_views.exception_step, name="exception-step"),
    path("review/", transfer_views.review_queue, name="exception-queue"),
    path("register/", transfer_views.transfer_register, name="transfer-register"),
    path("register.csv", transfer_views.transfer_register_csv, name="transfer-register-csv"),
]

urlpatterns += [
    path("subjects/", include("requests.subjects.urls")),
    path("retention/", include("requests.retention.urls")),
]
