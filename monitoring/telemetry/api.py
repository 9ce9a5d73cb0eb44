"""The telemetry API: ingest (source tokens), the sources themselves (privacy officers), and
the risk stream's catch-up."""

from __future__ import annotations

import json

import orjson
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import (
    authentication,
    exceptions,
    mixins,
    parsers,
    permissions,
    serializers,
    status,
    viewsets,
)
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.conditional import ConditionalMixin
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, Region
from catalog.throttling import TelemetryThrottle
from governance.checks.api import ReceiptSerializer
from monitoring import selectors
from monitoring.models import TelemetrySource
from monitoring.permissions import CanViewMonitoring
from monitoring.telemetry import ingest, services
from monitoring.telemetry.judge import ItemError

# --- Ingest -----------------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class SourceTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` of a registered, active telemetry source."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Give the token as: Authorization: Bearer <token>"
            )
        source = selectors.source_for_token(header[1].decode(errors="replace"))
        if source is None:
            raise exceptions.AuthenticationFailed("Unknown telemetry token")
        if not source.is_active:
            raise exceptions.AuthenticationFailed("This telemetry source is revoked")
        return AnonymousUser(), source

    def authenticate_header(self, request):
        return 'Bearer realm="telemetry"'


class SourceTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema names the telemetry sources' bearer tokens."""

    target_class = "monitoring.telemetry.api.SourceTokenAuthentication"
    name = "telemetrySourceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A telemetry source's token"}


class IsTelemetrySource(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, TelemetrySource)


