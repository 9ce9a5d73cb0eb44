"""The consent API: collecting systems send batches of events (a DRF token of an account that
may record consent); officers and auditors read the events and the current state."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.ledger.chain import pseudonym
from requests.consents import selectors, services
from requests.consents.batch import MAX_EVENTS, ConsentItemSerializer, parse_batch
from requests.models.consents import ConsentEvent

FILTERS = [
    OpenApiParameter("subject", str, description="The subject's identifier (pseudonymised)"),
    OpenApiParameter("subject_key", str, description="The subject's pseudonym (subject:...)"),
    OpenApiParameter("dataset", str, description="Dataset slug"),
    OpenApiParameter("purpose", str, description="Purpose code"),
]


class ConsentAccess(permissions.BasePermission):
    """Recording needs `workflows.add_consentevent` (a collecting system's account); reading
    needs `workflows.view_consentevent` (privacy officers, auditors)."""

    message = "Only consent-collecting clients record consent; officers and auditors read it."

    def has_permission(self, request, view):
        needed = "add" if request.method == "POST" else "view"
        return request.user.has_perm(f"workflows.{needed}_consentevent")


class ConsentBatchSerializer(serializers.Serializer):
    # Items are checked one by one (requests.consents.batch), so every bad item is named.
    events = serializers.ListField(
        child=serializers.JSONField(allow_null=True), max_length=MAX_EVENTS, allow_empty=False
    )


class ConsentEventSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_slug")
    regime = serializers.CharField(source="jurisdiction_code")

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "subject_key",
            "purpose",
            "dataset",
            "notice_code",
            "notice_version",
            "regime",
            "state",
            "at",
            "channel",
            "client_name",
            "key",
            "recorded_at",
        ]
        read_only_fields = fields


def _filters(request) -> dict[str, str]:
    params = request.query_params
    subject = params.get("subject", "").strip()
    return {
        "subject_key": pseudonym(subject) if subject else params.get("subject_key", ""),
        "dataset": params.get("dataset", ""),
        "purpose": params.get("purpose", ""),
    }


class ConsentEventsView(generics.ListAPIView):
    """Consent events: GET lists them (officers); POST records a batch (collecting systems)."""

    serializer_class = ConsentEventSerializer
    permission_classes = [permissions.IsAuthenticated, ConsentAccess]
    queryset = ConsentEvent.objects.none()  # for the schema; get_queryset filters
    ordering_fields = ["id", "at"]

    def get_queryset(self):
        return selectors.consent_events(**_filters(self.request))

    @extend_schema(parameters=FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"application/json": ConsentBatchSerializer},
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        description=f'Send {{"events": [event, ...]}} (at most {MAX_EVENTS}); each event as '
        f"{ConsentItemSerializer.__name__}. All or nothing: one bad item and nothing is recorded, "
        "the 400 naming each bad item's index and field. A replay records nothing and says so "
        "(200, `replayed`: true).",
    )
    def post(self, request, *args, **kwargs):
        body = ConsentBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items, faults = parse_batch(body.validated_data["events"])
        if faults:
            return Response(
                {
                    "detail": f"Nothing was recorded: {len(faults)} problem(s) in the batch",
                    "errors": [fault.as_json() for fault in faults],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        outcome = services.consent_batch_record(actor=request.user, items=items)
        answer = {
            "created": outcome.created,
            "unchanged": outcome.unchanged,
            "replayed": outcome.created == 0,
            "model_decisions_opened": outcome.decisions_opened,
            "results": outcome.results,
        }
        return Response(answer, status=status.HTTP_201_CREATED if outcome.created else 200)


class ConsentCurrentView(APIView):
    """The current state of consent per subject, purpose and dataset (give a subject or a
    dataset)."""

    permission_classes = [permissions.IsAuthenticated, ConsentAccess]

    @extend_schema(parameters=FILTERS, responses=OpenApiTypes.OBJECT)
    def get(self, request):
        filters = _filters(request)
        if not (filters["subject_key"] or filters["dataset"]):
            raise serializers.ValidationError(
                {"subject": "Give a subject (or subject_key) or a dataset"}
            )
        current = selectors.consent_current(**filters)
        return Response({"results": [{**vars(c), "given": c.given} for c in current]})
