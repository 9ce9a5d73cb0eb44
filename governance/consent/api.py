"""The consent notices API: everyone with a role reads them, privacy officers publish versions."""

from __future__ import annotations

from rest_framework import mixins, permissions, serializers, viewsets

from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, Jurisdiction
from catalog.permissions import ActsWithPermission
from governance.api import CanUseGovernance
from governance.consent.services import consent_notice_publish
from governance.models import ConsentNotice, Purpose


class ConsentNoticeSerializer(serializers.ModelSerializer):
    jurisdiction = serializers.SlugRelatedField(
        slug_field="code", queryset=Jurisdiction.objects.all()
    )
    datasets = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Dataset.objects.all(), allow_empty=False
    )
    purposes = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Purpose.objects.all(), allow_empty=False
    )
    published_at = serializers.DateTimeField(required=False)

    class Meta:
        model = ConsentNotice
        fields = [
            "id",
            "code",
            "version",
            "title",
            "jurisdiction",
            "datasets",
            "purposes",
            "published_at",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list = []  # a published version is a 409 from the service, not a 400

    def create(self, validated_data):
        return consent_notice_publish(actor=self.context["request"].user, **validated_data)


class ConsentNoticeViewSet(
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Consent notices by version: the datasets each asks consent for and the purposes it covers."""

    serializer_class = ConsentNoticeSerializer
    queryset = ConsentNotice.objects.select_related("jurisdiction").prefetch_related(
        "datasets", "purposes"
    )
    permission_classes = [permissions.IsAuthenticated, CanUseGovernance, ActsWithPermission]
    action_permissions = {"create": "governance.add_consentnotice"}
    filterset_fields = ["code", "jurisdiction"]
    ordering_fields = ["id", "code", "version"]
