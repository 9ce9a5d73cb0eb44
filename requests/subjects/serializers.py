"""The bodies of the steps on a subject request (an officer's reason, an identity verified
another way, an approval; an owner's answer to a task, a model decision, a connector's
approval), the answer as reviewed, and the timeline's lines: the API's serializers that are
not a model's."""

from __future__ import annotations

from rest_framework import serializers

from requests.models.subjects import MlDecision, OtherMeans


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


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
