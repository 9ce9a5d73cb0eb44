"""The locality check API (one check or a batch), training runs and the decisions recorded."""

from __future__ import annotations

import threading
from typing import Any

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.filtering import StrictFilterSet
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, Region
from catalog.permissions import ActsWithPermission
from catalog.techniques import TechniquesField, declaration_json
from governance.api import CanUseGovernance
from governance.checks.selectors import run_footprint, training_runs
from governance.checks.services import (
    MAX_CHECKS_PER_REQUEST,
    Check,
    CheckResult,
    can_report_reads,
    locality_check,
    training_run_register,
    training_run_report_reads,
)
from governance.models import (
    Action,
    HouseOutcome,
    LegalOutcome,
    LocalityDecision,
    Purpose,
    TrainingRun,
)
from governance.policy.facts import HouseVerdict
from governance.policy.index import current_index
from governance.policy.law import NOT_PERSONAL, LegalVerdict


class CheckSerializer(serializers.Serializer):
    """One question: may this action on this dataset run in this region, for this purpose, then?"""

    dataset = serializers.CharField(max_length=500, help_text="Slug or URI")
    action = serializers.ChoiceField(choices=Action.choices)
    region = serializers.CharField(max_length=60)
    purpose = serializers.CharField(max_length=60)
    at = serializers.DateTimeField(required=False, help_text="When the work runs (default: now)")
    scopes = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        max_length=20,
        help_text="What you declare about the recipient there, answering the scope question of "
        "an adequacy decision limited to some recipients (e.g. dpf-certified, pipeda-commercial)",
    )
    techniques = TechniquesField(
        help_text="The privacy techniques the work uses (federated, secure_aggregation, "
        "differential_privacy with epsilon and delta, synthetic, anonymisation, "
        "pseudonymisation): officers' rules may exempt them; the law's verdict never changes"
    )

    @staticmethod
    def check_of(data: dict) -> Check:
        return Check(
            data["dataset"],
            data["action"],
            data["region"],
            data["purpose"],
            data.get("at"),
            frozenset(data.get("scopes", ())),
            tuple(data.get("techniques", ())),
        )


class BatchCheckSerializer(serializers.Serializer):
    # Items are checked one by one (parse_checks), so one malformed item never rejects the rest.
    checks = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        max_length=MAX_CHECKS_PER_REQUEST,
        allow_empty=False,
    )


class LegalVerdictSerializer(serializers.Serializer):
    """What the law says, apart from the house rules."""

    outcome = serializers.ChoiceField(choices=LegalOutcome.choices)
    rule = serializers.CharField()
    reason = serializers.CharField()
    citation = serializers.CharField(help_text="The article or decision")
    regime = serializers.CharField(help_text="The jurisdiction whose law decided ('' if none)")
    mechanisms = serializers.ListField(
        child=serializers.CharField(), help_text="Mechanisms any of which would make it lawful"
    )
    verified = serializers.BooleanField(
        allow_null=True, help_text="Whether the deciding fact was checked against the law's text"
    )
    basis = serializers.CharField(help_text="The lawful basis weighed (consent), or ''")


class HouseVerdictSerializer(serializers.Serializer):
    """What the organisation's own rules say (officers' rules, the dataset's declared regions)."""

    outcome = serializers.ChoiceField(choices=HouseOutcome.choices)
    rule = serializers.CharField()
    reason = serializers.CharField()


class ReceiptSerializer(serializers.Serializer):
    """The decision log's signed promise to include the entry that records the decision."""

    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 || entry bytes), hex")
    at = serializers.CharField(help_text="When the log accepted it (ISO 8601, as signed)")
    merge_delay = serializers.IntegerField(help_text="Seconds within which it is in the tree")
    algorithm = serializers.CharField()
    key_id = serializers.CharField()
    public_key = serializers.CharField()
    signature = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    decision_id = serializers.IntegerField(allow_null=True)
    receipt = ReceiptSerializer(
        allow_null=True,
        help_text="Prove it later: GET /api/v1/ledger/proof/inclusion?leaf_hash=",
    )
    outcome = serializers.CharField(help_text="The stricter of the legal and the house verdict")
    rule = serializers.CharField()
    reason = serializers.CharField()
    legal = LegalVerdictSerializer()
    house = HouseVerdictSerializer()
    scopes = serializers.ListField(child=serializers.CharField())
    techniques = TechniquesField(help_text="The declaration the work was judged with")
    grant = serializers.IntegerField(allow_null=True)
    policy_version = serializers.CharField()
    dataset = serializers.CharField()
    action = serializers.CharField()
    region = serializers.CharField()
    purpose = serializers.CharField()
    at = serializers.DateTimeField()


