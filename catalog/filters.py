"""Filters for dataset lists, shared by the API and the catalog page."""

import django_filters

from catalog.filtering import StrictFilterSet
from catalog.models import Dataset, Jurisdiction, Sensitivity
from catalog.selectors import dataset_search


class DatasetFilter(StrictFilterSet):
    """Filter by where a dataset lives and under which law, how sensitive, who owns it, what it holds."""

    q = django_filters.CharFilter(method="search", label="Search")
    jurisdiction = django_filters.CharFilter(
        method="filter_jurisdiction", label="Jurisdiction (storage or data subjects)"
    )
    region = django_filters.CharFilter(field_name="storage_region__code", label="Storage region")
    country = django_filters.CharFilter(
        field_name="storage_region__country__code", lookup_expr="iexact", label="Country"
    )
    sensitivity = django_filters.MultipleChoiceFilter(choices=Sensitivity.choices)
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")
    category = django_filters.CharFilter(
        field_name="personal_data_categories__code", label="Personal-data category", distinct=True
    )
    tag = django_filters.CharFilter(field_name="tags__name", label="Tag", distinct=True)

    class Meta:
        model = Dataset
        fields = [
            "q",
            "jurisdiction",
            "region",
            "country",
            "sensitivity",
            "owner",
            "category",
            "tag",
        ]

    def search(self, queryset, name, value):
        return dataset_search(queryset, value)

    def filter_jurisdiction(self, queryset, name, value):
        if not Jurisdiction.objects.filter(code=value).exists():
            return queryset.none()
        ids = Dataset.objects.filter(subject_jurisdictions__code=value).values("id")
        return queryset.filter(jurisdiction_id=value) | queryset.filter(id__in=ids)
