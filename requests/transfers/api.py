"""The transfer-exception API: exceptions (with their steps as actions) and the register of
transfers. Thin: every write goes through requests.transfers, which checks who may."""

from __future__ import annotations

import io
from functools import partial
from typing import cast

import django_filters
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, permissions, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from catalog.conditional import ConditionalMixin
from catalog.filtering import StrictFilterSet
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, Region
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from governance.identity.second_factor import SecondFactorFresh
from governance.models import Purpose, TrainingRun, TransferGrant, TransferMechanism
from governance.roles import Role, has_role
from requests.models import (
    ExceptionApproval,
    ExceptionEvent,
    ExceptionStatus,
    RiskLevel,
    TransferException,
)
from requests.models.transfers import Derogation, SccModule
from requests.transfers import selectors, services, workflow
from requests.transfers.register import register_csv_write


class HasLocusRole(permissions.BasePermission):
    message = "Your account has no Locus role."

    def has_permission(self, request, view):
        return has_role(request.user, *Role.values)


class ReadsRegister(permissions.BasePermission):
    message = "Only privacy officers, auditors and executives read the register of transfers."

    def has_permission(self, request, view):
        return selectors.may_read_register(request.user)


def _slugs(model, field: str, what: str, **kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field=field,
        queryset=model.objects.all(),
        error_messages={
            "does_not_exist": f"No {what} has the {field} {{value}}",
            "empty": f"Name at least one {what}",  # with allow_empty=False (validate_places)
        },
        **kwargs,
    )


# --- Serializers ---------------------------------------------------------------------------


class ExceptionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExceptionEvent
        fields = ["id", "at", "actor_name", "action", "from_status", "to_status", "comment"]


class ExceptionApprovalSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExceptionApproval
        fields = ["review_round", "approver_name", "at"]


class ExceptionGrantSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = TransferGrant
        fields = [
            "id",
            "mechanism",
            "mechanism_detail",
            "valid_from",
            "valid_until",
            "approved_by_name",
            "revoked_at",
            "revoke_reason",
            "status",
        ]

    def get_status(self, grant) -> str:
        return selectors.grant_status(grant, timezone.now())


class TransferExceptionSerializer(serializers.ModelSerializer):
    """An exception as listed, and as written (create, or change while editable)."""

    reference = serializers.CharField(read_only=True)
    requester = serializers.CharField(source="requester.get_username", read_only=True)
    datasets = _slugs(Dataset, "slug", "dataset", many=True, allow_empty=False)
    destination_regions = _slugs(Region, "code", "destination region", many=True, allow_empty=False)
    source_regions = _slugs(
        Region,
        "code",
        "region",
        many=True,
        required=False,
        help_text="Empty: the regions the datasets are stored in",
    )
    purpose = _slugs(Purpose, "code", "purpose")
    training_runs = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=TrainingRun.objects.all(),
        required=False,
        error_messages={"does_not_exist": "No training run has the id {pk_value}"},
    )
    mechanism = serializers.ChoiceField(choices=TransferMechanism.choices)
    scc_module = serializers.ChoiceField(
        choices=SccModule.choices, required=False, allow_blank=True
    )
    derogation = serializers.ChoiceField(
        choices=Derogation.choices, required=False, allow_blank=True
    )
    tia_risks = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, max_length=50
    )
    tia_measures = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=20
    )
    tia_risk_level = serializers.ChoiceField(choices=RiskLevel.choices, required=False)
    starts_at = serializers.DateTimeField(required=False, help_text="Default: now")
    ends_at = serializers.DateTimeField(
        required=False, help_text="Default: a short period (EXCEPTION_DEFAULT_DAYS) after start"
    )
    submit = serializers.BooleanField(
        write_only=True, required=False, default=False, help_text="File and submit at once"
    )

    class Meta:
        model = TransferException
        read_only_fields = [
            "status",
            "risk",
            "approvals_required",
            "review_round",
            "grant",
            "created_at",
            "updated_at",
            "submitted_at",
            "decided_at",
        ]
        fields = [
            "id",
            "reference",
            "requester",
            *services.PLACE_FIELDS,
            *services.TERM_FIELDS,
            *read_only_fields,
            "submit",
        ]
        extra_kwargs = {"title": {"required": False, "allow_blank": True}}

    def service_fields(self) -> dict:
        """The validated input, named as exception_create / exception_update take it."""
        data = dict(self.validated_data)
        data.pop("submit", None)
        return data

    def create(self, validated_data):
        return services.exception_create(
            actor=self.context["request"].user,
            submit=validated_data.get("submit", False),
            **self.service_fields(),
        )

    def update(self, instance, validated_data):
        return services.exception_update(
            actor=self.context["request"].user, exception=instance, **self.service_fields()
        )


class RuleAnswerSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    region = serializers.CharField()
    outcome = serializers.CharField(help_text="The engine's answer for a transfer, now")
    rule = serializers.CharField()
    reason = serializers.CharField()
    allowed = serializers.BooleanField(help_text="Transfer, processing and training all allowed")
    by_action = serializers.DictField(child=serializers.CharField())