def result_json(result: CheckResult, position: int | None = None) -> dict:
    """A check's answer as the API gives it; errors per item in a batch."""
    body: dict = {} if position is None else {"index": position}
    if result.errors:
        return {**body, "errors": result.errors}
    check, decision = result.check, result.decision
    assert decision is not None  # a result without errors carries its decision
    return {
        **body,
        "decision_id": result.record.pk if result.record else None,
        "receipt": result.receipt,
        "outcome": decision.outcome,
        "rule": decision.rule,
        "reason": decision.reason,
        "legal": legal_json(decision.legal),
        "house": house_json(decision.house),
        "scopes": sorted(check.scopes),
        "techniques": declaration_json(check.techniques),
        "grant": decision.grant_id,
        "policy_version": decision.policy_version,
        "dataset": check.dataset,
        "action": check.action,
        "region": check.region,
        "purpose": check.purpose,
        "at": check.at,
    }


def legal_json(legal: LegalVerdict | None) -> dict[str, Any]:
    verdict = legal or NOT_PERSONAL
    return {
        "outcome": verdict.outcome,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "citation": verdict.citation,
        "regime": verdict.regime,
        "mechanisms": sorted(verdict.mechanisms),
        "verified": verdict.verified,
        "basis": verdict.basis,
    }


def house_json(house: HouseVerdict | None) -> dict[str, str]:
    if house is None:
        return {"outcome": "", "rule": "", "reason": ""}
    return {"outcome": house.outcome, "rule": house.rule, "reason": house.reason}


_validators = threading.local()


def check_validator() -> CheckSerializer:
    """This thread's CheckSerializer, made once and reused: making one deep-copies its fields
    (about a tenth of a warm single check's CPU), and `run_validation` keeps no state on the
    serializer or its fields. One per thread, as the web process's threads serve at once."""
    validator = getattr(_validators, "check", None)
    if validator is None:
        validator = _validators.check = CheckSerializer()
    return validator


def parse_checks(items: list) -> tuple[list[Check | None], dict[int, dict]]:
    """Validate each item on its own, so one malformed item never rejects the others."""
    checks: list[Check | None] = []
    errors: dict[int, dict] = {}
    validator = check_validator()
    for position, item in enumerate(items):
        try:
            if item is None:  # as a serializer given `data=None` says it
                raise serializers.ValidationError("No data provided")
            data = validator.run_validation(item)
        except serializers.ValidationError as exc:
            checks.append(None)
            errors[position] = serializers.as_serializer_error(exc)
            continue
        checks.append(CheckSerializer.check_of(data))
    return checks, errors


class LocalityCheckView(APIView):
    """Ask the policy engine; one check, or a batch of up to 1,000 as {"checks": [...]}."""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(
        request={"application/json": CheckSerializer},
        responses={200: DecisionSerializer, 400: OpenApiTypes.OBJECT},
        description='Send one check object, or {"checks": [check, ...]} (at most 1,000). '
        "Batch answers come back in order with an index; a bad item has `errors`, the others are answered.",
    )
    def post(self, request):
        if isinstance(request.data, dict) and "checks" in request.data:
            return self._batch(request)
        (check,), errors = parse_checks([request.data])
        if check is None:
            raise ValidationError(errors[0])
        (result,) = locality_check(actor=request.user, checks=[check])
        if result.errors:
            raise ValidationError(result.errors)
        return Response(result_json(result))

    def _batch(self, request):
        batch = BatchCheckSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        checks, errors = parse_checks(batch.validated_data["checks"])
        valid = [c for c in checks if c is not None]
        answered = iter(locality_check(actor=request.user, checks=valid))
        results = []
        for position, check in enumerate(checks):
            results.append(
                {"index": position, "errors": errors[position]}
                if check is None
                else result_json(next(answered), position)
            )
        denied = sum(1 for r in results if r.get("outcome") == "deny")
        failed = sum(1 for r in results if "errors" in r)
        # Nothing answered is a 400 (with every item's errors), so a client that reads only the
        # status still knows; a batch with some answers is a 200 that counts its errors.
        return Response(
            {
                "policy_version": current_index().version,
                "count": len(results),
                "denied": denied,
                "errors": failed,
                "results": results,
            },
            status=status.HTTP_400_BAD_REQUEST if failed == len(results) else status.HTTP_200_OK,
        )


@extend_schema_field({"type": "string", "minLength": 1})
class DatasetRefField(serializers.RelatedField):
    """A dataset by its slug or its URI, as a locality check names it (the slug first)."""

    default_error_messages = {"unknown": "No dataset has the slug or URI {value!r}."}

    def __init__(self, **kwargs):
        super().__init__(queryset=Dataset.objects.all(), **kwargs)

    def to_internal_value(self, data):
        value = str(data).strip()
        found = self.get_queryset().filter(slug=value).first() or (
            self.get_queryset().filter(uri=value).order_by("pk").first() if value else None
        )
        if found is None:
            self.fail("unknown", value=value[:200])
        return found

    def to_representation(self, value):
        return value.slug


