from django.apps import AppConfig


class RequestsConfig(AppConfig):
    # The folder is `requests/`; the label says what it holds and avoids a clash with PyPI's name.
    name = "requests"
    label = "workflows"
    verbose_name = "Workflows"
