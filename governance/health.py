"""Liveness and readiness probes for load balancers and orchestrators."""

import asyncio
import contextlib

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

CHECK_TIMEOUT_SECONDS = 2.0


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


async def _channel_layer_roundtrip(layer) -> None:
    channel = await layer.new_channel("readyz.")
    await layer.send(channel, {"type": "readyz.ping"})
    await layer.receive(channel)


def check_channel_layer() -> str:
    """A message sent to and read back through a layer of the probe's own: the process's shared
    layer is always receiving for its open sockets, and a probe's receive on it timed out
    whenever a dashboard socket was open (tests/test_faults_redis.py)."""

    async def roundtrip() -> None:
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            await asyncio.wait_for(_channel_layer_roundtrip(layer), CHECK_TIMEOUT_SECONDS)
        finally:
            close = getattr(layer, "close_pools", None)  # the in-memory layer has none
            if close is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(close(), CHECK_TIMEOUT_SECONDS)

    async_to_sync(roundtrip)()
    return "ok"


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (tasks run in-process)"
    from governance.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
    return "ok"


CHECKS = {"database": check_database, "channel_layer": check_channel_layer, "broker": check_broker}


def replica_states() -> dict[str, str]:
    """Each read replica as measured now. Informative only: reads go to the primary while none
    is usable, so a replica down or behind never makes the process unready."""
    from catalog.replicas import measure_lag, replica_aliases

    limit = settings.REPLICA_MAX_LAG_SECONDS
    states = {}
    for alias in replica_aliases():
        lag = measure_lag(alias)
        if lag is None:
            states[alias] = "unavailable: reads go to the primary"
        elif lag > limit:
            states[alias] = f"{lag:.1f} s behind (limit {limit:g} s): reads go to the primary"
        else:
            states[alias] = f"ok ({lag:.1f} s behind)"
    return states


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every service Locus depends on answers; otherwise 503 naming the ones that did not."""
    results: dict[str, str] = {}
    failed: list[str] = []
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a probe reports any failure; it must never raise
            results[name] = f"error: {type(exc).__name__}: {exc}"
            failed.append(name)
    answer = {"status": "unavailable" if failed else "ok", "failed": failed, "checks": results}
    if replicas := replica_states():
        answer["replicas"] = replicas
    return JsonResponse(answer, status=503 if failed else 200)
