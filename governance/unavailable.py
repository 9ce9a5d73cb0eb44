"""An unreachable database answers 503 (try again shortly), never 500 (a fault of Locus)."""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

RETRY_AFTER_SECONDS = "5"
UNAVAILABLE_DETAIL = "The database is unavailable; try again shortly."
API_PREFIX = "/api/"


def database_unavailable(exc: BaseException) -> bool:
    """Whether exc says the database could not be reached (rather than refused a statement)."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


def unavailable_response(request) -> HttpResponse:
    """503 with Retry-After: JSON for the API, a plain page (no database read) for people."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse({"detail": UNAVAILABLE_DETAIL}, status=503)
    else:
        # No request context: context processors (navigation, unread counts) read the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


class DatabaseUnavailableMiddleware:
    """A page (or an API call outside DRF's handler) that met an unreachable database: 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        """Views and template rendering raise into here; other errors go on to the 500 page."""
        if database_unavailable(exception):
            return unavailable_response(request)
        return None


def server_error(request) -> HttpResponse:
    """handler500: the 503 answer when the error in flight is an unreachable database (raised
    outside a view, say by a middleware saving the session), else Django's 500 page."""
    exc = sys.exc_info()[1]
    if exc is not None and database_unavailable(exc):
        return unavailable_response(request)
    return defaults.server_error(request)
