"""The subject-request API's serializers: requests, the intake, tasks, model decisions and
connectors; the bodies of the steps on a request (an officer's reason, an identity verified
another way, an approval; an owner's answer to a task, a model decision, a connector's
approval), the answer as reviewed, and the timeline's lines."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Dataset
from governance.ml.selectors import served_by_run
from requests.models.subjects import (
    Channel,
    DatasetConnector,
    IdentifierKind,
    MlDecision,
    MlPropagationDecision,
    OtherMeans,
    SubjectRequest,
    SubjectRequestType,
    SubjectTask,
)
from requests.subjects import access, connectors, selectors


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class RequiredReasonSerializer(serializers.Serializer):
    """A step the law asks a reason for (an extension, a pause, a refusal): the schema says so."""

    reason = serializers.CharField(
        max_length=2000,
        error_messages={
            "required": "Give the reason: the subject is told it",
            "blank": "Give the reason: the subject is told it",
        },
    )


class VerifyIdentitySerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=OtherMeans.choices)
    checked = serializers.CharField(
        max_length=500, help_text="What was checked, and against what (not a document's number)"
    )


class CloseSerializer(serializers.Serializer):
    confirm_empty = serializers.BooleanField(
        default=False, help_text="The officer confirms that an answer with no record is right"
    )


class DatasetLineSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    automatic = serializers.BooleanField()
    records = serializers.IntegerField(allow_null=True)
    erased = serializers.IntegerField(allow_null=True)
    masked = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()


class ReviewFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()


class ReviewSerializer(serializers.Serializer):
    kind = serializers.CharField()
    summary = serializers.CharField()
    files = ReviewFileSerializer(many=True)
    datasets = DatasetLineSerializer(many=True)
    records = serializers.IntegerField()
    empty = serializers.BooleanField()


class EventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor_name = serializers.CharField()
    action = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    comment = serializers.CharField()


class TaskCompleteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    rows = serializers.JSONField(required=False, help_text="The export: a list of records")
    upload = serializers.FileField(
        required=False,
        help_text="Or the export as a file (multipart): .json (a list of records), .csv (with "
        "a header row) or .zip of those; at most UPLOAD_MAX_BYTES",
    )

    def validate(self, attrs):
        if "rows" in attrs and "upload" in attrs:
            raise serializers.ValidationError({"upload": "Give the records or a file, not both"})
        return attrs


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=MlDecision.choices)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ApproveConnectorSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version reviewed; refused if it changed since"
    )


# --- The model serializers: requests, intake, tasks, model decisions, connectors ---------------


class SubjectRequestSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    due = serializers.DateField(read_only=True)
    days_left = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    duplicate_of: serializers.PrimaryKeyRelatedField[SubjectRequest] = (
        serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    )
    tasks_open = serializers.IntegerField(read_only=True, default=None)
    tasks_total = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = SubjectRequest
        fields = [
            "id",
            "reference",
            "type",
            "status",
            "jurisdiction",
            "received_at",
            "channel",
            "agent_name",
            "verification",
            "verified_at",
            "deadline",
            "extended_deadline",
            "extension_reason",
            "due",
            "days_left",
            "acknowledge_by",
            "deadline_basis",
            "right_basis",
            "paused_at",
            "paused_days",
            "duplicate_of",
            "identifier_kinds",
            "identifiers",
            "tasks_open",
            "tasks_total",
            "outcome",
            "created_at",
            "closed_at",
        ]

    def get_days_left(self, obj) -> int | None:
        return selectors.days_left(obj) if obj.is_open else None

    def get_identifiers(self, obj) -> dict | None:
        """Only the officers who manage the request see who the subject is."""
        if not hasattr(self, "_manages"):  # one check per answer, not a query per row
            self._manages = access.manager_check(self.context["request"].user)
        return obj.identifiers_shown if self._manages(obj) else None


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            kind: {"type": "string", "maxLength": 200}
            | ({"format": "email"} if kind == IdentifierKind.EMAIL else {})
            for kind in IdentifierKind.values
        },
        "required": [IdentifierKind.EMAIL],
        "additionalProperties": False,
    }
)
class IdentifiersField(serializers.DictField):
    """kind -> value: the subject's e-mail address and any other kinds the datasets hold (the
    intake service checks them; the schema says what it checks)."""

    child = serializers.CharField(max_length=200, allow_blank=True)


class IntakeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=SubjectRequestType.choices,
        help_text=f"One of {', '.join(SubjectRequestType.values)} that the jurisdiction's law "
        "gives (GET subject-intake/rights?jurisdiction=<code> lists them); another is refused "
        "with a 400 naming `type`",
    )
    jurisdiction = serializers.CharField(max_length=20, help_text="A jurisdiction code, e.g. eu")
    identifiers = IdentifiersField(
        help_text=f"kind -> value; kinds: {', '.join(IdentifierKind.values)}; email required",
    )
    details = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    agent_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    agent_authority = serializers.CharField(max_length=300, required=False, allow_blank=True)


class StaffIntakeSerializer(IntakeSerializer):
    received_at = serializers.DateTimeField(required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EMAIL)


class SubjectTaskSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(source="request.reference", read_only=True)
    request_type = serializers.CharField(source="request.type", read_only=True)
    request_due = serializers.DateField(source="request.due", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = SubjectTask
        fields = [
            "id",
            "request",
            "reference",
            "request_type",
            "request_due",
            "dataset_slug",
            "owner",
            "due_on",
            "status",
            "automatic",
            "attempts",
            "last_error",
            "rows_found",
            "rows_exported",
            "rows_erased",
            "rows_masked",
            "note",
            "completed_at",
            "completed_by_name",
        ]
        read_only_fields = fields


class ServedModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(help_text="Its name and version")
    served_in = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Each region it is served from now, with its endpoint",
    )


class MlDecisionSerializer(serializers.ModelSerializer):
    decision = serializers.ChoiceField(
        choices=MlDecision.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty until someone decides",
    )
    models = serializers.SerializerMethodField(
        help_text="The registered models the run trained, and where each is served now"
    )

    class Meta:
        model = MlPropagationDecision
        fields = [
            "id",
            "request",
            "consent_withdrawal",
            "training_run",
            "run_name",
            "model_name",
            "datasets",
            "models",
            "decision",
            "reason",
            "decided_by_name",
            "decided_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ServedModelSerializer(many=True))
    def get_models(self, obj) -> list[dict]:
        served = self.context.get("served")
        if served is None:  # one decision on its own
            served = served_by_run([obj.training_run_id] if obj.training_run_id else [])
        return served.get(obj.training_run_id, [])


APPROVAL_FIELDS = ["version", "approved", "approved_version", "approved_by_name", "approved_at"]


class DatasetConnectorSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())
    identifier_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=IdentifierKind.choices), allow_empty=False
    )
    mask_columns = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, default=list
    )

    approved = serializers.BooleanField(
        read_only=True, help_text="Its current version is approved: only then does it run"
    )

    class Meta:
        model = DatasetConnector
        fields = ["id", "dataset", *connectors.CONNECTOR_FIELDS, "updated_at", *APPROVAL_FIELDS]
        read_only_fields = ["id", "updated_at", *APPROVAL_FIELDS]

    def create(self, validated_data):
        return connectors.connector_save(actor=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return connectors.connector_save(
            actor=self.context["request"].user,
            connector=instance,
            dataset=validated_data.pop("dataset", instance.dataset),
            **validated_data,
        )
