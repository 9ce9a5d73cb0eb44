"""Forms of the grant pages: a grant as a privacy officer records it, a revocation, the tabs."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from governance.forms import DatasetListField, RegionChoiceField, datetime_input
from governance.models import (
    Purpose,
    TransferMechanism,
)


class TransferGrantForm(forms.Form):
    """A transfer grant as a privacy officer records it; grant_create decides."""

    datasets = DatasetListField(help_text="Slugs, separated by commas, spaces or new lines")
    destination_regions = RegionChoiceField(label="Destination regions")
    purpose = forms.ModelChoiceField(
        queryset=Purpose.objects.order_by("name"), required=False, empty_label="Any purpose"
    )
    mechanism = forms.ChoiceField(choices=TransferMechanism.choices)
    mechanism_detail = forms.CharField(
        max_length=200, required=False, help_text="e.g. SCC module 2, or which Art. 49 derogation"
    )
    valid_from = forms.DateTimeField(widget=datetime_input(), help_text="UTC")
    valid_until = forms.DateTimeField(widget=datetime_input(), help_text="UTC")
    reference = forms.CharField(
        max_length=100, required=False, help_text="The exception request it comes from"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        now = timezone.now().replace(second=0, microsecond=0)
        self.fields["valid_from"].initial = now
        self.fields["valid_until"].initial = now + dt.timedelta(days=90)

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)


class RevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the grant and shown to everyone who reads it",
    )


GRANT_STATUSES = [
    ("active", "Active"),
    ("upcoming", "Upcoming"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
    ("all", "All"),
]


class GrantStatusForm(forms.Form):
    status = forms.ChoiceField(choices=GRANT_STATUSES, required=False)

    def chosen(self) -> str:
        return self.cleaned_data.get("status") or "active"
