"""The bodies of the steps on an incident (a note, an owner, a breach assessment, a playbook
step, a comment, a bulk action) and the lines its runs and timeline are answered with: the
incidents API's serializers that are not a model's."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from catalog.fields import ID_MAX
from monitoring.incidents import services
from monitoring.incidents.services import FINDINGS
from monitoring.models import PLAYBOOK_STEPS

User = get_user_model()


class IncidentRunSerializer(serializers.Serializer):
    """A run an incident's events came from (for the schema: the views answer Run.as_json)."""

    run_id = serializers.CharField()
    violations = serializers.IntegerField()
    first_violation_at = serializers.DateTimeField()
    last_violation_at = serializers.DateTimeField()
    openlineage = serializers.DictField(
        allow_null=True, help_text="The OpenLineage run: job, state, region"
    )
    training_run = serializers.DictField(
        allow_null=True, help_text="The registered training run: id, name, verdict"
    )


class CommentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=services.COMMENT_LIMIT)


class TimelineEntrySerializer(serializers.Serializer):
    """One line of an incident's timeline (for the schema: the views answer Moment.as_json)."""

    at = serializers.DateTimeField()
    kind = serializers.CharField()
    what = serializers.CharField()
    by = serializers.CharField()
    note = serializers.CharField(allow_blank=True)
    details = serializers.DictField(source="data")


class BulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=services.BULK_ACTIONS)
    incidents = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        min_length=1,
        max_length=services.BULK_LIMIT,
    )
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False
    )


class IncidentNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ResolutionNoteSerializer(serializers.Serializer):
    """A resolution says how (services.incident_resolve): the schema requires the note."""

    note = serializers.CharField(
        max_length=2000,
        error_messages={
            "required": "Say how the incident was resolved",
            "blank": "Say how the incident was resolved",
        },
    )


class AssignSerializer(serializers.Serializer):
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())


class AssessSerializer(serializers.Serializer):
    assessment = serializers.ChoiceField(choices=sorted(FINDINGS))
    reasoning = serializers.CharField(max_length=4000)


class PlaybookSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=PLAYBOOK_STEPS)
    done = serializers.BooleanField(default=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
