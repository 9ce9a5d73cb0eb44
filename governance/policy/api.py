"""The API of the policy's inputs: purposes, locality rules (with their versions), and
what-ifs: a proposed rule replayed against recorded decisions, an adequacy decision falling.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import CanViewCatalog
from catalog.conditional import ConditionalMixin
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Country, Dataset, Jurisdiction, PersonalDataCategory, Region
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from catalog.techniques import Technique
from governance.api import CanUseGovernance
from governance.models import (
    Action,
    LocalityRule,
    LocalityRuleVersion,
    Purpose,
    Term,
)
from governance.policy.facts import RuleFacts
from governance.policy.index import load_rules, rule_facts
from governance.policy.rules import RULE_FIELDS, rule_create, rule_delete, rule_update
from governance.policy.selectors import MAX_REPLAY_DAYS, adequacy_what_if, locality_rules, replay


class PurposeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Purpose
        fields = ["code", "name", "description"]


class PurposeViewSet(viewsets.ReadOnlyModelViewSet):
    """The registered purposes of processing."""

    queryset = Purpose.objects.all()
    serializer_class = PurposeSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewCatalog]
    ordering_fields = ["code", "name"]


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
    term = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Term.objects.all(),
        required=False,
        allow_null=True,
        help_text="An approved glossary term's slug: matches datasets holding any category of "
        "its definition",
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
    unless_techniques = serializers.ListField(
        child=serializers.ChoiceField(choices=Technique.choices),
        required=False,
        max_length=len(Technique.values),
        help_text="Work declaring all of these privacy techniques is outside the rule (e.g. "
        "federated and secure_aggregation: 'only through federated updates with secure "
        "aggregation')",
    )

    class Meta:
        model = LocalityRule
        read_only_fields = ["id", "version", "created_at", "updated_at"]
        fields = ["id", *RULE_FIELDS, "version", "created_at", "updated_at"]

    def _split(self) -> tuple[dict, list | None, list | None]:
        data = dict(self.validated_data)
        return data, data.pop("regions", None), data.pop("countries", None)

    def create(self, validated_data):
        data, regions, countries = self._split()
        return rule_create(
            actor=self.context["request"].user,
            regions=regions or [],
            countries=countries or [],
            **data,
        )

    def update(self, instance, validated_data):
        data, regions, countries = self._split()
        return rule_update(
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


class LocalityRuleViewSet(ConditionalMixin, IdempotentCreateMixin, viewsets.ModelViewSet):
    """Privacy officers' locality rules; every change is a new version."""

    serializer_class = LocalityRuleSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = dict.fromkeys(
        ("create", "update", "destroy"), "governance.change_localityrule"
    )
    queryset = locality_rules()
    filterset_fields = ["effect", "enabled", "jurisdiction", "sensitivity"]
    ordering_fields = ["id", "name", "effect", "priority", "version"]

    def perform_destroy(self, instance):
        rule_delete(actor=self.request.user, rule=instance)

    @extend_schema(responses=LocalityRuleVersionSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["version", "at"],
    )
    def versions(self, request, pk=None):
        """Every version of the rule, newest first."""
        rule = self.get_object()
        versions = LocalityRuleVersion.objects.filter(rule_ref=rule.pk).order_by("-version")
        return paged(
            self, versions, lambda page: LocalityRuleVersionSerializer(page, many=True).data
        )


class ReplaySerializer(serializers.Serializer):
    """A proposed change to one rule, replayed against recorded decisions before it is saved.

    For an update, `rule` names only the fields that change; the rest come from the saved rule.
    """

    operation = serializers.ChoiceField(choices=["create", "update", "delete"])
    rule_id = serializers.IntegerField(required=False)
    rule = serializers.DictField(
        required=False, help_text="The proposed rule (as for locality-rules)"
    )
    days = serializers.IntegerField(min_value=1, max_value=MAX_REPLAY_DAYS, default=30)

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
        return Response(replay(serializer.proposed_rules(), days=serializer.validated_data["days"]))


class AdequacyWhatIfView(APIView):
    """If an adequacy decision fell on a date, which datasets, runs and grants would be affected?"""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "country",
                {"type": "string", "pattern": "^[A-Z]{2}$"},
                required=True,
                description="ISO 3166-1 alpha-2",
            ),
            OpenApiParameter(
                "decided_by",
                {"type": "string", "minLength": 1},
                description="Jurisdiction that decided (default eu)",
            ),
            OpenApiParameter("falls_on", OpenApiTypes.DATE, description="Default: tomorrow"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        params = WhatIfParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(adequacy_what_if(**params.validated_data))


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
