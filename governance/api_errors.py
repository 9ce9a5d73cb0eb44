"""One error shape for the whole API, DRF's: `{"detail": "reason"}` or `{"field": ["reason"]}`,
4xx naming the field and the reason, never a bare 500; unknown /api/ paths answer it too. The
schema documents it as the `Error` component (catalog/schema.py)."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catalog.errors import StateConflict
from governance.unavailable import RETRY_AFTER_SECONDS, UNAVAILABLE_DETAIL, database_unavailable

log = logging.getLogger(__name__)
# The answers that refuse a write: not allowed (403), or not in this state / lost a race (409).
REFUSALS = {status.HTTP_403_FORBIDDEN, status.HTTP_409_CONFLICT}


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """DRF's handler, plus Django validation errors (400; 409 for a step the state does not
    allow) and an unreachable database (503); refusals are logged."""
    response = _answer(exc, context)
    if response is not None:
        _render_as_json(context["request"])
        if response.status_code in REFUSALS:
            _log_refusal(context["request"], response)
    return response


def _render_as_json(request) -> None:
    """An error is JSON even where the answer would have been a file (a CSV register, an
    export): one shape, in one media type. The browsable API keeps its page for people."""
    renderer = getattr(request, "accepted_renderer", None)
    if getattr(renderer, "format", "json") not in {"json", "api"}:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def _log_refusal(request, response: Response) -> None:
    fields = {
        "status": response.status_code,
        "method": request.method,
        "path": request.path,
        "user_id": getattr(request.user, "pk", None),
    }
    reason = json.dumps(response.data, ensure_ascii=False)  # ErrorDetails are strings
    log.warning(
        "Refused %s %s (%s): %s",
        request.method,
        request.path,
        response.status_code,
        reason,
        extra=fields,
    )


def _answer(exc, context):
    if isinstance(exc, StateConflict):
        return Response(_django_validation_detail(exc), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):  # a form or multipart body past the request limit
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DataError):
        # A value the database cannot hold (a NUL character, a number out of range) that a
        # lookup met before any validation could: the client's input, so a 400.
        return Response(
            {"detail": f"A value in the request cannot be stored or looked up: {exc}".strip()},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(_django_validation_detail(exc))
    if database_unavailable(exc):
        return Response(
            {"detail": UNAVAILABLE_DETAIL},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    return drf_exception_handler(exc, context)


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """An unknown path under /api/: a JSON 404 in the API's shape, not the site's HTML page. A
    GET of a known path without its trailing slash is redirected there, as Django would."""
    with_slash = f"{request.path}/"
    if not request.path.endswith("/") and _is_api_route(with_slash):
        if request.method in {"GET", "HEAD"}:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        detail = f"No such API path: {request.path} (did you mean {with_slash}?)"
    else:
        detail = f"No such API path: {request.path}"
    return JsonResponse({"detail": detail}, status=status.HTTP_404_NOT_FOUND)


def _is_api_route(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False
