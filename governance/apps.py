from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, **kwargs) -> None:
    from governance.roles import ensure_roles

    ensure_roles()


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Permissions exist only after every app has migrated, so roles are set up then.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="locus_ensure_roles")
