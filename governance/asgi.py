"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
import os

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")


def leave_bodies_to_django() -> None:
    """Daphne's HTTP layer (Twisted) parses a multipart body for itself, which Daphne never
    uses, and answers a malformed one with a bare 400 before Locus sees it. Bodies are Django's
    to read: its parsers give the API's error shape (a 400 naming the reason) and its limits."""
    try:
        from daphne.http_protocol import WebRequest  # type: ignore[import-untyped]
    except ImportError:  # served by another ASGI server
        return
    if getattr(WebRequest, "locus_bodies_to_django", False):
        return
    parent_init = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        parent_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest.locus_bodies_to_django = True


leave_bodies_to_django()

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from monitoring.routing import websocket_urlpatterns as monitoring_websockets  # noqa: E402

websocket_urlpatterns: list = [*monitoring_websockets]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Startup built a long-lived heap (modules, URL patterns, views, settings). Frozen, the cyclic
# garbage collector stops walking it on every full collection: those walks cost an ingest batch
# of 1,000 events about 8 ms of its 80. The URL patterns are loaded first so that every view
# module is part of what is frozen.
get_resolver().url_patterns  # noqa: B018
gc.collect()
gc.freeze()
