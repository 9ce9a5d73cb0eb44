"""The API's request bodies: JSON, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413 beyond)."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body past the request limit before reading it whole."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge(f"At most {limit} bytes per request.")
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
