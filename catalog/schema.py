"""The OpenAPI schema's house additions to drf-spectacular's (settings' DEFAULT_SCHEMA_CLASS):
what the API's own mechanisms add to an operation, said once here for every view that uses
them."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from catalog.idempotency import HEADER, IdempotentCreateMixin

KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Send the same key with a retry of this create: it is created once and the first answer "
        f"is given again (Idempotent-Replayed: true) for {settings.IDEMPOTENCY_KEY_HOURS} h; the "
        "key with another request is a 422. At most 255 characters."
    ),
)
LOCATION_HEADER = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[201],
    description="What was created",
)


class LocusAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the Idempotency-Key header and the Location of a 201 on
    the creates of IdempotentCreateMixin viewsets."""

    def get_override_parameters(self) -> list:
        given = list(super().get_override_parameters())
        creates = isinstance(self.view, IdempotentCreateMixin) and self.method == "POST"
        if creates and getattr(self.view, "action", None) == "create":
            given += [KEY_PARAMETER, LOCATION_HEADER]
        return given