class TransferExceptionDetailSerializer(TransferExceptionSerializer):
    """One exception with its timeline, approvals, grant and what the engine says now."""

    events = ExceptionEventSerializer(many=True, read_only=True)
    approvals = serializers.SerializerMethodField()
    grant = ExceptionGrantSerializer(read_only=True, allow_null=True)  # none until approved
    rule_answers = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta(TransferExceptionSerializer.Meta):
        fields = [
            *TransferExceptionSerializer.Meta.fields,
            "events",
            "approvals",
            "rule_answers",
            "actions",
        ]

    @extend_schema_field(ExceptionApprovalSerializer(many=True))
    def get_approvals(self, exception) -> list[dict]:
        approvals = ExceptionApprovalSerializer(selectors.current_approvals(exception), many=True)
        # many=True makes a list serializer, whose data is a list; the stubs say a dict.
        return cast(list[dict], approvals.data)

    @extend_schema_field(RuleAnswerSerializer(many=True))
    def get_rule_answers(self, exception) -> list[dict]:
        return [answer.as_dict() for answer in selectors.answers(exception)]

    def get_actions(self, exception) -> list[str]:
        """The steps the caller may take now, spelled as this API's action paths."""
        user = self.context["request"].user
        return [a.replace("_", "-") for a in selectors.available_actions(user, exception)]


class StepCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default="", trim_whitespace=True
    )


class ExceptionCommentSerializer(serializers.Serializer):
    """A remark is its text: required, and more than spaces (the schema says both)."""

    comment = serializers.CharField(max_length=5000, trim_whitespace=True)


class ExceptionFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ExceptionStatus.choices)
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only mine")
    dataset = django_filters.CharFilter(method="filter_dataset", label="A dataset's slug")

    class Meta:
        model = TransferException
        fields = ["status", "mechanism"]

    def filter_mine(self, rows, name, value):
        return rows.filter(requester=self.request.user) if value else rows

    def filter_dataset(self, rows, name, value):
        links = TransferException.datasets.through.objects.filter(dataset__slug=value)
        return rows.filter(pk__in=links.values("transferexception_id"))


# --- Exceptions ----------------------------------------------------------------------------


def _may_take(step: str, user, exception: TransferException) -> bool:
    """True, or PermissionDenied saying who takes the step (the refusal's detail)."""
    workflow.check_actor(user, exception, step, workflow.ACTED_BY[step])
    return True


def _step(name: str, description: str):
    """An @action POST endpoint for one workflow step, with {"comment": "..."}."""

    @extend_schema(request=StepCommentSerializer, responses=TransferExceptionDetailSerializer)
    def view(self, request, pk=None):
        exception = self.get_object()
        body = StepCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.exception_transition(
            actor=request.user,
            exception=exception,
            action=name,
            comment=body.validated_data["comment"],
        )
        return self._detail(exception.pk)

    view.__name__ = name
    view.__doc__ = description
    return action(detail=True, methods=["post"], url_path=name.replace("_", "-"))(view)


class TransferExceptionViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Transfer exceptions: a requester files one, privacy officers of its source jurisdictions
    decide; steps are POST actions. Objects the caller may not see answer 404."""

    permission_classes = [
        permissions.IsAuthenticated,
        HasLocusRole,
        ActsWithPermission,
        SecondFactorFresh,
    ]
    action_permissions = {"create": "workflows.add_transferexception"}
    second_factor_actions = {"approve", "reject", "revoke"}
    # A step by someone who may not take it is refused before its comment is read.
    object_checks = {
        **{
            name: partial(_may_take, name)
            for name, by in workflow.ACTED_BY.items()
            if by != workflow.SYSTEM
        },
        "comment": workflow.may_comment,
    }
    action_denials = {"comment": "Only the requester and its reviewers comment on an exception"}
    filterset_class = ExceptionFilter
    ordering_fields = ["id", "created_at", "submitted_at", "status"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    queryset = TransferException.objects.none()  # for the schema; get_queryset filters

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TransferException.objects.none()
        return selectors.exceptions_for(self.request.user).order_by("-created_at", "-id")

    def get_serializer_class(self):
        if self.action == "list":
            return TransferExceptionSerializer
        if self.action in ("create", "partial_update"):
            return TransferExceptionSerializer
        return TransferExceptionDetailSerializer

    def get_object(self):
        if self.action == "retrieve":
            found = selectors.exception_for(self.request.user, self._pk())
        else:
            found = self.get_queryset().filter(pk=self._pk()).first()
        if found is None:
            raise Http404("No such transfer exception")
        # DRF's get_object would: a step or comment by someone who may not take it is refused
        # here, before its body is read (object_checks).
        self.check_object_permissions(self.request, found)
        return self.conditional_object(found)

    def _pk(self) -> int:
        value = self.kwargs.get("pk", "")
        return int(value) if str(value).isdigit() else -1

    def _detail(self, pk: int, status: int = 200) -> Response:
        exception = selectors.exception_for(self.request.user, pk)
        serializer = TransferExceptionDetailSerializer(
            exception, context=self.get_serializer_context()
        )
        return Response(serializer.data, status=status)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        exception = serializer.save()
        return self._detail(exception.pk, status=201)

    def update(self, request, *args, **kwargs):
        exception = self.get_object()
        serializer = self.get_serializer(exception, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return self._detail(exception.pk)

    submit = _step("submit", "Send a draft (or a changed exception) to its reviewers.")
    withdraw = _step("withdraw", "The requester takes the exception back.")
    start_review = _step("start_review", "A reviewer takes up a submitted exception.")
    request_changes = _step("request_changes", "Send it back to the requester (with a comment).")
    approve = _step("approve", "Approve; the last approval needed creates the transfer grant.")
    reject = _step("reject", "Refuse it (with a comment saying why).")
    revoke = _step("revoke", "End an approved or active exception and its grant now (reason).")

    @extend_schema(request=ExceptionCommentSerializer, responses={201: ExceptionEventSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request, pk=None):
        """A remark on the timeline by the requester or a reviewer."""
        exception = self.get_object()
        body = ExceptionCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = services.exception_comment(
            actor=request.user, exception=exception, comment=body.validated_data["comment"]
        )
        return Response(ExceptionEventSerializer(event).data, status=201)


# --- The register of transfers -------------------------------------------------------------


class CSVRenderer(renderers.BaseRenderer):
    """The register as CSV (one row per grant, source country and destination country)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, list):  # an error: its detail, one line
            data = [{"error": str(data)}]
        out = io.StringIO()
        if data and "error" in data[0]:
            register_csv_write(out, data, columns=list(data[0]))
        else:
            register_csv_write(out, data)
        return out.getvalue().encode(self.charset)


class RegisterParams(serializers.Serializer):
    # The stubs take this for Field.source; the metaclass makes it a declared field.
    source = serializers.RegexField(  # type: ignore[assignment]
        r"^[A-Za-z]{2}$", required=False, help_text="ISO alpha-2"
    )
    destination = serializers.RegexField(r"^[A-Za-z]{2}$", required=False)
    mechanism = serializers.ChoiceField(choices=TransferMechanism.choices, required=False)
    status = serializers.ChoiceField(
        choices=["active", "upcoming", "expired", "revoked"], required=False
    )


class RegisterRowSerializer(serializers.Serializer):
    """One row of the register (the schema's description; the selector builds the rows)."""

    grant = serializers.IntegerField()
    exception = serializers.CharField(help_text="The exception's reference, else the grant's")
    exception_id = serializers.IntegerField(allow_null=True)
    source_country = serializers.CharField()
    destination_country = serializers.CharField()
    mechanism = serializers.ChoiceField(choices=TransferMechanism.choices)
    mechanism_label = serializers.CharField()
    mechanism_detail = serializers.CharField()
    datasets = serializers.ListField(child=serializers.CharField())
    destination_regions = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["active", "upcoming", "expired", "revoked"])
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoke_reason = serializers.CharField()
    approved_by = serializers.CharField()


COUNTRY_CODE = {"type": "string", "pattern": "^[A-Za-z]{2}$"}  # as RegisterParams reads it


class TransferRegisterViewSet(viewsets.GenericViewSet):
    """The register of transfers (GDPR Art. 30(1)(e) style): every grant, active and past, by
    source country, destination country and mechanism, in pages. `?format=csv` for a
    spreadsheet of every row (in the order asked), not paged."""

    permission_classes = [permissions.IsAuthenticated, ReadsRegister]
    filter_backends = [LocusOrdering]  # the filters are RegisterParams, read before the rows
    ordering_fields = [
        "source_country",
        "destination_country",
        "mechanism",
        "status",
        "valid_from",
        "valid_until",
        "grant",
    ]
    ordering_tiebreaker = "grant"
    blank_means_absent = ("source", "destination", "mechanism", "status")  # RegisterParams
    # The stubs give the setting's import strings; api_settings hands out the classes.
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]  # type: ignore[list-item]

    @extend_schema(
        parameters=[
            OpenApiParameter("source", COUNTRY_CODE, description="Source country (ISO alpha-2)"),
            OpenApiParameter("destination", COUNTRY_CODE, description="Destination country"),
            OpenApiParameter("mechanism", str, enum=TransferMechanism.values),
            OpenApiParameter("status", str, enum=["active", "upcoming", "expired", "revoked"]),
        ],
        responses=RegisterRowSerializer(many=True),
    )
    def list(self, request, format=None):
        params = RegisterParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = selectors.register_rows(**params.validated_data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response = Response(LocusOrdering().order(request, rows, self))
            response["Content-Disposition"] = 'attachment; filename="transfer-register.csv"'
            return response
        return paged(self, rows)
