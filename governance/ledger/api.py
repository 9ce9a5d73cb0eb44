"""The ledger API: entries, verification, checkpoints, export, and recorded decisions."""

from __future__ import annotations

import base64
import json

import django_filters
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.conditional import ConditionalMixin
from catalog.filtering import StrictFilterSet, UtcIsoDateTimeFilter
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset
from catalog.permissions import ActsWithPermission
from governance.ledger.chain import actor_names, filter_by_actor, ledger_search
from governance.ledger.export import checkpoint_create, export_lines
from governance.ledger.records import recorded_decision_create, recorded_decision_update
from governance.ledger.verification import signing_document, verify_ledger
from governance.models import LedgerCheckpoint, LedgerEntry, LocalityRule, RecordedDecision


class CanReadLedger(permissions.BasePermission):
    message = "Only privacy officers, executives and auditors read the decision log."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_ledgerentry"))


class LedgerEntrySerializer(serializers.ModelSerializer):
    subjects = serializers.ListField(source="subject_list", child=serializers.CharField())
    actor_display = serializers.SerializerMethodField(
        help_text="The actor's name while the account exists, else actor_name (a pseudonym); "
        "the entry itself holds only the pseudonym"
    )
    # The metaclass moves declared fields off the class, so Serializer.data stays the property.
    data = serializers.SerializerMethodField()  # type: ignore[assignment]
    payload = serializers.SerializerMethodField(
        help_text="Base64 of the exact bytes that were hashed"
    )

    class Meta:
        model = LedgerEntry
        fields = [
            "sequence",
            "at",
            "actor_id",
            "actor_name",
            "actor_display",
            "kind",
            "subjects",
            "data",
            "payload",
            "prev_hash",
            "hash",
        ]

    def get_actor_display(self, entry) -> str:
        names = self.context.get("actor_names")
        if names is None:  # one entry: resolve it alone
            names = actor_names([entry])
        return names.get(entry.actor_name, entry.actor_name)

    def get_data(self, entry) -> dict:
        return json.loads(bytes(entry.payload)).get("data", {})

    def get_payload(self, entry) -> str:
        return base64.b64encode(bytes(entry.payload)).decode()


class LedgerEntryFilter(StrictFilterSet):
    kind = django_filters.CharFilter(lookup_expr="startswith")
    actor = django_filters.CharFilter(
        method="filter_actor", label="A person's name or username, a pseudonym, or system"
    )
    dataset = django_filters.CharFilter(method="filter_subject", label="Dataset slug")
    subject = django_filters.CharFilter(
        method="filter_subject_ref", label="Any reference, e.g. rule:12"
    )
    since = UtcIsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", label="Search kind, subjects and actor")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "actor", "dataset", "subject", "since", "until", "q"]

    def filter_actor(self, queryset, name, value):
        return filter_by_actor(queryset, value)

    def filter_subject(self, queryset, name, value):
        return queryset.filter(subjects__contains=f" dataset:{value} ")

    def filter_subject_ref(self, queryset, name, value):
        return queryset.filter(subjects__contains=f" {value} ")

    def search(self, queryset, name, value):
        return ledger_search(queryset, value)


class LedgerEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The hash-chained decision log. Read-only: entries are never changed or removed."""

    serializer_class = LedgerEntrySerializer
    permission_classes = [permissions.IsAuthenticated, CanReadLedger]
    queryset = LedgerEntry.objects.order_by("-sequence")
    filterset_class = LedgerEntryFilter
    lookup_field = "sequence"
    ordering_fields = ["sequence", "at"]

    def get_serializer(self, *args, **kwargs):
        """A page of entries resolves its actors' names in one query."""
        if args and isinstance(args[0], list):
            context = kwargs.setdefault("context", self.get_serializer_context())
            context["actor_names"] = actor_names(args[0])
        return super().get_serializer(*args, **kwargs)


class LedgerVerifyView(APIView):
    """Verify the whole chain and every checkpoint; report the first broken link."""

    permission_classes = [permissions.IsAuthenticated, CanReadLedger]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(verify_ledger().as_dict())


