"""The catalog API: jurisdictions, regions, datasets, lineage, history, the data map."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from catalog import selectors, services
from catalog.conditional import ConditionalMixin
from catalog.filters import DatasetFilter
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import (
    AdequacyDecision,
    Country,
    Dataset,
    DatasetChange,
    Jurisdiction,
    LineageEdge,
    PersonalDataCategory,
    Region,
    Sensitivity,
)
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from catalog.techniques import TechniquesField

User = get_user_model()


class CanViewCatalog(permissions.BasePermission):
    """Any Locus role may read the catalog; a signed-in user with no role may not."""

    message = "Your account has no Locus role that may read the catalog."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("catalog.view_dataset"))


class CountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = ["code", "iso3", "name", "latitude", "longitude", "in_eea"]


class AdequacyDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdequacyDecision
        fields = [
            "decided_by",
            "country",
            "scope",
            "scope_description",
            "instrument",
            "effective_from",
            "effective_until",
            "citation",
        ]


class JurisdictionSerializer(serializers.ModelSerializer):
    countries: serializers.SlugRelatedField[Country] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )

    class Meta:
        model = Jurisdiction
        fields = [
            "code",
            "name",
            "regime",
            "countries",
            "dsr_deadline_amount",
            "dsr_deadline_unit",
            "dsr_extension_amount",
            "dsr_extension_unit",
            "dsr_acknowledge_business_days",
            "dsr_citation",
            "transfer_rules",
            "transfer_citation",
            "notes",
        ]


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "provider", "name", "city", "country", "jurisdiction"]


class PersonalDataCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonalDataCategory
        fields = ["code", "name", "special", "description"]


class DatasetSerializer(serializers.ModelSerializer):
    """A dataset's catalog entry; related things are named by their codes."""

    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False
    )
    steward = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="The person who keeps the entry true day to day: their username",
    )
    storage_region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    jurisdiction = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Jurisdiction.objects.all(),
        required=False,
        help_text="The law it is stored under; defaults to the storage region's jurisdiction",
    )
    country = serializers.CharField(source="storage_region.country_id", read_only=True)
    personal_data_categories = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=PersonalDataCategory.objects.all(), required=False
    )
    subject_jurisdictions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Jurisdiction.objects.all(), required=False
    )
    allowed_processing_regions = serializers.SlugRelatedField(
        slug_field="code", many=True, queryset=Region.objects.all(), required=False
    )
    tags = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, source="tag_names"
    )
    retention_days = serializers.IntegerField(min_value=1, max_value=365 * 200)

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "name",
            "description",
            "uri",
            "owner",
            "steward",
            "storage_region",
            "country",
            "jurisdiction",
            "sensitivity",
            "personal_data_categories",
            "subject_jurisdictions",
            "lawful_basis",
            "retention_days",
            "allowed_processing_regions",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def to_representation(self, instance):
        instance.tag_names = [t.name for t in instance.tags.all()]
        return super().to_representation(instance)

    def _fields_for_service(self) -> dict:
        data = dict(self.validated_data)
        if "tag_names" in data:
            data["tags"] = data.pop("tag_names")
        return data

    def create(self, validated_data):
        return services.dataset_create(
            actor=self.context["request"].user, **self._fields_for_service()
        )

    def update(self, instance, validated_data):
        return services.dataset_update(
            actor=self.context["request"].user, dataset=instance, **self._fields_for_service()
        )


class DatasetChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetChange
        fields = [
            "version",
            "action",
            "actor_name",
            "at",
            "changed_fields",
            "before",
            "after",
        ]


class LineageEdgeSerializer(serializers.ModelSerializer):
    upstream = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())
    downstream = serializers.SlugRelatedField(slug_field="slug", queryset=Dataset.objects.all())
    techniques = TechniquesField(
        help_text="How the downstream dataset was produced (synthetic, anonymisation, "
        "pseudonymisation, differential_privacy with epsilon and delta); it keeps its own facts"
    )

    class Meta:
        model = LineageEdge
        fields = ["id", "upstream", "downstream", "transformation", "techniques", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []  # the service names the reason (duplicate, self-loop, cycle)

    def create(self, validated_data):
        return services.lineage_edge_create(actor=self.context["request"].user, **validated_data)


class ReferenceViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.IsAuthenticated, CanViewCatalog]


class CountryViewSet(ReferenceViewSet):
    """Countries and territories (ISO 3166-1)."""

    queryset = Country.objects.all()
    serializer_class = CountrySerializer
    filterset_fields = ["in_eea"]
    ordering_fields = ["code", "name", "iso3"]


class JurisdictionViewSet(ReferenceViewSet):
    """Bodies of data-protection law, with their subject-request clocks and transfer rules."""

    queryset = Jurisdiction.objects.prefetch_related("countries")
    serializer_class = JurisdictionSerializer
    filterset_fields = ["regime"]
    ordering_fields = ["code", "name", "regime"]


class AdequacyDecisionViewSet(ReferenceViewSet):
    """Adequacy decisions with their scope and the dates they are in force."""

    queryset = AdequacyDecision.objects.all()
    serializer_class = AdequacyDecisionSerializer
    filterset_fields = ["decided_by", "country", "scope"]
    ordering_fields = ["country", "decided_by", "effective_from", "effective_until"]


