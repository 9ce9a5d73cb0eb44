from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Data catalog"

    def ready(self) -> None:
        from catalog import throttling  # noqa: F401  (registers the rate settings' check)
        from catalog.strict_types import refuse_other_types

        refuse_other_types()
