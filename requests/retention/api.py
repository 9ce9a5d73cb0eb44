"""The retention API (/api/v1/retention/...): runs (due, overdue, done; an owner marks theirs
done), legal holds (officers place and lift them) and the counts the officers' page shows.
Thin: writes go through requests.retention, which checks who may."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog.models import Dataset
from catalog.permissions import ActsWithPermission
from requests.models.retention import LegalHold, RetentionRun
from requests.retention import holds, selectors, services


class ReadsRetention(permissions.BasePermission):
    message = "Only privacy officers, auditors and data owners read retention."

    def has_permission(self, request, view):
        return request.user.has_perm("workflows.view_retentionrun")


class RetentionRunSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_slug", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = RetentionRun
        fields = ["id", "dataset", "period_start", "retention_days", "cutoff", "due_on",
                  "status", "overdue", "automatic", "attempts", "last_error", "rows_deleted",
                  "note", "completed_at", "completed_by_name", "created_at"]  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, run: RetentionRun) -> bool:
        return run.overdue(timezone.now().date())


class RunCompleteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000, help_text="What was deleted, and how")


class LegalHoldSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())

    class Meta:
        model = LegalHold
        fields = ["id", "dataset", "reason", "until", "placed_by_name", "placed_at",
                  "lifted_at", "lifted_by_name", "lift_reason"]  # fmt: skip
        read_only_fields = ["id", "placed_by_name", "placed_at", "lifted_at", "lifted_by_name",
                            "lift_reason"]  # fmt: skip


class HoldLiftSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000, help_text="Why the hold ends")


def _state(request) -> str:
    state = request.query_params.get("state", "").strip() or "all"  # empty: no filter
    if state not in selectors.STATES:
        raise ValidationError({"state": f"One of {', '.join(selectors.STATES)}"})
    return state


class RetentionRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Retention runs the reader may see; ?state=due|overdue|done|all."""

    serializer_class = RetentionRunSerializer
    queryset = RetentionRun.objects.none()  # for the schema; get_queryset filters by person
    ordering_fields = ["id", "due_on"]
    permission_classes = [permissions.IsAuthenticated, ReadsRetention, ActsWithPermission]
    object_checks = {"complete": services.may_complete}
    action_denials = {"complete": "Only the dataset's owner or a privacy officer marks it done."}

    def get_queryset(self):
        runs = selectors.runs_for(self.request.user)
        if self.action != "list":
            return runs
        return selectors.runs_in_state(runs, _state(self.request), timezone.now().date())

    @extend_schema(parameters=[OpenApiParameter("state", enum=list(selectors.STATES))])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RunCompleteSerializer, responses=RetentionRunSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """The owner has deleted the records past retention by hand (say how)."""
        run = self.get_object()
        body = RunCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.retention_run_complete(
            actor=request.user, run=run, note=body.validated_data["note"]
        )
        return Response(self.get_serializer(run).data)


class LegalHoldViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Legal holds in force (?all=1: lifted and ended ones too); officers place and lift."""

    serializer_class = LegalHoldSerializer
    queryset = LegalHold.objects.none()  # for the schema; get_queryset filters by person
    ordering_fields = ["id", "placed_at"]
    permission_classes = [permissions.IsAuthenticated, ReadsRetention, ActsWithPermission]
    action_permissions = {"create": "workflows.add_legalhold", "lift": "workflows.change_legalhold"}
    action_denials = {
        "create": "Only a privacy officer places a legal hold.",
        "lift": "Only a privacy officer lifts a legal hold.",
    }

    def get_queryset(self):
        if self.request.query_params.get("all") == "1" or self.action != "list":
            everything = LegalHold.objects.select_related("dataset")
            if selectors.reads_all(self.request.user):
                return everything
            return everything.filter(dataset__owner=self.request.user)
        return selectors.holds_for(self.request.user, timezone.now())

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        hold = holds.legal_hold_place(actor=request.user, **body.validated_data)
        return Response(self.get_serializer(hold).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=HoldLiftSerializer, responses=LegalHoldSerializer)
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        """End the hold: the dataset's retention resumes."""
        hold = self.get_object()
        body = HoldLiftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        hold = holds.legal_hold_lift(
            actor=request.user, hold=hold, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(hold).data)


class RetentionSummaryViewSet(viewsets.ViewSet):
    """How many runs are due and overdue and how many holds are in force (as on the page)."""

    permission_classes = [permissions.IsAuthenticated, ReadsRetention]

    @extend_schema(responses={200: dict})
    def list(self, request):
        return Response(selectors.counts(request.user, timezone.now()))
