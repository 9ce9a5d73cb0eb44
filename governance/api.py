"""The governance API: locality checks, rules, grants, training runs, decisions, what-if."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import CanViewCatalog
from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Region
from catalog.permissions import ActsWithPermission
from governance import selectors, services
from governance.models import (
    Action,
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Purpose,
    TrainingRun,
    TransferGrant,
    TransferMechanism,
)
from governance.policy.facts import RuleFacts
from governance.policy.index import current_index, load_rules, rule_facts


class CheckSerializer(serializers.Serializer):
    """One question: may this action on this dataset run in this region, for this purpose, then?"""

    dataset = serializers.CharField(max_length=500, help_text="Slug or URI")
    action = serializers.ChoiceField(choices=Action.choices)
    region = serializers.CharField(max_length=60)
    purpose = serializers.CharField(max_length=60)
    at = serializers.DateTimeField(required=False, help_text="When the work runs (default: now)")

    def to_check(self) -> services.Check:
        return self.check_of(self.validated_data)

    @staticmethod
    def check_of(data: dict) -> services.Check:
        return services.Check(
            data["dataset"], data["action"], data["region"], data["purpose"], data.get("at")
        )


class BatchCheckSerializer(serializers.Serializer):
    # Items are checked one by one (parse_checks), so one malformed item never rejects the rest.
    checks = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        max_length=services.MAX_CHECKS_PER_REQUEST,
        allow_empty=False,
    )


class DecisionSerializer(serializers.Serializer):
    decision_id = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    rule = serializers.CharField()
    reason = serializers.CharField()
    grant = serializers.IntegerField(allow_null=True)
    policy_version = serializers.CharField()
    dataset = serializers.CharField()
    action = serializers.CharField()
    region = serializers.CharField()
    purpose = serializers.CharField()
    at = serializers.DateTimeField()


def result_json(result: services.CheckResult, position: int | None = None) -> dict:
    """A check's answer as the API gives it; errors per item in a batch."""
    body: dict = {} if position is None else {"index": position}
    if result.errors:
        return {**body, "errors": result.errors}
    check, decision = result.check, result.decision
    return {
        **body,
        "decision_id": result.record.pk if result.record else None,
        "outcome": decision.outcome,
        "rule": decision.rule,
        "reason": decision.reason,
        "grant": decision.grant_id,
        "policy_version": decision.policy_version,
        "dataset": check.dataset,
        "action": check.action,
        "region": check.region,
        "purpose": check.purpose,
        "at": check.at,
    }


class CanUseGovernance(permissions.BasePermission):
    message = "Your account has no Locus role."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_localitydecision"))


def parse_checks(items: list) -> tuple[list[services.Check | None], dict[int, dict]]:
    """Validate each item on its own, so one malformed item never rejects the others."""
    checks: list[services.Check | None] = []
    errors: dict[int, dict] = {}
    validator = CheckSerializer()  # one for the batch: a serializer per item copies its fields
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
        serializer = CheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        (result,) = services.locality_check(actor=request.user, checks=[serializer.to_check()])
        if result.errors:
            raise ValidationError(result.errors)
        return Response(result_json(result))

    def _batch(self, request):
        batch = BatchCheckSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        checks, errors = parse_checks(batch.validated_data["checks"])
        valid = [c for c in checks if c is not None]
        answered = iter(services.locality_check(actor=request.user, checks=valid))
        results = []
        for position, check in enumerate(checks):
            results.append(
                {"index": position, "errors": errors[position]}
                if check is None
                else result_json(next(answered), position)
            )
        denied = sum(1 for r in results if r.get("outcome") == "deny")
        return Response(
            {
                "policy_version": current_index().version,
                "count": len(results),
                "denied": denied,
                "errors": sum(1 for r in results if "errors" in r),
                "results": results,
            }
        )


# --- Purposes, rules ------------------------------------------------------------------------


class PurposeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Purpose
        fields = ["code", "name", "description"]


class PurposeViewSet(viewsets.ReadOnlyModelViewSet):
    """The registered purposes of processing."""

    queryset = Purpose.objects.all()
    serializer_class = PurposeSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewCatalog]
    pagination_class = None


