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
from monitoring.incidents.services import FINDINGS
from monitoring.models import (
    PLAYBOOK_STEPS,
    AnomalyAlert,
    Basis,
    BreachAssessment,
    ClockState,
    Incident,
    Severity,
    Violation,
)
from monitoring.permissions import CanViewMonitoring

User = get_user_model()


class ViolationFilter(django_filters.FilterSet):
    dataset = django_filters.CharFilter(field_name="dataset_slug")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    basis = django_filters.ChoiceFilter(choices=Basis.choices)
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    destination_region = django_filters.CharFilter()

    class Meta:
        model = Violation
        fields = [
            "dataset",
            "severity",
            "basis",
            "since",
            "until",
            "incident",
            "destination_region",
        ]


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
            "basis",
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
    basis = django_filters.ChoiceFilter(choices=Basis.choices)
    breach_assessment = django_filters.MultipleChoiceFilter(choices=BreachAssessment.choices)
    dataset = django_filters.CharFilter(field_name="dataset_slug")
    jurisdiction = django_filters.CharFilter(field_name="jurisdictions__code", distinct=True)
    owner = django_filters.CharFilter(field_name="owner__username")

    class Meta:
        model = Incident
        fields = [
            "status",
            "severity",
            "basis",
            "breach_assessment",
            "dataset",
            "jurisdiction",
            "owner",
        ]


class BreachClockSerializer(serializers.Serializer):
    """One law's breach clock, as the incident keeps it (monitoring.incidents.breach)."""

    jurisdiction = serializers.CharField()
    law = serializers.CharField()
    hours = serializers.IntegerField(allow_null=True, help_text="Empty: the law gives no hours")
    deadline = serializers.CharField(help_text="The law's words")
    citation = serializers.CharField(allow_blank=True)
    regulator = serializers.CharField(allow_blank=True)
    verified = serializers.BooleanField()


class IncidentSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_slug", read_only=True)
    jurisdictions = serializers.ListField(source="jurisdiction_codes", read_only=True)
    owner: serializers.SlugRelatedField[auth.User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    breach_assessed_by: serializers.SlugRelatedField[auth.User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    clock_state = serializers.ChoiceField(
        choices=ClockState.choices,
        read_only=True,
        help_text="due: a notifiable breach; if_breach: an unlawful transfer of personal data "
        "not yet assessed (the deadline it would have); empty: no regulator clock",
    )
    regulator_deadline = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="A notifiable breach's earliest deadline among its laws' clocks in hours",
    )
    possible_regulator_deadline = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Not yet assessed: the deadline if it is a notifiable breach",
    )
    regulator_hours_left = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Hours to the deadline shown (negative: overdue); empty once the regulator "
        "was told or where no clock in hours runs",
    )
    regulator_clocks = BreachClockSerializer(
        many=True,
        read_only=True,
        help_text="The clocks of the data's laws, when a clock runs (shortest first)",
    )

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
            "basis",
            "breach_assessment",
            "breach_reasoning",
            "breach_assessed_by",
            "breach_assessed_at",
            "clock_state",
            "regulator_deadline",
            "possible_regulator_deadline",
            "regulator_hours_left",
            "regulator_clocks",
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


class AssessSerializer(serializers.Serializer):
    assessment = serializers.ChoiceField(choices=sorted(FINDINGS))
    reasoning = serializers.CharField(max_length=4000)


class PlaybookSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=PLAYBOOK_STEPS)
    done = serializers.BooleanField(default=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Incidents the user may see; privacy officers move them along with the actions."""

    serializer_class = IncidentSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring, ActsWithPermission]
    action_permissions = dict.fromkeys(
        ("acknowledge", "contain", "resolve", "assign", "playbook", "assess"),
        "monitoring.change_incident",
    )
    filterset_class = IncidentFilter

    def get_queryset(self):
        return selectors.incidents_visible_to(self.request.user).select_related(
            "owner", "breach_assessed_by"
        )

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

    @extend_schema(request=AssessSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assess(self, request, pk=None):
        """Record whether it is a personal-data breach (not_a_breach, breach_notifiable,
        breach_not_notifiable), with the reasoning. A notifiable breach runs the regulator clocks
        of its data's laws."""
        body = AssessSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_assess(
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
