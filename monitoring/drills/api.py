"""The breach drills API: list and read drills with their reports, start one, complete it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.models import Dataset, Region
from catalog.permissions import ActsWithPermission
from monitoring.drills import selectors, services
from monitoring.drills.report import drill_report_current
from monitoring.models import Drill


class DrillSerializer(serializers.ModelSerializer):
    drill = serializers.BooleanField(
        default=True, read_only=True, help_text="Always true: a rehearsal, never a real incident"
    )
    dataset = serializers.CharField(source="dataset_slug", read_only=True)
    started_by = serializers.CharField(source="started_by_name", read_only=True)
    incident = serializers.SerializerMethodField(help_text="The drill's incident's id")
    report = serializers.SerializerMethodField(
        help_text="The measured times (acknowledge, contain, assess) against the regime's clock"
    )

    class Meta:
        model = Drill
        fields = [
            "id",
            "drill",
            "status",
            "scenario",
            "dataset",
            "destination_region",
            "started_by",
            "started_at",
            "completed_at",
            "incident",
            "report",
        ]

    def get_incident(self, drill: Drill) -> int | None:
        incident = next(iter(drill.incidents.all()), None)
        return incident.pk if incident is not None else None

    def get_report(self, drill: Drill) -> dict:
        return drill_report_current(drill)


class DrillStartSerializer(serializers.Serializer):
    scenario = serializers.CharField(max_length=300)
    dataset = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())
    destination_region = serializers.SlugRelatedField(
        slug_field="code", queryset=Region.objects.all()
    )


class DrillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Breach drills: officers start and complete them; officers, executives and auditors read
    them and their reports."""

    serializer_class = DrillSerializer
    permission_classes = [permissions.IsAuthenticated, ActsWithPermission]
    ordering_fields = ["started_at", "completed_at", "status", "dataset_slug"]
    ordering_tiebreaker = "pk"
    action_permissions = {
        "list": "monitoring.view_drill",
        "retrieve": "monitoring.view_drill",
        "create": "monitoring.add_drill",
        "complete": "monitoring.change_drill",
    }

    def get_queryset(self):
        return selectors.drills_visible_to(self.request.user)

    @extend_schema(request=DrillStartSerializer, responses={201: DrillSerializer})
    def create(self, request):
        """Start a drill: its synthetic violation goes through ingest and opens its incident."""
        body = DrillStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        drill = services.drill_start(
            actor=request.user,
            dataset=body.validated_data["dataset"],
            destination_region=body.validated_data["destination_region"].code,
            scenario=body.validated_data["scenario"],
        )
        return Response(self.get_serializer(drill).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=DrillSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """End the drill: its incident is resolved and its report frozen."""
        drill = services.drill_complete(actor=request.user, drill=self.get_object())
        return Response(self.get_serializer(drill).data)
