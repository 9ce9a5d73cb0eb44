from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, using="default", **kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from governance.roles import ensure_roles

    # Roles name permissions of apps that migrate after governance (the workflows, monitoring):
    # make every app's permissions first (idempotent), then set the roles.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_roles()


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        import governance.celery  # noqa: F401  (tasks queued from Django use this configured app)
        from governance.identity import checks  # noqa: F401  (registers the sign-on checks)

        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="locus_ensure_roles")
        from django.contrib.auth.signals import user_logged_in

        from catalog.signals import dataset_changed, lineage_edge_changed
        from governance.audit import record_dataset_change, record_lineage_edge_change
        from governance.identity import authcache
        from governance.identity.second_factor import on_sign_in

        # A token's person, and a person's permissions and roles, are cached until they change.
        authcache.connect()
        # Each sign-in (a password, or the identity provider) decides whether the new session
        # must confirm or enrol a second factor before anything else.
        user_logged_in.connect(on_sign_in, dispatch_uid="locus_second_factor_sign_in")
        dataset_changed.connect(record_dataset_change, dispatch_uid="locus_ledger_dataset_changed")
        lineage_edge_changed.connect(
            record_lineage_edge_change, dispatch_uid="locus_ledger_lineage_edge_changed"
        )
