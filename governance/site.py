"""The base of the links Locus puts in e-mails: SITE_URL when it is set; otherwise the address
the request that caused the mail came in on (a demo served on another host or port links back
to itself), and http://127.0.0.1:8000 for work with no request (a worker, a periodic task)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

FALLBACK = "http://127.0.0.1:8000"
_origin: ContextVar[str] = ContextVar("locus_request_origin", default="")


def site_url() -> str:
    """The base of an absolute link, without a trailing slash."""
    return (settings.SITE_URL or _origin.get() or FALLBACK).rstrip("/")


def absolute(path: str) -> str:
    return f"{site_url()}{path}"


class RequestOriginMiddleware:
    """Remembers the request's scheme and host (one ALLOWED_HOSTS accepts) while it runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            origin = f"{request.scheme}://{request.get_host()}"
        except DisallowedHost:
            origin = ""
        token = _origin.set(origin)
        try:
            return self.get_response(request)
        finally:
            _origin.reset(token)