class RegionViewSet(ReferenceViewSet):
    """Cloud regions and on-premises sites, each in a country and a jurisdiction."""

    queryset = Region.objects.all()
    serializer_class = RegionSerializer
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    filterset_fields = ["provider", "country", "jurisdiction"]
    ordering_fields = ["code", "provider", "name", "country", "jurisdiction"]


class PersonalDataCategoryViewSet(ReferenceViewSet):
    """The personal-data taxonomy."""

    queryset = PersonalDataCategory.objects.all()
    serializer_class = PersonalDataCategorySerializer
    ordering_fields = ["code", "name"]


class DatasetViewSet(ConditionalMixin, IdempotentCreateMixin, viewsets.ModelViewSet):
    """The data catalog. Any role reads; owners and privacy officers write."""

    serializer_class = DatasetSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewCatalog, ActsWithPermission]
    action_permissions = {"create": "catalog.add_dataset"}
    object_checks = {"update": services.can_change_dataset}
    filterset_class = DatasetFilter
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "sensitivity", "created_at", "updated_at"]
    ordering_tiebreaker = "pk"  # the suggestions' is their slug

    def get_queryset(self):
        return selectors.dataset_queryset().order_by("name", "id")

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="What was typed (2 characters or more)")
        ],
        responses=inline_serializer(
            "DatasetSuggestion",
            {"slug": serializers.CharField(), "name": serializers.CharField()},
            many=True,
        ),
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["slug", "name"],
        ordering_tiebreaker="slug",
    )
    def suggest(self, request):
        """Datasets whose slug or name matches what is being typed, for a field to offer: one
        page of at most 10, best matches first."""
        return paged(self, selectors.dataset_suggestions(request.query_params.get("q", "")))

    def perform_destroy(self, instance):
        services.dataset_delete(actor=self.request.user, dataset=instance)

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"]),
            OpenApiParameter("depth", int, description="Levels to follow (1-10, default 3)"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def lineage(self, request, slug=None):
        """The upstream/downstream lineage graph of a dataset."""
        dataset = self.get_object()
        direction = request.query_params.get("direction", "both")
        if direction not in ("upstream", "downstream", "both"):
            return Response(
                {"direction": ["Must be upstream, downstream or both"]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            depth = int(request.query_params.get("depth", 3))
        except ValueError:
            return Response(
                {"depth": ["Must be a whole number"]}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(selectors.lineage_graph(dataset, direction=direction, depth=depth))

    @extend_schema(responses=DatasetChangeSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["version", "at"],
    )
    def history(self, request, slug=None):
        """Every version of the dataset's entry: who, when, before and after."""
        dataset = self.get_object()
        return paged(
            self,
            selectors.dataset_history(dataset.slug),
            lambda page: DatasetChangeSerializer(page, many=True).data,
        )


class LineageEdgeViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Lineage edges between datasets (with the transformation)."""

    serializer_class = LineageEdgeSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewCatalog, ActsWithPermission]
    # Owners add lineage to their own datasets (the service checks which), officers to any.
    action_permissions = {"create": ("catalog.add_lineageedge", "catalog.add_dataset")}
    queryset = LineageEdge.objects.select_related("upstream", "downstream").order_by("id")
    filterset_fields = {"upstream__slug": ["exact"], "downstream__slug": ["exact"]}
    ordering_fields = ["id", "created_at"]

    def perform_destroy(self, instance):
        services.lineage_edge_delete(actor=self.request.user, edge=instance)


class DataMapView(GenericAPIView):
    """Where the datasets live: per country, how many at each sensitivity."""

    permission_classes = [permissions.IsAuthenticated, CanViewCatalog]
    filter_backends = [LocusOrdering]  # the dataset filters are read below, before the sums
    ordering_fields = ["country", "name", "total"]
    ordering_tiebreaker = "country"
    blank_means_absent = tuple(DatasetFilter.Meta.fields)  # a StrictFilterSet's: no filter

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, description=f"As for the dataset list: {name}")
            for name in DatasetFilter.Meta.fields
            if name != "sensitivity"
        ]
        + [
            OpenApiParameter(
                "sensitivity",
                {"type": "array", "items": {"type": "string", "enum": Sensitivity.values}},
                explode=True,
                description="As for the dataset list: sensitivity (repeatable)",
            )
        ],
        responses=inline_serializer(
            "DataMapCountry",
            fields={
                "country": serializers.CharField(),
                "iso3": serializers.CharField(),
                "name": serializers.CharField(),
                "latitude": serializers.FloatField(),
                "longitude": serializers.FloatField(),
                "total": serializers.IntegerField(),
                "by_sensitivity": serializers.DictField(child=serializers.IntegerField()),
                "highest_sensitivity": serializers.CharField(),
            },
            many=True,
        ),
    )
    def get(self, request):
        filterset = DatasetFilter(request.query_params, queryset=Dataset.objects.all())
        if not filterset.is_valid():
            return Response(filterset.errors, status=status.HTTP_400_BAD_REQUEST)
        return paged(self, selectors.data_map(filterset.qs))


def dataset_or_404(slug: str) -> Dataset:
    return get_object_or_404(selectors.dataset_queryset(), slug=slug)
