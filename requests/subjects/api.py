"""The data-subject request API: requests (steps as actions), tasks, model decisions,
connectors, and the public intake and verification endpoints. Thin: writes go through
requests.subjects, which checks who may."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from catalog.conditional import ConditionalMixin
from catalog.filtering import StrictFilterSet
from catalog.idempotency import IdempotentCreateMixin
from catalog.paging import LocusOrdering, paged
from catalog.parsers import BoundedJSONParser
from catalog.permissions import ActsWithPermission
from governance.identity.second_factor import SecondFactorFresh
from governance.ml.selectors import served_by_run
from requests.models.subjects import (
    DatasetConnector,
    MlPropagationDecision,
    SubjectRequest,
    SubjectTask,
)
from requests.subjects import (
    access,
    connectors,
    intake,
    ml,
    officer_steps,
    packages,
    review,
    selectors,
    uploads,
    verification,
    work,
)
from requests.subjects.serializers import (
    ApproveConnectorSerializer,
    CloseSerializer,
    DatasetConnectorSerializer,
    DecideSerializer,
    EventSerializer,
    MlDecisionSerializer,
    ReasonSerializer,
    RequiredReasonSerializer,
    ReviewSerializer,
    StaffIntakeSerializer,
    SubjectRequestSerializer,
    SubjectTaskSerializer,
    TaskCompleteSerializer,
    VerifyIdentitySerializer,
)


class ReadsSubjectRequests(permissions.BasePermission):
    message = "Only privacy officers, executives and auditors read subject requests."

    def has_permission(self, request, view):
        return request.user.has_perm("workflows.view_subjectrequest")


class WorksSubjectTasks(permissions.BasePermission):
    message = "Only data owners and privacy officers work subject-request tasks."

    def has_permission(self, request, view):
        return request.user.has_perm("workflows.view_subjecttask")


# --- Staff endpoints -----------------------------------------------------------------------


def _annotated(queryset):
    return selectors.with_task_counts(queryset)


class SubjectRequestViewSet(
    ConditionalMixin, IdempotentCreateMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Data-subject requests with days left; each step of the workflow is an action."""

    serializer_class = SubjectRequestSerializer
    permission_classes = [permissions.IsAuthenticated, ReadsSubjectRequests, ActsWithPermission]
    permission_classes += [SecondFactorFresh]  # the answers below need a recent code
    second_factor_actions = {"close", "reject"}  # the answer sent, or the refusal
    action_permissions = {"create": "workflows.add_subjectrequest"}
    filterset_fields = ["status", "type", "jurisdiction"]
    ordering_fields = ["received_at", "status", "type"]

    def get_queryset(self):
        rows = selectors.requests_for(self.request.user).order_by("-received_at", "-id")
        return rows if self.action == "list" else _annotated(rows)

    def list(self, request, *args, **kwargs):
        """The requests, newest first; task counts for the page's rows only."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        data = self.get_serializer(selectors.count_tasks(list(page)), many=True).data
        return self.get_paginated_response(data)

    @extend_schema(request=StaffIntakeSerializer, responses={201: SubjectRequestSerializer})
    def create(self, request, *args, **kwargs):
        """Record a request received by e-mail, post, phone or in person."""
        body = StaffIntakeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = intake.subject_request_create(actor=request.user, **body.validated_data)
        return Response(self._fresh(created), status=status.HTTP_201_CREATED)

    def _fresh(self, obj) -> dict:
        obj = _annotated(SubjectRequest.objects.select_related("jurisdiction")).get(pk=obj.pk)
        return self.get_serializer(obj).data

    def _step(self, request, service, *, reason_required=False, **kwargs):
        target = self.get_object()
        access.require_manager(request.user, target)  # a 403 comes before the body's 400
        body = (RequiredReasonSerializer if reason_required else ReasonSerializer)(
            data=request.data
        )
        body.is_valid(raise_exception=True)
        if reason_required or "reason" in body.validated_data:
            kwargs["reason"] = body.validated_data.get("reason", "")
        changed = service(actor=request.user, subject_request=target, **kwargs)
        return Response(self._fresh(changed))

    @extend_schema(request=RequiredReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Extend the deadline once, before it passes, with the reason the subject is told."""
        return self._step(request, officer_steps.subject_request_extend, reason_required=True)

    @extend_schema(request=RequiredReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop the clock while waiting for the subject."""
        return self._step(request, officer_steps.subject_request_pause, reason_required=True)

    @extend_schema(request=ReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Start the clock again; the deadlines move on by the days paused."""
        return self._step(request, officer_steps.subject_request_resume)

    @extend_schema(request=RequiredReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Refuse, with reasons (the subject is told of the right to complain)."""
        return self._step(request, officer_steps.subject_request_reject, reason_required=True)

    @extend_schema(request=ReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The subject withdrew the request."""
        return self._step(request, officer_steps.subject_request_withdraw)

    @extend_schema(request=None, responses=ReviewSerializer)
    @action(detail=True, methods=["get"])
    def review(self, request, pk=None):
        """The answer as it would be sent now: per dataset what was found and done, the files,
        and whether it is empty (officers of the request)."""
        target = self.get_object()
        if not access.can_manage(request.user, target):
            raise PermissionDenied("Only the request's officers review its answer")
        return Response(ReviewSerializer(review.review_of(target)).data)

    @extend_schema(request=CloseSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Approve the reviewed answer and send it (refused while tasks or model decisions are
        open, and, for an empty answer, without `confirm_empty`)."""
        body = CloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = officer_steps.subject_request_close(
            actor=request.user,
            subject_request=self.get_object(),
            confirm_empty=body.validated_data["confirm_empty"],
        )
        return Response(self._fresh(changed))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"], url_path="reissue-package")
    def reissue_package(self, request, pk=None):
        """Send the subject a new download link (the old one stops working)."""
        package = packages.package_reissue(actor=request.user, subject_request=self.get_object())
        return Response({"expires_at": package.expires_at, "sha256": package.sha256})

    @extend_schema(request=ReasonSerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"], url_path="unlock-verification")
    def unlock_verification(self, request, pk=None):
        """Let the subject try codes again after wrong ones locked or slowed them (a new code
        is sent)."""
        return self._step(request, verification.verification_unlock)

    @extend_schema(request=VerifyIdentitySerializer, responses=SubjectRequestSerializer)
    @action(detail=True, methods=["post"], url_path="verify-identity")
    def verify_identity(self, request, pk=None):
        """Record that the subject's identity was verified by other means than the e-mailed
        code (how, and what was checked); the request goes on to discovery."""
        target = self.get_object()
        if not access.can_manage(request.user, target):  # refused before the body is read
            raise PermissionDenied("Only the request's officers verify its subject")
        body = VerifyIdentitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = verification.verification_record(
            actor=request.user, subject_request=target, **body.validated_data
        )
        return Response(self._fresh(changed))

    @extend_schema(responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[LocusOrdering], ordering_fields=["at"])
    def timeline(self, request, pk=None):
        """Every step of the request, as it happened."""
        events = self.get_object().events.order_by("at", "id")
        return paged(self, events, lambda page: EventSerializer(page, many=True).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        """Tasks, row counts, model decisions and the package's manifest."""
        target = self.get_object()
        tasks = selectors.tasks_of(request.user, target).select_related("owner")
        package = selectors.package_of(request.user, target)
        return Response(
            {
                "request": self._fresh(target),
                "tasks": SubjectTaskSerializer(tasks, many=True).data,
                "ml_propagation": selectors.ml_report(target),
                "package": None
                if package is None
                else {
                    "kind": package.kind,
                    "sha256": package.sha256,
                    "size": package.size,
                    "manifest": package.manifest,
                    "expires_at": package.expires_at,
                    "downloads": package.downloads,
                },
            }
        )


class SubjectTaskFilter(StrictFilterSet):
    dataset = django_filters.CharFilter(field_name="dataset_slug", label="A dataset's slug")
    deprecated_aliases = {"dataset_slug": "dataset"}

    class Meta:
        model = SubjectTask
        fields = ["status", "request", "dataset"]


class SubjectTaskViewSet(viewsets.ReadOnlyModelViewSet):
    """The tasks of subject requests: a data owner sees their datasets' tasks only."""

    serializer_class = SubjectTaskSerializer
    queryset = SubjectTask.objects.none()  # for the schema; get_queryset filters by person
    permission_classes = [permissions.IsAuthenticated, WorksSubjectTasks]
    filterset_class = SubjectTaskFilter
    ordering_fields = ["due_on", "status", "dataset_slug"]

    def get_queryset(self):
        return (
            selectors.tasks_for(self.request.user).select_related("owner").order_by("due_on", "id")
        )

    def retrieve(self, request, *args, **kwargs):
        task = self.get_object()
        body = self.get_serializer(task).data
        shown = selectors.shows_identifiers(request.user, task)
        body["identifiers"] = work.identifiers_for_task(task) if shown else None
        return Response(body)

    @extend_schema(
        request={
            "application/json": TaskCompleteSerializer,
            "multipart/form-data": TaskCompleteSerializer,
        },
        responses=SubjectTaskSerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[BoundedJSONParser, parsers.MultiPartParser],
    )
    def complete(self, request, pk=None):
        """Answer by hand: the export as records or a file, or a note of what was done."""
        task = self.get_object()
        body = TaskCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        upload = data.pop("upload", None)
        if upload is not None:
            data["rows"] = uploads.read_upload(upload)
        task = work.task_complete(actor=request.user, task=task, **data)
        return Response(self.get_serializer(task).data)

    @extend_schema(request=None, responses=SubjectTaskSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Run a failed connector again."""
        task = work.task_retry(actor=request.user, task=self.get_object())
        return Response(self.get_serializer(task).data)


class MlDecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """For erasures and consent withdrawals: the models trained on the data, and what is
    decided for each."""

    serializer_class = MlDecisionSerializer
    queryset = (
        MlPropagationDecision.objects.none()
    )  # for the schema; get_queryset filters by person
    permission_classes = [permissions.IsAuthenticated, WorksSubjectTasks]
    filterset_fields = ["request", "consent_withdrawal", "decision"]
    ordering_fields = ["id", "decision"]

    def get_queryset(self):
        return selectors.ml_decisions_for(self.request.user).order_by("id")

    def get_serializer(self, *args, **kwargs):
        """Where the models of a page's runs are served, read once for the page."""
        shown = args[0] if args else None
        rows = shown if isinstance(shown, list) else [shown] if shown is not None else []
        runs = [row.training_run_id for row in rows if getattr(row, "training_run_id", None)]
        kwargs.setdefault("context", self.get_serializer_context())
        kwargs["context"]["served"] = served_by_run(runs)
        return super().get_serializer(*args, **kwargs)

    @extend_schema(request=DecideSerializer, responses=MlDecisionSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Record retrain, unlearn, suppress or accept (accept needs a reason)."""
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = ml.ml_decision_record(
            actor=request.user,
            decision=self.get_object(),
            choice=body.validated_data["decision"],
            reason=body.validated_data.get("reason", ""),
        )
        return Response(self.get_serializer(decision).data)


class DatasetConnectorViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """How each dataset answers subject requests (identifier kinds; the SQL table)."""

    serializer_class = DatasetConnectorSerializer
    queryset = DatasetConnector.objects.none()  # for the schema; get_queryset filters by person
    ordering_fields = ["id"]
    permission_classes = [permissions.IsAuthenticated, WorksSubjectTasks]

    def get_queryset(self):
        return selectors.connectors_for(self.request.user).order_by("dataset__slug")

    @extend_schema(request=ApproveConnectorSerializer, responses=DatasetConnectorSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """A privacy officer approves the connector's current version: only then does it run."""
        body = ApproveConnectorSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        connector = connectors.connector_approve(
            actor=request.user, connector=self.get_object(), **body.validated_data
        )
        return Response(self.get_serializer(connector).data)
