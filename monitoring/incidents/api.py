"""The API of violations, incidents and anomaly alerts: lists filtered by what the user may
see; privacy officers move incidents and alerts along with the actions (services)."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth import models as auth
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.conditional import ConditionalMixin
from catalog.filtering import StrictFilterSet, UtcIsoDateTimeFilter
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from monitoring import selectors
from monitoring.incidents import detail, services
from monitoring.incidents.serializers import (
    AssessSerializer,
    AssignSerializer,
    BulkSerializer,
    CommentSerializer,
    IncidentNoteSerializer,
    IncidentRunSerializer,
    PlaybookSerializer,
    ResolutionNoteSerializer,
    TimelineEntrySerializer,
)
from monitoring.models import (
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


class ViolationFilter(StrictFilterSet):
    dataset = django_filters.CharFilter(field_name="dataset_slug")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    basis = django_filters.ChoiceFilter(choices=Basis.choices)
    since = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
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
    ordering_fields = ["occurred_at", "detected_at", "severity"]

    def get_queryset(self):
        return selectors.violations_visible_to(self.request.user)


class IncidentFilter(StrictFilterSet):
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
    # Null until someone takes it or assesses it.
    owner: serializers.SlugRelatedField[auth.User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    breach_assessed_by: serializers.SlugRelatedField[auth.User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
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
    drill = serializers.IntegerField(
        source="drill_id", read_only=True, allow_null=True, help_text="A breach drill's id"
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
            "drill",
        ]


class IncidentDetailSerializer(IncidentSerializer):
    """An incident with what explains it: the rule broken and its kind, the dataset and its
    owner, where the data came from, the first runs, the timeline, related incidents and the
    ways out (the incident page shows the same)."""

    rule = serializers.CharField(read_only=True)
    rule_kind = serializers.ChoiceField(choices=["law", "house"], read_only=True)
    why = serializers.SerializerMethodField()
    dataset_detail = serializers.SerializerMethodField()
    source_regions = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    related = serializers.SerializerMethodField()
    ways_out = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [
            *IncidentSerializer.Meta.fields,
            "rule",
            "rule_kind",
            "why",
            "dataset_detail",
            "source_regions",
            "runs",
            "timeline",
            "related",
            "ways_out",
            "events_url",
        ]

    def _facts(self, incident) -> detail.Facts:
        cached = self.context.get("facts")
        if cached is None:
            seen = selectors.visibility(self.context["request"].user)
            cached = self.context["facts"] = detail.facts(incident, seen)
        return cached

    def get_why(self, incident) -> dict:
        return self._facts(incident).why.as_json()

    def get_dataset_detail(self, incident) -> dict | None:
        ds = self._facts(incident).dataset
        if ds is None:
            return None
        return {
            "slug": ds.slug,
            "name": ds.name,
            "owner": ds.owner.get_username(),
            "steward": ds.steward.get_username() if ds.steward else None,
            "storage_region": ds.storage_region.code,
            "jurisdiction": ds.jurisdiction_id,
            "declared_regions": self._facts(incident).why.declared_regions,
        }

    def get_source_regions(self, incident) -> list[dict]:
        return self._facts(incident).sources

    def get_runs(self, incident) -> dict:
        rows = detail.runs(incident)
        first = list(rows[: detail.RUNS_PER_PAGE])
        return {
            "count": rows.count(),
            "first": [run.as_json() for run in detail.known_runs(first)],
            "url": f"/api/v1/incidents/{incident.pk}/runs/",
        }

    def get_timeline(self, incident) -> list[dict]:
        return [moment.as_json() for moment in self._facts(incident).timeline]

    def get_related(self, incident) -> list[dict]:
        return [
            {"id": i.pk, "title": i.title, "status": i.status}
            for i in self._facts(incident).related
        ]

    def get_ways_out(self, incident) -> dict[str, str]:
        return self._facts(incident).ways_out

    def get_events_url(self, incident) -> str:
        return f"/api/v1/violations/?incident={incident.pk}"


class IncidentViewSet(ConditionalMixin, viewsets.ReadOnlyModelViewSet):
    """Incidents the user may see; privacy officers move them along with the actions."""

    serializer_class = IncidentSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring, ActsWithPermission]
    action_permissions = dict.fromkeys(
        ("acknowledge", "contain", "resolve", "assign", "playbook", "assess", "comment", "bulk"),
        "monitoring.change_incident",
    )
    filterset_class = IncidentFilter
    ordering_fields = ["opened_at", "last_violation_at", "severity", "status"]
    ordering_tiebreaker = "pk"

    def get_queryset(self):
        drills = self.action != "list"  # a drill's incident by its id; never in the list
        return selectors.incidents_visible_to(self.request.user, drills=drills).select_related(
            "owner", "breach_assessed_by"
        )

    def get_serializer_class(self):
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    @action(
        detail=True,
        filter_backends=[LocusOrdering],
        ordering_fields=["at"],
        ordering_tiebreaker="at",
    )
    def timeline(self, request, pk=None):
        """Opened, then every step, comment and reopening, oldest first (paged)."""
        moments = detail.timeline(self.get_object())
        return paged(self, [moment.as_json() for moment in moments])

    @extend_schema(responses=IncidentRunSerializer(many=True))
    @action(
        detail=True,
        filter_backends=[LocusOrdering],
        ordering_fields=["last_violation_at", "first_violation_at", "violations", "run_id"],
        ordering_tiebreaker="run_id",
    )
    def runs(self, request, pk=None):
        """The runs its events came from (paged, newest violation first) and what each is."""
        rows = detail.runs(self.get_object())
        return paged(self, rows, lambda page: [r.as_json() for r in detail.known_runs(list(page))])

    @extend_schema(request=CommentSerializer, responses={201: TimelineEntrySerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request, pk=None):
        """Add a comment to its timeline."""
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = services.incident_comment(
            actor=request.user, incident=self.get_object(), **body.validated_data
        )
        moment = detail.Moment(
            entry.at, entry.kind, entry.get_kind_display(), entry.actor_name, entry.note
        )
        return Response(moment.as_json(), status=status.HTTP_201_CREATED)

    @extend_schema(request=BulkSerializer, responses=IncidentSerializer(many=True))
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Acknowledge or assign several incidents, all or none (409 naming the one refused)."""
        body = BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = body.validated_data["incidents"]
        rows = {i.pk: i for i in self.get_queryset().filter(pk__in=wanted)}
        missing = [pk for pk in wanted if pk not in rows]
        if missing:
            raise serializers.ValidationError({"incidents": f"No incident #{missing[0]}"})
        done = services.incidents_bulk(
            actor=request.user,
            incidents=[rows[pk] for pk in dict.fromkeys(wanted)],
            action=body.validated_data["action"],
            owner=body.validated_data.get("owner"),
        )
        return Response(IncidentSerializer(done, many=True).data)

    def _note_action(self, request, verb, body_class=IncidentNoteSerializer):
        body = body_class(data=request.data)
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

    @extend_schema(request=ResolutionNoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Close it, saying how (note required)."""
        return self._note_action(request, services.incident_resolve, ResolutionNoteSerializer)

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


class AnomalyAlertViewSet(ConditionalMixin, viewsets.ReadOnlyModelViewSet):
    """Access anomalies the user may see; officers acknowledge or dismiss them."""

    serializer_class = AnomalyAlertSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring, ActsWithPermission]
    action_permissions = dict.fromkeys(("acknowledge", "dismiss"), "monitoring.change_anomalyalert")
    filterset_fields = ["kind", "status", "actor"]
    ordering_fields = ["detected_at", "occurred_at", "kind", "status"]

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
