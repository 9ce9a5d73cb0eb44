"""The form that starts a breach drill."""

from __future__ import annotations

from django import forms

from catalog.models import Dataset, Region


class DrillForm(forms.Form):
    scenario = forms.CharField(
        max_length=300,
        help_text="What the drill rehearses, e.g. “a nightly export sent customer data to the US”",
        error_messages={"required": "Say what the drill rehearses"},
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.order_by("name"),
        to_field_name="slug",
        error_messages={"required": "Choose the dataset", "invalid_choice": "Unknown dataset"},
    )
    destination_region = forms.ModelChoiceField(
        queryset=Region.objects.order_by("code"),
        to_field_name="code",
        help_text="Where the synthetic transfer goes: a region its rules or the law forbid",
        error_messages={"required": "Choose the region", "invalid_choice": "Unknown region"},
    )
