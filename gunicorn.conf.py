"""gunicorn's settings for Locus's HTTP process (Procfile `web`, README "Production layout").

Threaded workers (gthread): each worker process serves WEB_THREADS requests at once, each
thread with its own database connection from the process's pool (DB_POOL_MAX_SIZE, default 10,
must be at least WEB_THREADS). WebSockets are served by the ASGI process (Procfile `ws`).
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# A worker that has not told the master it is alive for this long is restarted (a request that
# runs long in a thread does not count: the worker's main loop keeps telling it).
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Django's own logging writes the application's lines (JSON with the request id); gunicorn's
# access lines carry no id and are off unless asked for (WEB_ACCESS_LOG=- or a file).
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
# No control socket: it lives in the home directory by default, where two servers would share it.
control_socket_disable = True
