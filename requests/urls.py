"""Workflow pages: transfer exceptions and data-subject requests."""

from django.urls import include, path

app_name = "workflows"

urlpatterns: list = []

urlpatterns += [path("subjects/", include("requests.subject_urls"))]
