"""The OpenAPI schema's house additions to drf-spectacular's (settings' DEFAULT_SCHEMA_CLASS):
what the API's own mechanisms add to an operation, said once here for every view that uses
them."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from catalog import conditional
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

IF_MATCH = OpenApiParameter(
    conditional.HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "The ETag you read: the change is made only if the resource is still as you read it, "
        "else 412 with its ETag now. Optional; `*` matches any."
    ),
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description="The resource's version as answered: send it back in If-Match when you change it",
)


class LocusAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the Idempotency-Key header and the Location of a 201 on
    the creates of IdempotentCreateMixin viewsets, and the ETag of a detail answer and the
    If-Match of a write on one resource of ConditionalMixin viewsets."""

    def get_override_parameters(self) -> list:
        given = list(super().get_override_parameters())
        creates = isinstance(self.view, IdempotentCreateMixin) and self.method == "POST"
        if creates and getattr(self.view, "action", None) == "create":
            given += [KEY_PARAMETER, LOCATION_HEADER]
        if isinstance(self.view, conditional.ConditionalMixin) and self._is_a_detail():
            given.append(ETAG_HEADER)
            if self.method not in conditional.SAFE_METHODS:
                given.append(IF_MATCH)
        return given

    def _is_a_detail(self) -> bool:
        lookup = str(
            getattr(self.view, "lookup_url_kwarg", None) or getattr(self.view, "lookup_field", "pk")
        )
        names = {"id", "pk"} if lookup == "pk" else {lookup}  # the schema names a pk {id}
        return any("{" + name + "}" in self.path for name in names)