class LocalityRuleSerializer(serializers.ModelSerializer):
    jurisdiction = serializers.SlugRelatedField(
        slug_field="code", queryset=Jurisdiction.objects.all(), required=False, allow_null=True
    )
    category = serializers.SlugRelatedField(
        slug_field="code",
        queryset=PersonalDataCategory.objects.all(),
        required=False,
        allow_null=True,
    )
    dataset = serializers.SlugRelatedField(
        slug_field="slug", queryset=Dataset.objects.all(), required=False, allow_null=True
    )
    regions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Region.objects.all(), required=False
    )
    countries = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Country.objects.all(), required=False
    )
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=Action.choices), required=False
    )

    class Meta:
        model = LocalityRule
        fields = [
            "id",
            "name",
            "description",
            "jurisdiction",
            "sensitivity",
            "category",
            "dataset",
            "actions",
            "effect",
            "regions",
            "countries",
            "priority",
            "enabled",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def _split(self) -> tuple[dict, list | None, list | None]:
        data = dict(self.validated_data)
        return data, data.pop("regions", None), data.pop("countries", None)

    def create(self, validated_data):
        data, regions, countries = self._split()
        return services.rule_create(
            actor=self.context["request"].user,
            regions=regions or [],
            countries=countries or [],
            **data,
        )

    def update(self, instance, validated_data):
        data, regions, countries = self._split()
        return services.rule_update(
            actor=self.context["request"].user,
            rule=instance,
            regions=regions,
            countries=countries,
            **data,
        )


class LocalityRuleVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocalityRuleVersion
        fields = ["version", "action", "snapshot", "actor_name", "at"]


class LocalityRuleViewSet(viewsets.ModelViewSet):
    """Privacy officers' locality rules; every change is a new version."""

    serializer_class = LocalityRuleSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = dict.fromkeys(
        ("create", "update", "destroy"), "governance.change_localityrule"
    )
    queryset = LocalityRule.objects.select_related(
        "jurisdiction", "category", "dataset"
    ).prefetch_related("regions", "countries")
    filterset_fields = ["effect", "enabled", "jurisdiction", "sensitivity"]

    def perform_destroy(self, instance):
        services.rule_delete(actor=self.request.user, rule=instance)

    @extend_schema(responses=LocalityRuleVersionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request, pk=None):
        """Every version of the rule."""
        rule = self.get_object()
        versions = LocalityRuleVersion.objects.filter(rule_ref=rule.pk).order_by("-version")
        return Response(LocalityRuleVersionSerializer(versions, many=True).data)


class ReplaySerializer(serializers.Serializer):
    """A proposed change to one rule, replayed against recorded decisions before it is saved.

    For an update, `rule` names only the fields that change; the rest come from the saved rule.
    """

    operation = serializers.ChoiceField(choices=["create", "update", "delete"])
    rule_id = serializers.IntegerField(required=False)
    rule = serializers.JSONField(
        required=False, help_text="The proposed rule (as for locality-rules)"
    )
    days = serializers.IntegerField(min_value=1, max_value=selectors.MAX_REPLAY_DAYS, default=30)

    def validate(self, attrs):
        base = None
        if attrs["operation"] in ("update", "delete"):
            if "rule_id" not in attrs:
                raise ValidationError({"rule_id": "Name the rule to change"})
            base = LocalityRule.objects.filter(pk=attrs["rule_id"]).first()
            if base is None:
                raise ValidationError({"rule_id": f"No rule #{attrs['rule_id']}"})
        attrs["base"] = base
        if attrs["operation"] == "delete":
            return attrs
        if not isinstance(attrs.get("rule"), dict):
            raise ValidationError({"rule": "Give the proposed rule as an object"})
        proposal = LocalityRuleSerializer(
            instance=base, data=attrs["rule"], partial=base is not None
        )
        if not proposal.is_valid():
            raise ValidationError({"rule": proposal.errors})
        attrs["proposal"] = proposal.validated_data
        return attrs

    def proposed_rules(self) -> list[RuleFacts]:
        """The saved rules with this proposal applied."""
        data = self.validated_data
        base = data["base"]
        rules = [r for r in load_rules() if base is None or r.id != base.pk]
        if data["operation"] == "delete":
            return rules
        fields = dict(data["proposal"])
        rule = base if base is not None else LocalityRule()
        regions = _codes(fields.pop("regions", None), base, "regions")
        countries = _codes(fields.pop("countries", None), base, "countries")
        for name, value in fields.items():
            setattr(rule, name, value)
        if rule.enabled:
            rules.append(rule_facts(rule, regions, countries))
        return rules


def _codes(proposed: list | None, base: LocalityRule | None, relation: str) -> list[str]:
    """The proposed places' codes, or the saved rule's when the proposal leaves them out."""
    if proposed is not None:
        return [place.code for place in proposed]
    return list(getattr(base, relation).values_list("code", flat=True)) if base else []


class ReplayView(APIView):
    """Which recorded decisions would flip under a proposed rule change?"""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(request=ReplaySerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = ReplaySerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response(
            selectors.replay(serializer.proposed_rules(), days=serializer.validated_data["days"])
        )


class AdequacyWhatIfView(APIView):
    """If an adequacy decision fell on a date, which datasets, runs and grants would be affected?"""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(
        parameters=[
            OpenApiParameter("country", str, required=True, description="ISO 3166-1 alpha-2"),
            OpenApiParameter(
                "decided_by", str, description="Jurisdiction that decided (default eu)"
            ),
            OpenApiParameter("falls_on", OpenApiTypes.DATE, description="Default: tomorrow"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        params = WhatIfParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(selectors.adequacy_what_if(**params.validated_data))


class WhatIfParams(serializers.Serializer):
    country = serializers.SlugRelatedField(slug_field="code", queryset=Country.objects.all())
    decided_by = serializers.SlugRelatedField(
        slug_field="code", queryset=Jurisdiction.objects.all(), default=None
    )
    falls_on = serializers.DateField(required=False)

    def validate(self, attrs):
        return {
            "country": attrs["country"].code,
            "decided_by": attrs["decided_by"].code if attrs.get("decided_by") else "eu",
            "falls_on": attrs.get("falls_on") or timezone.now().date() + dt.timedelta(days=1),
        }


# --- Grants ---------------------------------------------------------------------------------


class TransferGrantSerializer(serializers.ModelSerializer):
    datasets = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Dataset.objects.all()
    )
    destination_regions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Region.objects.all()
    )
    purpose = serializers.SlugRelatedField(
        slug_field="code", queryset=Purpose.objects.all(), required=False, allow_null=True
    )
    mechanism = serializers.ChoiceField(choices=TransferMechanism.choices)
    active = serializers.SerializerMethodField()

    class Meta:
        model = TransferGrant
        fields = [
            "id",
            "datasets",
            "destination_regions",
            "purpose",
            "mechanism",
            "mechanism_detail",
            "valid_from",
            "valid_until",
            "approved_by_name",
            "reference",
            "created_at",
            "revoked_at",
            "revoke_reason",
            "active",
        ]
        read_only_fields = ["id", "approved_by_name", "created_at", "revoked_at", "revoke_reason"]

    def get_active(self, grant) -> bool:
        now = timezone.now()
        return grant.revoked_at is None and grant.valid_from <= now < grant.valid_until

    def create(self, validated_data):
        return services.grant_create(actor=self.context["request"].user, **validated_data)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TransferGrantViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Transfer grants: what the engine honours, from when to when. Revocation is immediate."""

    serializer_class = TransferGrantSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = {
        "create": "governance.add_transfergrant",
        "revoke": "governance.change_transfergrant",
    }
    queryset = (
        TransferGrant.objects.select_related("purpose")
        .prefetch_related("datasets", "destination_regions")
        .order_by("-id")
    )
    filterset_fields = ["mechanism", "purpose"]

    @extend_schema(request=RevokeSerializer, responses=TransferGrantSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """End the grant now, with a reason."""
        grant = self.get_object()
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant = services.grant_revoke(
            actor=request.user, grant=grant, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(grant).data)


# --- Training runs and decisions -------------------------------------------------------------


class TrainingInputSerializer(serializers.Serializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())
    version = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class TrainingRunSerializer(serializers.ModelSerializer):
    compute_regions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Region.objects.all()
    )
    purpose = serializers.SlugRelatedField(slug_field="code", queryset=Purpose.objects.all())
    datasets = TrainingInputSerializer(many=True, write_only=True)
    inputs = serializers.SerializerMethodField()

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
    reads = ReadSerializer(many=True, allow_empty=False, max_length=services.MAX_CHECKS_PER_REQUEST)


class TrainingRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training runs: registered with their inputs and compute regions, judged pair by pair."""

    serializer_class = TrainingRunSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = {"create": "governance.add_trainingrun"}
    object_checks = {"reads": services.can_report_reads}
    queryset = TrainingRun.objects.select_related("purpose").prefetch_related(
        "compute_regions", "inputs__dataset"
    )
    filterset_fields = ["verdict", "purpose", "mode"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        inputs = [(item["dataset"], item["version"]) for item in data.pop("datasets")]
        run, results = services.training_run_register(actor=request.user, inputs=inputs, **data)
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
            services.Check(r["dataset"], r["action"], r["region"], run.purpose_id, r.get("at"))
            for r in body.validated_data["reads"]
        ]
        results = services.training_run_report_reads(actor=request.user, run=run, reads=reads)
        return Response({"results": [result_json(r, i) for i, r in enumerate(results)]})

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def regions(self, request, pk=None):
        """Which regions the run touched, and under which decisions."""
        run = self.get_object()
        return Response({"run": run.pk, "regions": selectors.run_footprint(run)})


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
            "grant",
            "policy_version",
            "context",
            "training_run",
        ]


class LocalityDecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Every answer the engine gave, as given."""

    serializer_class = LocalityDecisionSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]
    queryset = LocalityDecision.objects.all()
    filterset_fields = [
        "outcome",
        "dataset_slug",
        "region_code",
        "context",
        "training_run",
        "action",
    ]
