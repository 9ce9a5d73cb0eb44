"""WSGI entry point: the HTTP pages and API in production (granian: governance/web.py,
README "Production layout").

WebSockets (`/ws/`) are not served here: they go to the ASGI process (governance.asgi, Daphne).
What the HTTP side sends to sockets (the risk stream's announcements, a signed-out session's
end) goes through the Channels layer with `async_to_sync`, which works from any thread.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

application = get_wsgi_application()

# As in governance.asgi: the long-lived heap built at startup (modules, URL patterns, views,
# settings) is frozen, so that full collections stop walking it.
get_resolver().url_patterns  # noqa: B018
gc.collect()
gc.freeze()