class TrainingInputSerializer(serializers.Serializer):
    dataset = DatasetRefField(help_text="Slug or URI, as a check takes it")
    version = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class TrainingRunSerializer(serializers.ModelSerializer):
    compute_regions = serializers.SlugRelatedField(
        slug_field="code",
        many=True,
        queryset=Region.objects.all(),
        allow_empty=False,
        error_messages={"empty": "Name at least one compute region"},
    )
    purpose = serializers.SlugRelatedField(slug_field="code", queryset=Purpose.objects.all())
    datasets = TrainingInputSerializer(
        many=True,
        write_only=True,
        allow_empty=False,
        error_messages={"empty": "Name at least one dataset"},
    )
    inputs = serializers.SerializerMethodField()
    scopes = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        max_length=20,
        help_text="What the run declares about the recipients where it computes (e.g. "
        "appi-private-sector): the answer to a partial adequacy decision's scope question",
    )
    techniques = TechniquesField(
        help_text="How the run trains (federated, secure_aggregation, differential_privacy with "
        "epsilon and delta...); a federated run declares federated learning"
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "name",
            "external_id",
            "mode",
            "purpose",
            "justification",
            "model_name",
            "scopes",
            "techniques",
            "compute_regions",
            "datasets",
            "inputs",
            "verdict",
            "created_by_name",
            "created_at",
        ]
        read_only_fields = ["id", "verdict", "created_by_name", "created_at"]

    def get_inputs(self, run) -> list[dict]:
        return [{"dataset": i.dataset.slug, "version": i.dataset_version} for i in run.inputs.all()]

    def validate_datasets(self, value):
        if not value:
            raise ValidationError("Name at least one dataset")
        slugs = [item["dataset"].slug for item in value]
        if len(set(slugs)) != len(slugs):
            raise ValidationError("A dataset is listed twice")
        return value


class ReadSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=500)
    region = serializers.CharField(max_length=60)
    action = serializers.ChoiceField(choices=Action.choices, default=Action.TRAIN)
    at = serializers.DateTimeField(required=False)


class ReadsSerializer(serializers.Serializer):
    # many=True makes a ListSerializer, which takes max_length (the stubs know only Serializer's).
    reads = ReadSerializer(
        many=True,
        allow_empty=False,
        max_length=MAX_CHECKS_PER_REQUEST,  # type: ignore[call-arg]
    )


class TrainingRunViewSet(
    IdempotentCreateMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Training runs: registered with their inputs and compute regions, judged pair by pair."""

    serializer_class = TrainingRunSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = {"create": "governance.add_trainingrun"}
    object_checks = {"reads": can_report_reads}
    queryset = training_runs()
    filterset_fields = ["verdict", "purpose", "mode"]
    ordering_fields = ["id", "created_at", "verdict"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        inputs = [(item["dataset"], item["version"]) for item in data.pop("datasets")]
        run, results = training_run_register(actor=request.user, inputs=inputs, **data)
        body = self.get_serializer(run).data
        body["decisions"] = [result_json(r) for r in results]
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReadsSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def reads(self, request, pk=None):
        """Report what the run actually read; each read is judged and recorded."""
        run = self.get_object()
        body = ReadsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reads = [
            Check(r["dataset"], r["action"], r["region"], run.purpose_id, r.get("at"))
            for r in body.validated_data["reads"]
        ]
        results = training_run_report_reads(actor=request.user, run=run, reads=reads)
        return Response({"results": [result_json(r, i) for i, r in enumerate(results)]})

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def regions(self, request, pk=None):
        """Which regions the run touched, and under which decisions."""
        run = self.get_object()
        return Response({"run": run.pk, "regions": run_footprint(run)})


class LocalityDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocalityDecision
        fields = [
            "id",
            "at",
            "decided_at",
            "dataset_slug",
            "action",
            "region_code",
            "country",
            "purpose",
            "actor_name",
            "outcome",
            "rule",
            "reason",
            "legal_outcome",
            "legal_rule",
            "legal_reason",
            "legal_citation",
            "legal_regime",
            "house_outcome",
            "house_rule",
            "house_reason",
            "scopes",
            "techniques",
            "grant",
            "policy_version",
            "context",
            "training_run",
        ]


class LocalityDecisionFilter(StrictFilterSet):
    dataset = django_filters.CharFilter(field_name="dataset_slug", label="A dataset's slug")
    region = django_filters.CharFilter(field_name="region_code", label="A region's code")
    deprecated_aliases = {"dataset_slug": "dataset", "region_code": "region"}

    class Meta:
        model = LocalityDecision
        fields = [
            "outcome",
            "legal_outcome",
            "house_outcome",
            "dataset",
            "region",
            "context",
            "training_run",
            "action",
        ]


class LocalityDecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Every answer the engine gave, as given."""

    serializer_class = LocalityDecisionSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]
    queryset = LocalityDecision.objects.all()
    ordering_fields = ["id", "at", "outcome", "dataset_slug", "region_code"]
    filterset_class = LocalityDecisionFilter
