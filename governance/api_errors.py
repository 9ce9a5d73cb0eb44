"""One error shape for the whole API: 4xx with the field and the reason, never a bare 500."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catalog.errors import StateConflict


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """DRF's handler, plus Django validation errors (400; 409 for a step the state does not
    allow) and an unreachable database (503)."""
    if isinstance(exc, StateConflict):
        return Response(_django_validation_detail(exc), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        # A value the database cannot hold (a NUL character, a number out of range) that a
        # lookup met before any validation could: the client's input, so a 400.
        return Response(
            {"detail": f"A value in the request cannot be stored or looked up: {exc}".strip()},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(_django_validation_detail(exc))
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        return Response(
            {"detail": "The database is unavailable; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)
