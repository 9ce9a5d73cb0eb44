"""Rate limits for the API: per person (or their token) on every API view, per telemetry source
on telemetry ingest and OpenLineage. Rates are settings (API_RATE, TELEMETRY_RATE,
LINEAGE_RATE: `<requests>/<second|minute|hour|day>`, empty for none); Locus does not start
with a malformed one (the system check `check_rates`, locus.E110).

A fixed window counted in the Django cache (Redis in a deployment, so every web process shares
it; local memory in the embedded default): one `add` and one `incr` per request, whatever the
rate. Every answer of a throttled view carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds until the window ends; IETF draft "RateLimit header fields for
HTTP"), and a refusal is a 429 with `Retry-After` (DRF's Throttled).

A view is throttled when `view.get_throttles()` is not empty (DRF's `throttle_classes`, from
DEFAULT_THROTTLE_CLASSES unless the view names its own): `is_throttled()` says so, for the schema.
"""

from __future__ import annotations

import logging
import math
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.core.checks import Error, Tags, register
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day|[smhd])\s*", re.IGNORECASE)
# The settings that hold a rate; check_rates refuses to start with a malformed one. The public
# intake's (DRF's own throttle) reads the same form.
RATE_SETTINGS = ("API_RATE", "TELEMETRY_RATE", "LINEAGE_RATE", "SUBJECT_INTAKE_RATE")


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'600/minute' as (600, 60); None for an empty rate (no limit); ValueError if malformed."""
    if not rate:
        return None
    match = RATE.fullmatch(rate)
    if match is None or int(match[1]) < 1:
        raise ValueError(f"{rate!r} is not <n>/second|minute|hour|day with n at least 1")
    return int(match[1]), PERIODS[match[2][0].lower()]


@register(Tags.security)
def check_rates(app_configs, **kwargs) -> list[Error]:
    """Every rate setting is empty or `<n>/second|minute|hour|day`: a typo would otherwise show
    only as every throttled request failing."""
    errors = []
    for name in RATE_SETTINGS:
        value = getattr(settings, name, "")
        try:
            parse_rate(value)
        except (TypeError, ValueError):
            errors.append(
                Error(
                    f"{name} is {value!r}: not a rate",
                    hint=(
                        "Give <n>/second, <n>/minute, <n>/hour or <n>/day with n at least 1 "
                        "(e.g. 600/minute), or leave it empty for no limit."
                    ),
                    id="locus.E110",
                )
            )
    return errors


def is_throttled(view) -> bool:
    """Whether the view limits its callers' rate (and so may answer 429)."""
    return bool(view.get_throttles())


class WindowThrottle(BaseThrottle):
    """At most `rate` requests per window for one caller of one scope."""

    scope = ""
    rate_setting = ""
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self.reset = 0.0

    def ident_of(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, self.rate_setting))
        ident = self.ident_of(request)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = self.timer()
        window = int(now // period)
        try:
            count = _count(f"throttle:{self.scope}:{ident}:{window}", timeout=period + 1)
        except Exception as exc:
            # An unreachable cache (Redis down) must not refuse ingest or the API: the limit
            # is a guard against floods, not a dependency. Counted again once it is back.
            log.warning("Rate limit not counted, the cache failed (%s)", type(exc).__name__)
            return True
        self.reset = (window + 1) * period - now
        _announce(view, limit=limit, remaining=max(limit - count, 0), reset=self.reset)
        return count <= limit

    def wait(self) -> float:
        return math.ceil(self.reset)


def _count(key: str, *, timeout: int) -> int:
    """This request's number in its window (the key expires with the window): one round trip
    on Redis (catalog.redis_cache), add-then-increment on the embedded default's cache."""
    counted = getattr(cache, "incr_expiring", None)
    if counted is not None:
        return counted(key, timeout)
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: this request starts the window
        cache.set(key, 1, timeout=timeout)
        return 1


def _announce(view, *, limit: int, remaining: int, reset: float) -> None:
    """The RateLimit headers of the answer; with several limits, the one nearest its end."""
    headers = view.headers
    if "RateLimit-Remaining" in headers and int(headers["RateLimit-Remaining"]) <= remaining:
        return
    headers["RateLimit-Limit"] = str(limit)
    headers["RateLimit-Remaining"] = str(remaining)
    headers["RateLimit-Reset"] = str(math.ceil(reset))


class PersonThrottle(WindowThrottle):
    """The API, per person: a token is its person's; an anonymous caller is its address."""

    scope = "api"
    rate_setting = "API_RATE"

    def ident_of(self, request) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        return f"address-{self.get_ident(request)}"


class SourceThrottle(WindowThrottle):
    """Per telemetry source (the token's source); nothing to count before it is known."""

    def ident_of(self, request) -> str | None:
        source_id = getattr(request.auth, "pk", None)
        return None if source_id is None else f"source-{source_id}"


class TelemetryThrottle(SourceThrottle):
    scope = "telemetry"
    rate_setting = "TELEMETRY_RATE"


class LineageThrottle(SourceThrottle):
    scope = "lineage"
    rate_setting = "LINEAGE_RATE"
