"""Data-subject request pages, included by requests/urls.py under the "workflows" namespace."""

from django.urls import path

from requests.subjects import views

urlpatterns = [
    path("", views.request_list, name="subject-list"),
    path("new/", views.request_create, name="subject-create"),
    path("<int:pk>/", views.request_detail, name="subject-detail"),
    path("<int:pk>/step/<slug:step>/", views.request_step, name="subject-step"),
    path("tasks/", views.task_list, name="subject-task-list"),
    path("tasks/<int:pk>/", views.task_detail, name="subject-task-detail"),
    path("tasks/<int:pk>/retry/", views.task_retry, name="subject-task-retry"),
    path("models/<int:pk>/decide/", views.ml_decide, name="subject-ml-decide"),
    # The public's pages: no sign-in.
    path("ask/", views.public_intake, name="subject-intake"),
    # Addressed by the request's unguessable verify token (never its id); then the e-mailed
    # link's own secret.
    path("verify/<str:token>/", views.public_verify, name="subject-verify"),
    path("verify/<str:token>/<str:link>/", views.public_verify_link, name="subject-verify-link"),
    path("<int:pk>/package/<str:token>/", views.public_package, name="subject-package"),
]
