"""Who is asking: the one rule that names a request's client address, for throttles, the
sign-in lock-out (django-axes) and logs alike.

Behind PROXY_COUNT proxies, each appending the address it received from to X-Forwarded-For,
the client is the PROXY_COUNT-th address from the right: everything left of it was written
by the client and proves nothing. With PROXY_COUNT=0 the header is ignored entirely.
This is DRF's own rule for NUM_PROXIES, which settings set from the same number.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address as the PROXY_COUNT trusted proxies in front of Locus saw it."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    return addresses[-min(hops, len(addresses))] or remote
