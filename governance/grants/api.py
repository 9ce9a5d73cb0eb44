"""The transfer grants API: list, create, revoke (immediate)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.conditional import ConditionalMixin
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, Region
from catalog.permissions import ActsWithPermission
from governance.api import CanUseGovernance
from governance.grants.selectors import grants_at
from governance.grants.services import grant_create, grant_revoke
from governance.identity.second_factor import SecondFactorFresh
from governance.models import (
    Purpose,
    TransferGrant,
    TransferMechanism,
)


class TransferGrantSerializer(serializers.ModelSerializer):
    datasets = serializers.SlugRelatedField(
        slug_field="slug",
        many=True,
        queryset=Dataset.objects.all(),
        allow_empty=False,
        error_messages={"empty": "Name at least one dataset"},
    )
    destination_regions = serializers.SlugRelatedField(
        slug_field="code",
        many=True,
        queryset=Region.objects.all(),
        allow_empty=False,
        error_messages={"empty": "Name at least one destination region"},
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
        return grant_create(actor=self.context["request"].user, **validated_data)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TransferGrantViewSet(
    ConditionalMixin, IdempotentCreateMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Transfer grants: what the engine honours, from when to when. Revocation is immediate."""

    serializer_class = TransferGrantSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        CanUseGovernance,
        ActsWithPermission,
        SecondFactorFresh,
    ]
    action_permissions = {
        "create": "governance.add_transfergrant",
        "revoke": "governance.change_transfergrant",
    }
    second_factor_actions = {"revoke"}

    def get_queryset(self) -> QuerySet[TransferGrant]:
        return grants_at(timezone.now()).order_by("-id")

    filterset_fields = ["mechanism", "purpose"]
    ordering_fields = ["id", "valid_from", "valid_until", "mechanism"]

    @extend_schema(request=RevokeSerializer, responses=TransferGrantSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """End the grant now, with a reason."""
        grant = self.get_object()
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant = grant_revoke(actor=request.user, grant=grant, reason=body.validated_data["reason"])
        return Response(self.get_serializer(grant).data)
