from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, **kwargs) -> None:
    from governance.roles import ensure_roles

    ensure_roles()


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        import governance.celery  # noqa: F401  (tasks queued from Django use this configured app)

        # Permissions exist only after every app has migrated, so roles are set up then.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="locus_ensure_roles")
        from catalog.signals import dataset_changed
        from governance.audit import record_dataset_change

        dataset_changed.connect(record_dataset_change, dispatch_uid="locus_ledger_dataset_changed")
