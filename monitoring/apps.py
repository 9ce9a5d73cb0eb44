from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from monitoring.consumers import close_session_sockets

        # A socket lives no longer than the session that opened it.
        user_logged_out.connect(close_session_sockets, dispatch_uid="locus_close_session_sockets")
