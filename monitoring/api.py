"""The monitoring API: telemetry ingest (source tokens), sources, violations, incidents and
their transitions, anomaly alerts, catalog gaps, and the risk stream's catch-up."""

from __future__ import annotations

import json

import django_filters
import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
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

from catalog.models import Dataset, Region
from catalog.permissions import ActsWithPermission
from monitoring import ingest, selectors, services
from monitoring.models import (
    PLAYBOOK_STEPS,
    AnomalyAlert,
    Incident,
    Severity,
    TelemetrySource,
    UnregisteredAsset,
    Violation,
)

User = get_user_model()

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

    target_class = "monitoring.api.SourceTokenAuthentication"
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
            items.append(ingest.ItemError({"non_field_errors": f"Not valid JSON: {exc}"}))
    return items


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    violations = serializers.IntegerField()
    incidents_opened = serializers.IntegerField()
    incidents_updated = serializers.IntegerField()
    alerts = serializers.IntegerField()
    catalog_gaps = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())


class TelemetryIngestView(APIView):
    """Telemetry in: a JSON array or NDJSON of up to TELEMETRY_MAX_EVENTS events."""

    authentication_classes = [SourceTokenAuthentication]
    permission_classes = [IsTelemetrySource]
    parser_classes = [RawBodyParser]

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT, "application/x-ndjson": OpenApiTypes.STR},
        responses={200: IngestResultSerializer, 400: OpenApiTypes.OBJECT, 401: None, 413: None},
        description=(
            "Events: {id, time (ISO 8601 with offset), kind (read, write, transfer, training_step, "
            "access), dataset (slug or URI), actor, source_region, destination_region (or "
            "compute_region), bytes, records, run_id, purpose}. An id already received from this "
            "source is counted as a duplicate and not stored again. Bad items come back in "
            "`errors` with their index, field and reason; the others are stored."
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
        return Response(result.as_json())


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

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if getattr(instance, "token", None):
            data["token"] = instance.token  # shown once, at registration or rotation
        return data


class SourceRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class TelemetrySourceViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Telemetry sources (privacy officers): register, change scope, rotate, revoke."""

    serializer_class = TelemetrySourceSerializer
    permission_classes = [permissions.IsAuthenticated, ModelPermissions]
    queryset = TelemetrySource.objects.prefetch_related("datasets", "regions")

    @extend_schema(request=None, responses=TelemetrySourceSerializer)
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


# --- Violations, incidents, alerts, gaps ----------------------------------------------------


class CanViewMonitoring(permissions.BasePermission):
    message = "Your account has no Locus role that may see violations."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("monitoring.view_violation"))


class ViolationFilter(django_filters.FilterSet):
    dataset = django_filters.CharFilter(field_name="dataset_slug")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    destination_region = django_filters.CharFilter()

    class Meta:
        model = Violation
        fields = ["dataset", "severity", "since", "until", "incident", "destination_region"]


class ViolationSerializer(serializers.ModelSerializer):
    jurisdictions = serializers.ListField(source="jurisdiction_codes", read_only=True)
    dataset = serializers.CharField(source="dataset_slug", read_only=True)

    class Meta:
        model = Violation
        fields = [
            "id",
            "incident",
            "event",
            "occurred_at",
            "detected_at",
            "dataset",
            "kind",
            "actor",
            "source_region",
            "destination_region",
            "source_country",
            "destination_country",
            "bytes",
            "records",
            "rule",
            "reason",
            "policy_version",
            "severity",
            "jurisdictions",
        ]


class ViolationViewSet(viewsets.ReadOnlyModelViewSet):
    """Violations the user may see (their jurisdictions, or their datasets)."""

    serializer_class = ViolationSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring]
    filterset_class = ViolationFilter

    def get_queryset(self):
        return selectors.violations_visible_to(self.request.user)


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Incident.Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    dataset = django_filters.CharFilter(field_name="dataset_slug")
    jurisdiction = django_filters.CharFilter(field_name="jurisdictions__code", distinct=True)
    owner = django_filters.CharFilter(field_name="owner__username")

    class Meta:
        model = Incident
        fields = ["status", "severity", "dataset", "jurisdiction", "owner"]


class IncidentSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_slug", read_only=True)
    jurisdictions = serializers.ListField(source="jurisdiction_codes", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    art33_deadline = serializers.DateTimeField(read_only=True, allow_null=True)
    art33_hours_left = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "status",
            "severity",
            "dataset",
            "destination_region",
            "destination_country",
            "jurisdictions",
            "owner",
            "personal_data",
            "art33_deadline",
            "art33_hours_left",
            "authority_notified_at",
            "opened_at",
            "first_violation_at",
            "last_violation_at",
            "violation_count",
            "bytes",
            "records",
            "playbook",
            "acknowledged_at",
            "contained_at",
            "resolved_at",
            "resolution",
            "version",
        ]


class IncidentNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AssignSerializer(serializers.Serializer):
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())


class PlaybookSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=PLAYBOOK_STEPS)
    done = serializers.BooleanField(default=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Incidents the user may see; privacy officers move them along with the actions."""

    serializer_class = IncidentSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring, ActsWithPermission]
    action_permissions = dict.fromkeys(
        ("acknowledge", "contain", "resolve", "assign", "playbook"), "monitoring.change_incident"
    )
    filterset_class = IncidentFilter

    def get_queryset(self):
        return selectors.incidents_visible_to(self.request.user).select_related("owner")

    def _note_action(self, request, verb):
        body = IncidentNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = verb(actor=request.user, incident=self.get_object(), **body.validated_data)
        return Response(self.get_serializer(incident).data)

    @extend_schema(request=IncidentNoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Take note of it (you own it unless someone does)."""
        return self._note_action(request, services.incident_acknowledge)

    @extend_schema(request=IncidentNoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def contain(self, request, pk=None):
        """The flow is stopped."""
        return self._note_action(request, services.incident_contain)

    @extend_schema(request=IncidentNoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Close it, saying how (note required)."""
        return self._note_action(request, services.incident_resolve)

    @extend_schema(request=AssignSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Hand it to a privacy officer or the dataset's owner."""
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_assign(
            actor=request.user, incident=self.get_object(), owner=body.validated_data["owner"]
        )
        return Response(self.get_serializer(incident).data)

    @extend_schema(request=PlaybookSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def playbook(self, request, pk=None):
        """Tick or untick a step: contain, assess, notify (the authority), remediate, review."""
        body = PlaybookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_playbook_step(
            actor=request.user, incident=self.get_object(), **body.validated_data
        )
        return Response(self.get_serializer(incident).data)


class AnomalyAlertSerializer(serializers.ModelSerializer):
    jurisdiction = serializers.CharField(source="jurisdiction_id", read_only=True, allow_null=True)

    class Meta:
        model = AnomalyAlert
        fields = [
            "id",
            "kind",
            "status",
            "actor",
            "dataset_ref",
            "region",
            "jurisdiction",
            "detected_at",
            "occurred_at",
            "observed",
            "baseline_median",
            "baseline_mad",
            "threshold",
            "detail",
            "handled_at",
        ]


class AnomalyAlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Access anomalies the user may see; officers acknowledge or dismiss them."""

    serializer_class = AnomalyAlertSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring, ActsWithPermission]
    action_permissions = dict.fromkeys(("acknowledge", "dismiss"), "monitoring.change_anomalyalert")
    filterset_fields = ["kind", "status", "actor"]

    def get_queryset(self):
        return selectors.alerts_visible_to(self.request.user)

    def _move(self, request, to):
        body = IncidentNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = services.alert_transition(
            actor=request.user, alert=self.get_object(), to=to, note=body.validated_data["note"]
        )
        return Response(self.get_serializer(alert).data)

    @extend_schema(request=IncidentNoteSerializer, responses=AnomalyAlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._move(request, AnomalyAlert.Status.ACKNOWLEDGED)

    @extend_schema(request=IncidentNoteSerializer, responses=AnomalyAlertSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._move(request, AnomalyAlert.Status.DISMISSED)


class CatalogGapSerializer(serializers.ModelSerializer):
    last_source = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = UnregisteredAsset
        fields = [
            "id",
            "dataset_ref",
            "first_seen_at",
            "last_seen_at",
            "events",
            "bytes",
            "last_source",
            "last_actor",
            "last_region",
        ]


class CatalogGapViewSet(viewsets.ReadOnlyModelViewSet):
    """Datasets telemetry names that the catalog does not know."""

    serializer_class = CatalogGapSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring]

    def get_queryset(self):
        return selectors.gaps_visible_to(self.request.user)


class RiskStreamView(APIView):
    """Catch up with the risk stream: the messages after seq `after` that you may see."""

    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring]

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="The last seq you have (0: from the start)"),
            OpenApiParameter("limit", int, description="At most this many rows read (max 1000)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            after = int(request.query_params.get("after", 0))
            limit = min(int(request.query_params.get("limit", 500)), 1000)
        except ValueError:
            raise exceptions.ValidationError({"after": "Give whole numbers"}) from None
        if after < 0 or limit < 1:
            raise exceptions.ValidationError(
                {"after": "Give a seq of 0 or more, a limit of 1 or more"}
            )
        messages, resume = selectors.stream_since(selectors.visibility(request.user), after, limit)
        return Response({"messages": messages, "next": resume})