class RawBodyParser(parsers.BaseParser):
    """Hands the view the body's bytes (at most TELEMETRY_MAX_BYTES: 413 beyond)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.TELEMETRY_MAX_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"At most {limit} bytes per request.")
        return body


def _as_items(data) -> list:
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return data["events"]
    return data if isinstance(data, list) else [data]


def parse_events(body: bytes, content_type: str) -> list:
    """A JSON array (or {"events": [...]}), else NDJSON: one event per line. A line that is not
    JSON becomes that item's error; a broken array is the request's error."""
    ndjson = "ndjson" in content_type or "jsonl" in content_type
    if not ndjson:
        try:  # the common case, parsed in C straight from the bytes
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # NDJSON, bad UTF-8, a number beyond 64 bits, NaN, broken JSON: read below
        else:
            if isinstance(data, (list, dict)):
                return _as_items(data)
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise exceptions.ValidationError({"events": "The body is empty."})
    if not ndjson and text[0] in "[{":
        try:
            data = json.loads(text)
        except ValueError as exc:
            if text[0] == "[":
                raise exceptions.ValidationError({"events": f"Not valid JSON: {exc}"}) from None
        else:
            return _as_items(data)
    items = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as exc:
            items.append(ItemError({"non_field_errors": f"Not valid JSON: {exc}"}))
    return items


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    violations = serializers.IntegerField()
    violations_by_basis = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Violations of the law (legal) and of house rules only (house)",
    )
    incidents_opened = serializers.IntegerField()
    incidents_updated = serializers.IntegerField()
    alerts = serializers.IntegerField()
    catalog_gaps = serializers.IntegerField()
    # A declared field, not Serializer.errors: the metaclass moves it into _declared_fields.
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]
    receipt = ReceiptSerializer(
        allow_null=True,
        help_text="The decision log's signed receipt of the entry that records the batch's "
        "violations (prove it later: GET /api/v1/ledger/proof/inclusion?leaf_hash=); null when "
        "the batch had none, so wrote no entry",
    )


class TelemetryIngestView(APIView):
    """Telemetry in: a JSON array or NDJSON of up to TELEMETRY_MAX_EVENTS events."""

    authentication_classes = [SourceTokenAuthentication]
    permission_classes = [IsTelemetrySource]
    parser_classes = [RawBodyParser]
    throttle_classes = [TelemetryThrottle]  # per source, before the body is read

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT, "application/x-ndjson": OpenApiTypes.STR},
        responses={200: IngestResultSerializer, 400: OpenApiTypes.OBJECT, 401: None, 413: None},
        description=(
            "Events: {id, time (ISO 8601 with offset), kind (read, write, transfer, training_step, "
            "access), dataset (slug or URI), actor, source_region, destination_region (or "
            "compute_region), bytes, records, run_id, purpose}. An id already received from this "
            "source is counted as a duplicate and not stored again. Bad items come back in "
            "`errors` with their index, field and reason; the others are stored. A batch whose "
            "every item is refused answers 400 with the same body. A batch with violations "
            "answers the `receipt` of the decision-log entry that records them."
        ),
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.TELEMETRY_MAX_BYTES:
            raise PayloadTooLarge(f"At most {settings.TELEMETRY_MAX_BYTES} bytes per request.")
        items = parse_events(request.data or b"", request.content_type or "")
        if len(items) > settings.TELEMETRY_MAX_EVENTS:
            raise PayloadTooLarge(f"At most {settings.TELEMETRY_MAX_EVENTS} events per request.")
        result = ingest.telemetry_ingest(source=request.auth, items=items)
        # Every item refused: a 400 (its body lists them), so a sender that reads only the
        # status knows nothing was taken.
        refused = bool(items) and result.rejected == len(items)
        return Response(result.as_json(), status=400 if refused else 200)


# --- Sources ---------------------------------------------------------------------------------


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions, reads included (view_...)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class TelemetrySourceSerializer(serializers.ModelSerializer):
    datasets = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Dataset.objects.all(), required=False
    )
    regions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Region.objects.all(), required=False
    )

    class Meta:
        model = TelemetrySource
        fields = [
            "id",
            "name",
            "description",
            "datasets",
            "regions",
            "default_purpose",
            "status",
            "token_prefix",
            "created_at",
            "rotated_at",
            "revoked_at",
            "last_seen_at",
        ]
        read_only_fields = [
            "status",
            "token_prefix",
            "created_at",
            "rotated_at",
            "revoked_at",
            "last_seen_at",
        ]

    def create(self, validated_data):
        source, token = services.telemetry_source_register(
            actor=self.context["request"].user, **validated_data
        )
        source.token = token
        return source

    def update(self, instance, validated_data):
        return services.telemetry_source_update(
            actor=self.context["request"].user, source=instance, **validated_data
        )


class TelemetrySourceTokenSerializer(TelemetrySourceSerializer):
    """A source as registered or rotated: with its token, shown this once."""

    token = serializers.CharField(
        read_only=True,
        help_text="The source's bearer token, shown this once (keep it): "
        "`Authorization: Bearer <token>`",
    )

    class Meta(TelemetrySourceSerializer.Meta):
        fields = [*TelemetrySourceSerializer.Meta.fields, "token"]


class SourceRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class TelemetrySourceViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Telemetry sources (privacy officers): register, change scope, rotate, revoke."""

    serializer_class = TelemetrySourceSerializer
    permission_classes = [permissions.IsAuthenticated, ModelPermissions]
    queryset = TelemetrySource.objects.prefetch_related("datasets", "regions")
    ordering_fields = ["id", "name", "created_at"]

    def get_serializer_class(self):
        if self.action in {"create", "rotate"}:
            return TelemetrySourceTokenSerializer
        return TelemetrySourceSerializer

    @extend_schema(
        request=TelemetrySourceSerializer, responses={201: TelemetrySourceTokenSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Register a source; the answer carries its token, shown this once."""
        return super().create(request, *args, **kwargs)

    @extend_schema(request=None, responses=TelemetrySourceTokenSerializer)
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A new token (returned once); the old one stops working at once."""
        source, token = services.telemetry_source_rotate(
            actor=request.user, source=self.get_object()
        )
        source.token = token
        return Response(self.get_serializer(source).data)

    @extend_schema(request=SourceRevokeSerializer, responses=TelemetrySourceSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Refuse this source's telemetry from now on."""
        body = SourceRevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source = services.telemetry_source_revoke(
            actor=request.user, source=self.get_object(), reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(source).data)


RISK_STREAM_MAX_ROWS = 1000


class RiskStreamParams(serializers.Serializer):
    """The catch-up's query: each malformed parameter is named in the 400."""

    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, default=500)


class RiskStreamView(APIView):
    """Catch up with the risk stream: the messages after seq `after` that you may see."""

    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0},
                description="The last seq you have (0: from the start)",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1},
                description="At most this many rows read (max 1000)",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = RiskStreamParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        after = params.validated_data["after"]
        limit = min(params.validated_data["limit"], RISK_STREAM_MAX_ROWS)
        messages, resume = selectors.stream_since(selectors.visibility(request.user), after, limit)
        return Response({"messages": messages, "next": resume})