class CheckpointSerializer(serializers.ModelSerializer):
    """A checkpoint exactly as signed (its `at` is the signed string), ready to publish."""

    class Meta:
        model = LedgerCheckpoint
        fields = [
            "id",
            "sequence",
            "hash",
            "at",
            "algorithm",
            "key_id",
            "public_key",
            "signature",
            "created_by_name",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        document = signing_document(instance)
        return {"id": instance.pk, **document, "created_by_name": instance.created_by_name}


class CheckpointViewSet(
    IdempotentCreateMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Signed heads of the chain. POST signs the current head now."""

    serializer_class = CheckpointSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadLedger]
    queryset = LedgerCheckpoint.objects.order_by("-sequence", "-id")
    ordering_fields = ["sequence", "at"]

    def perform_create(self, serializer):
        if not self.request.user.has_perm("governance.add_ledgercheckpoint"):
            self.permission_denied(self.request, message="Your role may not sign checkpoints")
        serializer.instance = checkpoint_create(actor=self.request.user)


# A time window's parameters, as every list names them; `from`/`to` are the deprecated names.
WINDOW_ALIASES = {"since": "from", "until": "to"}
WINDOW_NAMES = (*WINDOW_ALIASES, *WINDOW_ALIASES.values())  # empty: no bound (optional_datetime)


def window_parameters(since: str = "", until: str = "") -> list[OpenApiParameter]:
    """The schema's `since`/`until` and their deprecated aliases."""
    given = [
        OpenApiParameter("since", OpenApiTypes.DATETIME, description=since or "From this moment"),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description=until or "Before this moment"),
    ]
    return given + [
        OpenApiParameter(
            old, OpenApiTypes.DATETIME, deprecated=True, description=f"Deprecated: use `{new}`"
        )
        for new, old in WINDOW_ALIASES.items()
    ]


def window_name(params, name: str) -> str:
    """The name a client gave a window's bound by: the current one, or its deprecated alias."""
    alias = WINDOW_ALIASES.get(name, "")
    return alias if not params.get(name) and params.get(alias) else name


def optional_datetime(params, name: str):
    """A query parameter as an aware datetime, or None; a 400 naming it when malformed. The
    deprecated name of a window's bound is read when the current one is absent."""
    name = window_name(params, name)
    value = params.get(name)
    if not value:
        return None
    try:
        return serializers.DateTimeField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from exc


class LedgerExportView(APIView):
    """The ledger (or a time slice) as JSONL, for the offline verifier."""

    permission_classes = [permissions.IsAuthenticated, CanReadLedger]
    blank_means_absent = WINDOW_NAMES

    @extend_schema(
        parameters=window_parameters(),
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        since = optional_datetime(request.query_params, "since")
        until = optional_datetime(request.query_params, "until")
        rows = export_lines(since=since, until=until)
        response = StreamingHttpResponse(rows, content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="locus-ledger.jsonl"'
        return response


class RecordedDecisionSerializer(serializers.ModelSerializer):
    datasets = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Dataset.objects.all(), required=False
    )
    rules = serializers.PrimaryKeyRelatedField(
        many=True, queryset=LocalityRule.objects.all(), required=False
    )
    links = serializers.ListField(child=serializers.CharField(max_length=120), required=False)

    class Meta:
        model = RecordedDecision
        fields = [
            "id",
            "title",
            "context",
            "decision",
            "rationale",
            "alternatives",
            "status",
            "datasets",
            "rules",
            "links",
            "author_name",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "author_name", "version", "created_at", "updated_at"]

    def create(self, validated_data):
        return recorded_decision_create(actor=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return recorded_decision_update(
            actor=self.context["request"].user, record=instance, **validated_data
        )


class CanReadRecordedDecisions(permissions.BasePermission):
    message = "Your account has no Locus role."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_recordeddecision"))


class RecordedDecisionViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Decisions people write down (ADR-style); each version is on the ledger. Officers write."""

    serializer_class = RecordedDecisionSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        CanReadRecordedDecisions,
        ActsWithPermission,
    ]
    action_permissions = dict.fromkeys(("create", "update"), "governance.add_recordeddecision")
    queryset = RecordedDecision.objects.prefetch_related("datasets", "rules")
    filterset_fields = ["status"]
    ordering_fields = ["id", "title", "status"]
