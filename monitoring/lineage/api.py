"""The OpenLineage API: `POST /api/v1/lineage`, where OpenLineage's HTTP transport sends
RunEvents by default, and the catalog gaps (`/api/v1/catalog-gaps/`): datasets that telemetry
and OpenLineage name and the catalog does not know.

RunEvents are authenticated like telemetry: `Authorization: Bearer <telemetry source token>`,
which is what the transport sends for `auth: {type: api_key, apiKey: <token>}`. Bodies may be
gzip-compressed (`compression: gzip` in the transport's config).
"""

from __future__ import annotations

import json
import zlib

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.throttling import LineageThrottle
from governance.checks.api import ReceiptSerializer
from monitoring import selectors
from monitoring.lineage.events import parse_run_event
from monitoring.lineage.ingest import lineage_event_ingest
from monitoring.models import TelemetrySource, UnregisteredAsset
from monitoring.permissions import CanViewMonitoring
from monitoring.telemetry.api import (
    IngestResultSerializer,
    IsTelemetrySource,
    PayloadTooLarge,
    RawBodyParser,
    SourceTokenAuthentication,
)


def _decompressed(body: bytes, encoding: str) -> bytes:
    """The body, gunzipped when the transport compressed it (never beyond the byte limit)."""
    if encoding.strip().lower() != "gzip":
        return body
    limit = settings.TELEMETRY_MAX_BYTES
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        text = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise exceptions.ValidationError({"$": f"Not valid gzip: {exc}"}) from None
    if len(text) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"At most {limit} bytes per event, uncompressed.")
    return text


class LineageLocationSerializer(serializers.Serializer):
    region = serializers.CharField(allow_null=True, help_text="Where the run executed, if known")
    rule = serializers.CharField(help_text="Which rule decided it (run_facet, namespace, ...)")
    detail = serializers.CharField()


class LineageDatasetSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="input or output")
    namespace = serializers.CharField()
    name = serializers.CharField()
    uri = serializers.CharField()
    dataset = serializers.CharField(allow_null=True, help_text="The catalog's slug, if matched")


class LineageReceiptSerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text="The entry's kind: lineage.run_located, telemetry.violations (the reads' "
        "violations) or lineage.edges_observed"
    )
    receipt = ReceiptSerializer(
        help_text="The decision log's signed receipt (prove it later: "
        "GET /api/v1/ledger/proof/inclusion?leaf_hash=)"
    )


class LineageAnswerSerializer(serializers.Serializer):
    runId = serializers.UUIDField()
    eventType = serializers.CharField()
    duplicate = serializers.BooleanField(help_text="Received before: nothing was changed")
    state = serializers.CharField(help_text="The run's state after this event")
    location = LineageLocationSerializer()
    datasets = LineageDatasetSerializer(many=True)
    reads = IngestResultSerializer(
        allow_null=True, help_text="Telemetry ingest's answer for the run's inputs, as reads"
    )
    lineage_edges_created = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="[upstream slug, downstream slug] pairs",
    )
    lineage_edges_skipped = serializers.ListField(child=serializers.DictField())
    catalog_gaps = serializers.ListField(child=serializers.CharField())
    judged = serializers.BooleanField()
    not_judged = serializers.ListField(child=serializers.CharField())
    receipts = LineageReceiptSerializer(
        many=True,
        help_text="One per decision-log entry the event wrote, in the order written; empty "
        "when it wrote none (a duplicate writes none)",
    )


class OpenLineageView(APIView):
    """Take one OpenLineage RunEvent."""

    authentication_classes = [SourceTokenAuthentication]
    permission_classes = [IsTelemetrySource]
    parser_classes = [RawBodyParser]
    throttle_classes = [LineageThrottle]  # per source, before the body is read

    @extend_schema(
        operation_id="openlineage_run_event",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            201: LineageAnswerSerializer,
            202: LineageAnswerSerializer,
            200: LineageAnswerSerializer,
            400: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
        },
        description=(
            "An OpenLineage RunEvent (spec 2-0-x; eventType START, RUNNING, COMPLETE, FAIL, "
            "ABORT or OTHER). 201 when it was applied and every read it brought was judged; "
            "202 when it was recorded but some reads could not be judged (`not_judged` says "
            "why: no known location, a time outside what ingest takes); 200 when it was "
            "received before (same runId and eventType; for RUNNING and OTHER also the same "
            "eventTime). A field that breaks the spec gives 400 with its JSON path, e.g. "
            '{"run.runId": ["Not a UUID"]}; a runId already used by another job gives 409. '
            "Unknown fields and facets are kept. The run facet `locus_location` "
            '({"region": "aws:eu-west-1", "purpose": "training"}) says where the run executed. '
            "Lineage edges are recorded once the run is COMPLETE (not for FAIL or ABORT). At "
            "most 1,000 inputs and 1,000 outputs per event. The answer carries the `receipts` "
            "of the decision-log entries the event wrote (where the run executed, its reads' "
            "violations, the lineage edges observed)."
        ),
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.TELEMETRY_MAX_BYTES:
            raise PayloadTooLarge(f"At most {settings.TELEMETRY_MAX_BYTES} bytes per request.")
        body = _decompressed(request.data or b"", request.headers.get("Content-Encoding", ""))
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise exceptions.ValidationError({"$": f"Not valid JSON: {exc}"}) from None
        event = parse_run_event(data)
        result = lineage_event_ingest(source=request.auth, event=event)
        if result.duplicate:
            code = status.HTTP_200_OK
        elif result.judged:
            code = status.HTTP_201_CREATED
        else:
            code = status.HTTP_202_ACCEPTED
        return Response(result.as_json(), status=code)


class CatalogGapSerializer(serializers.ModelSerializer):
    last_source: serializers.SlugRelatedField[TelemetrySource] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )

    class Meta:
        model = UnregisteredAsset
        fields = [
            "id",
            "dataset_ref",
            "first_seen_at",
            "last_seen_at",
            "events",
            "bytes",
            "last_source",
            "last_actor",
            "last_region",
        ]


class CatalogGapViewSet(viewsets.ReadOnlyModelViewSet):
    """Datasets telemetry names that the catalog does not know."""

    serializer_class = CatalogGapSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewMonitoring]
    ordering_fields = ["id", "first_seen_at", "last_seen_at", "events"]

    def get_queryset(self):
        return selectors.gaps_visible_to(self.request.user)
