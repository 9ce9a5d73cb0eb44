"""Form fields and widgets the governance pages share (and the workflows' pages reuse).

Forms clean what people type; the services make the final checks, and their ValidationError
lands on the form through catalog.forms.add_service_error.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from catalog.fields import LIST_TEXT
from catalog.models import Dataset, Region

MAX_GRANT_DATASETS = 1000
DATETIME_INPUT = {"type": "datetime-local"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
ANY = ("", "Any")


def region_label(region: Region) -> str:
    return f"{region.code} ({region.country.name})"


def regions_menu_queryset():
    return Region.objects.select_related("country").order_by("code")


def region_menu() -> list[tuple[str, str]]:
    return [(r.code, region_label(r)) for r in regions_menu_queryset()]


def datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs=DATETIME_INPUT, format=DATETIME_FORMAT)


class RegionChoiceField(forms.ModelMultipleChoiceField):
    """Regions by code, as a list of checkboxes."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        super().__init__(queryset=regions_menu_queryset(), to_field_name="code", **kwargs)

    def label_from_instance(self, obj: Region) -> str:
        return region_label(obj)


class DatasetListField(forms.CharField):
    """Dataset slugs separated by commas, spaces or new lines → the datasets, in that order."""

    def __init__(self, *args, max_length: int = LIST_TEXT, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "customer-profiles-aws-eu-west-1"})

    def clean(self, value) -> list[Dataset]:
        text = super().clean(value)
        slugs = list(dict.fromkeys(part for part in re.split(r"[\s,]+", text or "") if part))
        if not slugs:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        if len(slugs) > MAX_GRANT_DATASETS:
            raise ValidationError(f"At most {MAX_GRANT_DATASETS} datasets, got {len(slugs)}")
        found = {ds.slug: ds for ds in Dataset.objects.filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise ValidationError(f"No dataset has the slug: {shown}")
        return [found[slug] for slug in slugs]
