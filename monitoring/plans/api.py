"""`POST /api/v1/plans/check`: a Terraform/OpenTofu plan (`terraform show -json`) judged before
it is applied."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import CanUseGovernance
from governance.checks.api import DecisionSerializer, result_json
from governance.models import Outcome, Purpose
from monitoring.plans.document import (
    PLAN_MODULE,
    PLAN_MODULE_SCHEMA,
    PLAN_SCHEMA,
    PlanError,
    parse_plan,
)
from monitoring.plans.services import PlanCheck, PlannedStore, plan_check


class PlanField(serializers.JSONField):
    """A JSON object: its fields are read and checked by monitoring.plans.document."""


class PlanFieldSchema(OpenApiSerializerFieldExtension):
    """The plan as parse_plan reads it (document.PLAN_SCHEMA), so that the schema refuses what
    the API refuses; its modules nest, as one component that refers to itself."""

    target_class = PlanField

    def map_serializer_field(self, auto_schema, direction):
        auto_schema.registry.register_on_missing(
            ResolvedComponent(
                name=PLAN_MODULE,
                type=ResolvedComponent.SCHEMA,
                object=PLAN_MODULE,
                schema=PLAN_MODULE_SCHEMA,
            )
        )
        return dict(PLAN_SCHEMA)


class PlanCheckSerializer(serializers.Serializer):
    plan = PlanField(
        help_text="The plan as `terraform show -json <planfile>` (or `tofu show -json`) prints it"
    )
    purpose = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Purpose.objects.all(),
        help_text="Why the data is kept there (a registered purpose code); a resource's "
        "`locus:purpose` tag or label overrides it",
    )
    at = serializers.DateTimeField(required=False, help_text="When it is applied (default: now)")
    scopes = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        max_length=20,
        help_text="What you declare about the recipient there (e.g. dpf-certified)",
    )

    def validate(self, attrs):
        try:
            attrs["plan"] = parse_plan(attrs["plan"])
        except PlanError as exc:
            path, messages = next(iter(exc.errors.items()))
            # Named from the request body's root: {"plan.resource_changes[2].type": [...]}.
            raise ValidationError({path if path == "plan" else f"plan.{path}": messages}) from None
        return attrs


class PlaceSerializer(serializers.Serializer):
    given = serializers.CharField(help_text="As the plan writes it, e.g. EUROPE-WEST4")
    given_by = serializers.CharField(help_text="The field or provider setting it came from")
    regions = serializers.ListField(
        child=serializers.CharField(), help_text="The Locus region codes; empty if unknown"
    )


class PlannedStoreSerializer(serializers.Serializer):
    address = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.CharField(help_text="object storage, database, warehouse, ML ...")
    provider_name = serializers.CharField()
    actions = serializers.ListField(child=serializers.CharField())
    action = serializers.CharField(help_text="The action judged: store or process")
    reference = serializers.CharField(help_text="Its catalog URI (a gap is listed under it)")
    places = PlaceSerializer(many=True)
    datasets = serializers.ListField(child=serializers.CharField())
    matched_by = serializers.ChoiceField(choices=["tag", "uri", "name", ""])
    purpose = serializers.CharField()
    status = serializers.ChoiceField(choices=["judged", "catalog_gap", "unresolved", "not_judged"])
    outcome = serializers.CharField(help_text="allow, allow_with_grant, deny, or '' if not judged")
    reason = serializers.CharField()
    decisions = DecisionSerializer(many=True)


class PlanCheckAnswerSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Outcome.choices)
    policy_version = serializers.CharField()
    format_version = serializers.CharField()
    terraform_version = serializers.CharField()
    resources = PlannedStoreSerializer(many=True)
    other_resources = serializers.IntegerField(help_text="Planned resources that hold no data")
    catalog_gaps = serializers.ListField(child=serializers.CharField())


def store_json(store: PlannedStore) -> dict:
    change = store.change
    return {
        "address": change.address,
        "type": change.type,
        "kind": store.store.kind,
        "provider_name": change.provider_name,
        "actions": list(change.actions),
        "action": str(store.store.action),
        "reference": store.reference,
        "places": [
            {"given": p.given, "given_by": p.source, "regions": list(p.codes)} for p in store.places
        ],
        "datasets": store.datasets,
        "matched_by": store.matched_by,
        "purpose": store.purpose,
        "status": store.status,
        "outcome": store.outcome,
        "reason": store.reason,
        "decisions": [result_json(r) for r in store.results if r.decision is not None],
    }


def plan_json(checked: PlanCheck) -> dict:
    return {
        "verdict": checked.verdict,
        "policy_version": checked.policy_version,
        "format_version": checked.plan.format_version,
        "terraform_version": checked.plan.terraform_version,
        "resources": [store_json(s) for s in checked.stores],
        "other_resources": checked.other_resources,
        "catalog_gaps": checked.catalog_gaps,
    }


EXAMPLE_PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.9.8",
    "resource_changes": [
        {
            "address": "aws_s3_bucket.exports",
            "mode": "managed",
            "type": "aws_s3_bucket",
            "name": "exports",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": {"bucket": "acme-exports", "tags": {"locus:dataset": "customer-events"}},
                "after_unknown": {"arn": True, "id": True},
            },
        }
    ],
    "configuration": {
        "provider_config": {
            "aws": {
                "name": "aws",
                "full_name": "registry.terraform.io/hashicorp/aws",
                "expressions": {"region": {"constant_value": "eu-central-1"}},
            }
        },
        "root_module": {
            "resources": [
                {
                    "address": "aws_s3_bucket.exports",
                    "mode": "managed",
                    "type": "aws_s3_bucket",
                    "name": "exports",
                    "provider_config_key": "aws",
                }
            ]
        },
    },
}


class PlanCheckView(APIView):
    """Judge a Terraform/OpenTofu plan's data stores before it is applied."""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(
        request=PlanCheckSerializer,
        examples=[
            OpenApiExample(
                "A bucket in Frankfurt",
                value={"plan": EXAMPLE_PLAN, "purpose": "analytics"},
                request_only=True,
            )
        ],
        responses={200: PlanCheckAnswerSerializer, 400: OpenApiTypes.OBJECT},
        description="Every planned create or update of a resource that holds or processes data "
        "is mapped to the catalog datasets it holds (its `locus:dataset` tag, its URI, or its "
        "name) and the Locus regions it puts them in, and each pair is judged and recorded as "
        "a locality decision (context `plan`). `verdict` is `deny` if any is denied or cannot "
        "be judged; a store holding no known dataset is listed in `catalog_gaps`. A field that "
        'breaks the plan format answers 400 naming it: {"plan.resource_changes[0].change.actions": [...]}.',
    )
    def post(self, request):
        serializer = PlanCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checked = plan_check(
            actor=request.user,
            plan=data["plan"],
            purpose=data["purpose"].code,
            at=data.get("at"),
            scopes=frozenset(data.get("scopes", ())),
        )
        return Response(plan_json(checked))
