"""Workflow pages: transfer exceptions and data-subject requests."""

from django.urls import path

app_name = "workflows"

urlpatterns: list = []
