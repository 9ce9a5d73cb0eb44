"""The API of violations, incidents and anomaly alerts: lists filtered by what the user may
see; privacy officers move incidents and alerts along with the actions (services)."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth import models as auth
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.permissions import ActsWithPermission
from monitoring import selectors
from monitoring.incidents import services
from monitoring.models import PLAYBOOK_STEPS, AnomalyAlert, Incident, Severity, Violation
from monitoring.permissions import CanViewMonitoring

User = get_user_model()


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
    owner: serializers.SlugRelatedField[auth.User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
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

    def _move(self, request, step: str):
        body = IncidentNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = services.alert_transition(
            actor=request.user,
            alert=self.get_object(),
            action=step,
            note=body.validated_data["note"],
        )
        return Response(self.get_serializer(alert).data)

    @extend_schema(request=IncidentNoteSerializer, responses=AnomalyAlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._move(request, "acknowledge")

    @extend_schema(request=IncidentNoteSerializer, responses=AnomalyAlertSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._move(request, "dismiss")
