"""The catalog's pages; fixed paths come before <slug>/ so they are never taken for a dataset."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.dataset_list, name="dataset-list"),
    path("new/", views.dataset_create, name="dataset-create"),
    path("map/", views.data_map, name="data-map"),
    path("<slug:slug>/", views.dataset_detail, name="dataset-detail"),
    path("<slug:slug>/edit/", views.dataset_edit, name="dataset-edit"),
    path("<slug:slug>/delete/", views.dataset_delete, name="dataset-delete"),
]
