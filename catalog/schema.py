"""The OpenAPI schema's house additions to drf-spectacular's (settings' DEFAULT_SCHEMA_CLASS):
what the API's own mechanisms add to an operation, said once here for every view that uses
them: the Idempotency-Key and Location of creates, the deprecated names of filters, and every
error an operation can answer, in the one error shape (governance.api_errors).

A view declares what the schema cannot see in its classes:
- `checks_if_match = True`: its writes on an object honour If-Match (412 when stale);
- `error_statuses = {status: description}`: further errors every operation of the view can
  answer (a 405 for a step, say); `@extend_schema(responses={...})` still says one operation's.
Throttles (429), authentication (401), permissions (403), detail routes and pages (404),
bodies (400, 413), Idempotency-Key (422) and writes (409) are read from the view itself.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.fields import CharField
from rest_framework.permissions import AllowAny
from rest_framework.relations import RelatedField

from catalog import conditional
from catalog.filtering import StrictFilterBackend
from catalog.idempotency import HEADER, IdempotentCreateMixin
from catalog.paging import LocusOrdering

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

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'Every error of the API, in DRF\'s shape: `{"detail": "reason"}` for the request as a '
        'whole, or `{"field": ["reason", ...]}` naming each refused field or query '
        "parameter (nested as the field is; `non_field_errors` for the body as a whole)."
    ),
    "properties": {"detail": {"type": "string", "description": "Why, for the whole request"}},
    "additionalProperties": {"description": "A field or parameter's reasons"},
}
REASONS = {
    400: "The request is malformed: the body names each refused field, or `detail` says why",
    401: "No valid credentials (a missing, unknown or revoked token)",
    403: "Signed in, but not allowed to do this (or a second factor is needed first)",
    404: "No such object, or not one you may see (or a page past the last)",
    405: "This method is not allowed here, or not in the object's state",
    409: "The object's state does not allow it now, or another change came first",
    412: "If-Match does not match the object's current ETag: read it again",
    413: "The request body is too large",
    422: "This Idempotency-Key was used with another request",
    429: "Too many requests: wait for Retry-After seconds",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again",
    }
}

# The headers that many answers carry, said once in components/headers (add_header_components)
# and referred to from each answer.
SHARED_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "schema": {"type": "string"},
        "description": (
            "The request's id in Locus' logs and ledger: yours if you sent one that looks like "
            "one (16 to 64 hex digits or dashes), else Locus'"
        ),
    },
    "RateLimit-Limit": {
        "schema": {"type": "integer"},
        "description": "Requests allowed in the current window",
    },
    "RateLimit-Remaining": {
        "schema": {"type": "integer"},
        "description": "Requests left in the current window",
    },
    "RateLimit-Reset": {
        "schema": {"type": "integer"},
        "description": "Seconds until the window ends",
    },
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "This is the first answer to this Idempotency-Key, given again",
    },
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _refer(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def add_header_components(result: dict, **kwargs: Any) -> dict:
    """drf-spectacular's postprocessing hook (settings' POSTPROCESSING_HOOKS): the shared
    headers' definitions."""
    result.setdefault("components", {})["headers"] = SHARED_HEADERS
    return result


class LocusAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the house's headers (Idempotency-Key and Location on
    idempotent creates, ETag and If-Match on ConditionalMixin viewsets), deprecated filter
    names and every error an operation can answer."""

    def get_override_parameters(self) -> list:
        given = list(super().get_override_parameters())
        if self._creates_idempotently():
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

    def get_filter_backends(self) -> list:
        """A list's filters on the list alone: not on an object's history, nor on a POST (an
        object's paged history or timeline keeps its own ?ordering=)."""
        if self.method != "GET":
            return []
        backends = super().get_filter_backends()
        if getattr(self.view, "detail", False):
            return [b for b in backends if issubclass(b, LocusOrdering)]
        return backends

    def _get_paginator(self) -> Any:
        """Pages are a GET's: a POST answering a list (a bulk step) answers it whole, and so
        does a CSV route."""
        if self.method != "GET" or self.path.endswith(".csv"):
            return None
        return super()._get_paginator()

    def _get_filter_parameters(self) -> list:
        given = super()._get_filter_parameters()
        filterset = getattr(self.view, "filterset_class", None)
        aliases = getattr(filterset, "deprecated_aliases", {}) if given else {}
        strict = any(issubclass(b, StrictFilterBackend) for b in self.get_filter_backends())
        for parameter in given:
            if strict and parameter["name"] != LocusOrdering.ordering_param:
                parameter["allowEmptyValue"] = True  # an empty filter is no filter (filtering.py)
        return given + [
            _alias_parameter(p, aliases) for p in given if p["name"] in _inverse(aliases)
        ]

    def _map_serializer_field(self, field: Any, direction: str, *args: Any, **kwargs: Any) -> dict:
        """A list that refuses to be empty says so (DRF's `allow_empty=False`: minItems)."""
        schema = super()._map_serializer_field(field, direction, *args, **kwargs)
        if direction != "request":
            return schema
        if getattr(field, "allow_empty", True) is False and schema.get("type") == "array":
            schema.setdefault("minItems", 1)
        if _refuses_blank_text(field) and not {"pattern", "format", "enum"} & set(schema):
            schema["pattern"] = NOT_ONLY_SPACE
        if _blank_is_null(field):
            _allow_blank_as_none(schema)
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            self._add_errors(operation)
            self._add_headers(operation)
            self._mark_blank_as_absent(operation)
            if self.path.endswith(".csv"):  # the route says the format: ?format= is not read
                operation["parameters"] = [
                    p for p in operation.get("parameters", []) if p["name"] != "format"
                ]
        return operation

    def _mark_blank_as_absent(self, operation: dict) -> None:
        """A view that reads its own query parameters names those it takes empty as absent
        (`blank_means_absent`), as the filter sets do: the schema allows the empty value."""
        blank = set(getattr(self.view, "blank_means_absent", ()))
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in blank:
                parameter["allowEmptyValue"] = True

    # --- errors ---------------------------------------------------------------------------

    def _add_errors(self, operation: dict) -> None:
        responses = operation["responses"]
        codes = self.error_statuses(operation) | {int(c) for c in responses if c.startswith("4")}
        reference = self._error_component().ref
        for code in sorted(codes):
            documented = responses.get(str(code), {})
            answer = {
                "description": documented.get("description")
                or getattr(self.view, "error_statuses", {}).get(code)
                or REASONS.get(code, ""),
                "content": {"application/json": {"schema": reference}},
            }
            if code == 429:
                answer["headers"] = RETRY_AFTER
            responses[str(code)] = answer

    def _add_headers(self, operation: dict) -> None:
        """The headers every answer carries (its request id; a throttled view's rate limit),
        and a create's replayed answer's."""
        shared = ["X-Request-ID"]
        if getattr(self.view, "throttle_classes", None):
            shared += RATE_LIMIT_HEADERS
        for code, answer in operation["responses"].items():
            headers = answer.setdefault("headers", {})
            headers.update({name: _refer(name) for name in shared})
            if code == "201" and self._creates_idempotently():
                headers["Idempotent-Replayed"] = _refer("Idempotent-Replayed")

    def error_statuses(self, operation: dict) -> set[int]:
        """Every error this operation can answer, from what its view does."""
        codes = set(getattr(self.view, "error_statuses", {}))
        if getattr(self.view, "authentication_classes", None):
            codes.add(401)
        if not all(issubclass(p, AllowAny) for p in self._permission_classes()):
            codes.add(403)
        if "{" in self.path or self._paginated() or "format" in _query_names(operation):
            codes.add(404)  # DRF answers an unknown ?format= with a 404 too
        if self.method in UNSAFE or _query_names(operation):
            codes.add(400)
        if self.method in UNSAFE:
            codes.add(409)
        if "requestBody" in operation:
            codes.add(413)
        if self._creates_idempotently():
            codes.add(422)
        if getattr(self.view, "checks_if_match", False) and self._writes_an_object():
            codes.add(412)
        if getattr(self.view, "throttle_classes", None):
            codes.add(429)
        return codes

    def _error_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name=ERROR_COMPONENT,
            type=ResolvedComponent.SCHEMA,
            object=ERROR_COMPONENT,
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        return component

    def _permission_classes(self) -> list:
        return list(getattr(self.view, "permission_classes", None) or [])

    def _paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _writes_an_object(self) -> bool:
        return self.method in UNSAFE and "{" in self.path

    def _creates_idempotently(self) -> bool:
        creates = isinstance(self.view, IdempotentCreateMixin) and self.method == "POST"
        return creates and getattr(self.view, "action", None) == "create"


# Some character that is not white space as Python's str.strip() sees it: DRF trims text, so
# "  " is blank, and a field that refuses blank text refuses it (ECMA's \s lacks \x1c-\x1f, \x85).
NOT_ONLY_SPACE = "[^\\s\\x1c-\\x1f\\x85]"


def _refuses_blank_text(field: Any) -> bool:
    """A trimmed text field that refuses blank text and has no pattern of its own (a slug's, a
    regex's: the schema takes one pattern, and theirs refuse spaces already)."""
    trims = getattr(field, "trim_whitespace", False)
    patterned = any(isinstance(v, RegexValidator) for v in field.validators)
    return isinstance(field, CharField) and trims and not field.allow_blank and not patterned


def _blank_is_null(field: Any) -> bool:
    """A nullable reference to one object (a steward's username, a rule's term): DRF takes `""`
    for it as null, "none", as it does for every relation (RelatedField.run_validation)."""
    return isinstance(field, RelatedField) and field.allow_null and not field.read_only


def _allow_blank_as_none(schema: dict) -> None:
    """The schema says what the API does with `""`: takes it as null, so it is valid (the
    referenced model's own rules, such as a username's minLength, are for the object, not for
    "none")."""
    schema.pop("minLength", None)
    pattern = schema.get("pattern")
    if pattern and not pattern.startswith("^$|"):
        schema["pattern"] = f"^$|{pattern}"
    given = schema.get("description", "").rstrip(". ")
    schema["description"] = f"{given}. {BLANK_IS_NONE}" if given else BLANK_IS_NONE


BLANK_IS_NONE = "Null or an empty string: none."


def _query_names(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def _inverse(aliases: dict[str, str]) -> dict[str, str]:
    return {current: old for old, current in aliases.items()}


def _alias_parameter(parameter: dict, aliases: dict[str, str]) -> dict:
    old = _inverse(aliases)[parameter["name"]]
    return {
        **parameter,
        "name": old,
        "deprecated": True,
        "description": f"Deprecated: use `{parameter['name']}`",
    }
